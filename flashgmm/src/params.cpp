// Parameter names, parsing and validation.
#include "flashgmm/params.hpp"

#include <cmath>

#include "flashgmm/error.hpp"
#include "flashgmm/model.hpp"

namespace flashgmm {

std::string to_string(CovarianceType t) {
  switch (t) {
    case CovarianceType::spherical: return "spherical";
    case CovarianceType::diag: return "diag";
    case CovarianceType::full: return "full";
    case CovarianceType::tied: return "tied";
  }
  return "?";
}

std::string to_string(InitMethod m) {
  switch (m) {
    case InitMethod::kmeans: return "kmeans";
    case InitMethod::kmeans_plusplus: return "k-means++";
    case InitMethod::random_from_data: return "random_from_data";
    case InitMethod::random: return "random";
  }
  return "?";
}

std::string to_string(BackendKind b) {
  switch (b) {
    case BackendKind::cpu: return "cpu";
    case BackendKind::cuda: return "cuda";
    case BackendKind::automatic: return "auto";
  }
  return "?";
}

std::string to_string(Precision p) { return p == Precision::fast ? "fast" : "precise"; }

CovarianceType parse_covariance_type(const std::string& s) {
  if (s == "spherical") return CovarianceType::spherical;
  if (s == "diag") return CovarianceType::diag;
  if (s == "full") return CovarianceType::full;
  if (s == "tied") return CovarianceType::tied;
  FLASHGMM_THROW("invalid covariance_type '" << s << "': expected 'spherical', 'diag', 'full' or 'tied'");
}

InitMethod parse_init_method(const std::string& s) {
  if (s == "kmeans") return InitMethod::kmeans;
  if (s == "k-means++" || s == "kmeans++") return InitMethod::kmeans_plusplus;
  if (s == "random_from_data") return InitMethod::random_from_data;
  if (s == "random") return InitMethod::random;
  FLASHGMM_THROW("invalid init method '" << s
                 << "': expected 'kmeans', 'k-means++', 'random_from_data' or 'random'");
}

BackendKind parse_backend(const std::string& s) {
  if (s == "cpu") return BackendKind::cpu;
  if (s == "cuda" || s == "gpu") return BackendKind::cuda;
  if (s == "auto") return BackendKind::automatic;
  FLASHGMM_THROW("invalid device '" << s << "': expected 'cpu', 'cuda' or 'auto'");
}

Precision parse_precision(const std::string& s) {
  if (s == "fast") return Precision::fast;
  if (s == "precise") return Precision::precise;
  FLASHGMM_THROW("invalid precision '" << s << "': expected 'fast' or 'precise'");
}

namespace {
void check_init_array(const std::vector<double>& v, std::size_t expected, const char* name,
                      const char* shape) {
  if (v.empty()) return;
  FLASHGMM_CHECK(v.size() == expected, name << " has " << v.size() << " values, expected "
                                            << expected << " (" << shape << ")");
  for (std::size_t i = 0; i < v.size(); ++i)
    FLASHGMM_CHECK(std::isfinite(v[i]), name << " contains a non-finite value at index " << i);
}
}  // namespace

void Params::validate(int d) const {
  FLASHGMM_CHECK(n_components >= 1, "n_components must be >= 1, got " << n_components);
  // 0 asks for the initialisation only (scikit-learn's convention).
  FLASHGMM_CHECK(max_iter >= 0, "max_iter must be >= 0, got " << max_iter);
  FLASHGMM_CHECK(std::isfinite(tol) && tol >= 0, "tol must be a finite value >= 0, got " << tol);
  FLASHGMM_CHECK(std::isfinite(reg_covar) && reg_covar >= 0,
                 "reg_covar must be a finite value >= 0, got " << reg_covar);
  FLASHGMM_CHECK(n_init >= 1, "n_init must be >= 1, got " << n_init);
  FLASHGMM_CHECK(verbose_interval >= 1, "verbose_interval must be >= 1, got " << verbose_interval);
  FLASHGMM_CHECK(init_sample_size >= 0, "init_sample_size must be >= 0, got " << init_sample_size);
  FLASHGMM_CHECK(init_kmeans_iter >= 0, "init_kmeans_iter must be >= 0, got " << init_kmeans_iter);
  FLASHGMM_CHECK(init_kmeans_runs >= 0, "init_kmeans_runs must be >= 0, got " << init_kmeans_runs);
  FLASHGMM_CHECK(std::isfinite(min_component_count) && min_component_count >= 0,
                 "min_component_count must be a finite value >= 0, got " << min_component_count);
  FLASHGMM_CHECK(gpu_memory_budget >= 0, "gpu_memory_budget must be >= 0, got " << gpu_memory_budget);
  FLASHGMM_CHECK(n_threads >= 0, "n_threads must be >= 0, got " << n_threads);
  FLASHGMM_CHECK(tile_rows >= 0, "tile_rows must be >= 0, got " << tile_rows);
  FLASHGMM_CHECK(chunk_rows >= 0, "chunk_rows must be >= 0, got " << chunk_rows);
  const std::size_t k = static_cast<std::size_t>(n_components);
  check_init_array(weights_init, k, "weights_init", "n_components");
  if (!weights_init.empty()) {
    double sum = 0;
    for (double w : weights_init) {
      FLASHGMM_CHECK(w >= 0, "weights_init must be >= 0, got " << w);
      sum += w;
    }
    FLASHGMM_CHECK(std::fabs(sum - 1.0) < 1e-6,
                   "weights_init must sum to 1, got a sum of " << sum);
  }
  if (d > 0) {
    check_init_array(means_init, k * d, "means_init", "n_components x n_features");
    const char* pshape = covariance_type == CovarianceType::spherical ? "n_components"
                         : covariance_type == CovarianceType::diag    ? "n_components x n_features"
                         : covariance_type == CovarianceType::full
                             ? "n_components x n_features x n_features"
                             : "n_features x n_features";
    check_init_array(precisions_init, covariance_size(covariance_type, n_components, d),
                     "precisions_init", pshape);
  }
}

}  // namespace flashgmm
