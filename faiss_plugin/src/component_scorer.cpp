#include "component_scorer.hpp"

#include <cmath>

#include "flashgmm/error.hpp"

namespace flashgmm::ivf {

namespace {
constexpr double kLog2Pi = 1.8378770664093454836;

// log|det P| for a D×D matrix through Gaussian elimination with partial pivoting (P need not
// be triangular; D is small enough that D³ per component is negligible next to a fit).
double log_abs_det(std::vector<double> a, int d) {
  double s = 0;
  for (int c = 0; c < d; ++c) {
    int piv = c;
    for (int r = c + 1; r < d; ++r)
      if (std::fabs(a[static_cast<size_t>(r) * d + c]) > std::fabs(a[static_cast<size_t>(piv) * d + c])) piv = r;
    const double p = a[static_cast<size_t>(piv) * d + c];
    FLASHGMM_CHECK(p != 0.0 && std::isfinite(p), "ComponentScorer: singular precision factor");
    if (piv != c)
      for (int j = 0; j < d; ++j) std::swap(a[static_cast<size_t>(piv) * d + j], a[static_cast<size_t>(c) * d + j]);
    s += std::log(std::fabs(p));
    for (int r = c + 1; r < d; ++r) {
      const double f = a[static_cast<size_t>(r) * d + c] / p;
      if (f == 0.0) continue;
      for (int j = c; j < d; ++j) a[static_cast<size_t>(r) * d + j] -= f * a[static_cast<size_t>(c) * d + j];
    }
  }
  return s;
}
}  // namespace

ComponentScorer::ComponentScorer(const Model& m)
    : type_(m.covariance_type), k_(m.n_components), d_(m.dim), means_(m.means) {
  FLASHGMM_CHECK(!m.empty(), "ComponentScorer: empty mixture");
  const size_t K = static_cast<size_t>(k_), D = static_cast<size_t>(d_);
  log_norm_.resize(K);
  const std::vector<double>& pc = m.precisions_cholesky;
  FLASHGMM_CHECK(pc.size() == covariance_size(type_, k_, d_), "ComponentScorer: precisions have the wrong size");
  switch (type_) {
    case CovarianceType::spherical:
      prec_.resize(K);
      for (size_t k = 0; k < K; ++k) {
        prec_[k] = pc[k] * pc[k];
        log_norm_[k] = static_cast<double>(D) * std::log(pc[k]);
      }
      break;
    case CovarianceType::diag:
      prec_.resize(K * D);
      for (size_t k = 0; k < K; ++k) {
        double ld = 0;
        for (size_t j = 0; j < D; ++j) {
          prec_[k * D + j] = pc[k * D + j] * pc[k * D + j];
          ld += std::log(pc[k * D + j]);
        }
        log_norm_[k] = ld;
      }
      break;
    case CovarianceType::full:
      prec_ = pc;
      for (size_t k = 0; k < K; ++k)
        log_norm_[k] = log_abs_det(std::vector<double>(pc.begin() + k * D * D, pc.begin() + (k + 1) * D * D), d_);
      break;
    case CovarianceType::tied: {
      prec_ = pc;
      const double ld = log_abs_det(pc, d_);
      for (size_t k = 0; k < K; ++k) log_norm_[k] = ld;
      break;
    }
  }
  for (size_t k = 0; k < K; ++k)
    log_norm_[k] += std::log(m.weights[k]) - 0.5 * static_cast<double>(D) * kLog2Pi;
}

void ComponentScorer::log_likelihoods(const float* x, std::int64_t n, const float* l2, double* out) const {
  const size_t K = static_cast<size_t>(k_), D = static_cast<size_t>(d_);
#pragma omp parallel for schedule(static) if (n > 16)
  for (std::int64_t i = 0; i < n; ++i) {
    const float* xi = x + static_cast<size_t>(i) * D;
    double* oi = out + static_cast<size_t>(i) * K;
    std::vector<double> y(D), z(D);
    for (size_t k = 0; k < K; ++k) {
      const double* mu = means_.data() + k * D;
      double maha = 0;
      switch (type_) {
        case CovarianceType::spherical: {
          double dist;
          if (l2) {
            dist = l2[static_cast<size_t>(i) * K + k];
          } else {
            dist = 0;
            for (size_t j = 0; j < D; ++j) {
              const double t = xi[j] - mu[j];
              dist += t * t;
            }
          }
          maha = prec_[k] * dist;
          break;
        }
        case CovarianceType::diag: {
          const double* p = prec_.data() + k * D;
          for (size_t j = 0; j < D; ++j) {
            const double t = xi[j] - mu[j];
            maha += p[j] * t * t;
          }
          break;
        }
        case CovarianceType::full:
        case CovarianceType::tied: {
          const double* P = prec_.data() + (type_ == CovarianceType::full ? k * D * D : 0);
          for (size_t j = 0; j < D; ++j) y[j] = xi[j] - mu[j];
          std::fill(z.begin(), z.end(), 0.0);
          for (size_t r = 0; r < D; ++r) {  // z = yᵀ·P (row-major P)
            const double yr = y[r];
            const double* Pr = P + r * D;
            for (size_t c = 0; c < D; ++c) z[c] += yr * Pr[c];
          }
          for (size_t c = 0; c < D; ++c) maha += z[c] * z[c];
          break;
        }
      }
      oi[k] = log_norm_[k] - 0.5 * maha;
    }
  }
}

}  // namespace flashgmm::ivf
