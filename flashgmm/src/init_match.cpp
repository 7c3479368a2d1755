// Pairing user-supplied precisions with the components of a computed initialisation.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "init.hpp"

namespace flashgmm::init {

namespace {

// log det of the matrix whose Cholesky-type factor (or square-rooted diagonal) is stored in
// m.precisions_cholesky for component k: Σ⁻¹ for our models.
double log_det_precision(const Model& m, int k) {
  const int D = m.dim;
  switch (m.covariance_type) {
    case CovarianceType::spherical: return 2.0 * D * std::log(m.precisions_cholesky[k]);
    case CovarianceType::diag: {
      double s = 0;
      for (int j = 0; j < D; ++j) s += std::log(m.precisions_cholesky[(size_t)k * D + j]);
      return 2.0 * s;
    }
    default: {
      const double* l = m.precisions_cholesky.data() + (size_t)k * D * D;
      double s = 0;
      for (int j = 0; j < D; ++j) s += std::log(std::fabs(l[(size_t)j * D + j]));
      return 2.0 * s;
    }
  }
}

// tr(P_j Σ_k) for the given precisions P (flat, the user's layout) and the model's Σ.
double trace_product(const Model& m, const std::vector<double>& prec, int j, int k) {
  const int D = m.dim;
  switch (m.covariance_type) {
    case CovarianceType::spherical: return D * prec[j] * m.covariances[k];
    case CovarianceType::diag: {
      double s = 0;
      for (int i = 0; i < D; ++i) s += prec[(size_t)j * D + i] * m.covariances[(size_t)k * D + i];
      return s;
    }
    default: {
      const size_t dd = (size_t)D * D;
      double s = 0;
      for (size_t i = 0; i < dd; ++i) s += prec[j * dd + i] * m.covariances[k * dd + i];  // both symmetric
      return s;
    }
  }
}

}  // namespace

std::vector<int> match_precisions(const Model& m, const std::vector<double>& precisions) {
  const int K = m.n_components, D = m.dim;
  std::vector<int> slot(K);
  std::iota(slot.begin(), slot.end(), 0);
  if (K < 2 || m.covariance_type == CovarianceType::tied) return slot;  // nothing to pair
  Model given = m;
  given.set_precisions(precisions);  // also checks them (positive definite)
  // Cost of giving the user's precision j to init component k: the KL divergence between the
  // zero-mean Gaussians N(0, Σ_k) and N(0, P_j⁻¹), i.e. tr(P_j Σ_k) − log det(P_j Σ_k) − D.
  std::vector<std::pair<double, std::pair<int, int>>> pairs;
  pairs.reserve((size_t)K * K);
  std::vector<double> ld_given(K), ld_init(K);
  for (int k = 0; k < K; ++k) {
    ld_given[k] = log_det_precision(given, k);
    ld_init[k] = log_det_precision(m, k);
  }
  for (int j = 0; j < K; ++j)
    for (int k = 0; k < K; ++k)
      pairs.push_back({trace_product(m, precisions, j, k) - ld_given[j] + ld_init[k] - D, {j, k}});
  // Greedy matching, cheapest pairs first (exact for K = 2; the pairing only has to beat
  // the arbitrary order k-means leaves its clusters in).
  std::stable_sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<char> used(K, 0), filled(K, 0);
  int left = K;
  for (const auto& pr : pairs) {
    const int j = pr.second.first, k = pr.second.second;
    if (used[j] || filled[k]) continue;
    slot[k] = j;
    used[j] = filled[k] = 1;
    if (--left == 0) break;
  }
  return slot;
}

}  // namespace flashgmm::init
