// flashgmm CUDA backend: error estimate of bf16 row features (see fast_precision_guard.hpp).
#include "cuda/fast_precision_guard.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

namespace flashgmm::cuda {

namespace {
std::atomic<bool> guard_enabled{true};
}  // namespace

void set_fast_precision_guard(bool enabled) { guard_enabled = enabled; }

bool fast_products_ok(const ComponentParams& p) {
  return !guard_enabled || fast_logit_error_estimate(p) <= kFastMaxLogitError;
}

double fast_logit_error_estimate(const ComponentParams& p) {
  constexpr double u = 1.0 / 256.0;  // bf16: 8 significant bits, round to nearest
  const int k = p.n_components, d = p.dim;
  const std::size_t dd = std::size_t(d);
  double worst = 0;
  for (int j = 0; j < k; ++j) {
    if (!(p.log_norm[j] > -std::numeric_limits<double>::infinity())) continue;  // weight 0
    const double* mu = p.means.data() + std::size_t(j) * dd;
    double s2 = 0;
    switch (p.covariance_type) {
      case CovarianceType::spherical: {
        const double pk = p.prec[j];
        for (std::size_t t = 0; t < dd; ++t) {
          const double m2 = mu[t] * mu[t];
          s2 += pk * pk * m2 * (m2 + 1.0 / pk);
        }
        s2 *= u * u / 3.0;
        break;
      }
      case CovarianceType::diag: {
        const double* pk = p.prec.data() + std::size_t(j) * dd;
        for (std::size_t t = 0; t < dd; ++t) {
          const double m2 = mu[t] * mu[t], v = 1.0 / pk[t], p2 = pk[t] * pk[t];
          s2 += p2 * m2 * (m2 + v) + 0.25 * p2 * (m2 * m2 + 6.0 * m2 * v + 3.0 * v * v);
        }
        s2 *= u * u / 3.0;
        break;
      }
      case CovarianceType::full:
      case CovarianceType::tied: {
        const bool tied = p.covariance_type == CovarianceType::tied;
        const double* pc = p.prec.data() + (tied ? 0 : std::size_t(j) * dd * dd);
        for (std::size_t t = 0; t < dd; ++t) {
          double row = 0;
          for (std::size_t c = 0; c < dd; ++c) row += pc[t * dd + c] * pc[t * dd + c];
          s2 += mu[t] * mu[t] * row;
        }
        s2 *= 2.0 * u * u / 3.0;
        break;
      }
    }
    if (!std::isfinite(s2)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::sqrt(s2));
  }
  return worst;
}

}  // namespace flashgmm::cuda
