// Sufficient statistics container.
#include "flashgmm/stats.hpp"

#include <algorithm>

#include "flashgmm/error.hpp"
#include "flashgmm/model.hpp"

namespace flashgmm {

void SuffStats::reset(CovarianceType t, int k, int d) {
  covariance_type = t;
  n_components = k;
  dim = d;
  const std::size_t kk = k, dd = d;
  nk.assign(kk, 0.0);
  sx.assign(kk * dd, 0.0);
  std::size_t n2 = t == CovarianceType::spherical ? kk
                   : t == CovarianceType::diag    ? kk * dd
                   : t == CovarianceType::full    ? kk * dd * dd
                                                  : dd * dd;
  sxx.assign(n2, 0.0);
  log_likelihood = 0;
  weight_sum = 0;
  n_rows = 0;
}

void SuffStats::zero() {
  std::fill(nk.begin(), nk.end(), 0.0);
  std::fill(sx.begin(), sx.end(), 0.0);
  std::fill(sxx.begin(), sxx.end(), 0.0);
  log_likelihood = 0;
  weight_sum = 0;
  n_rows = 0;
}

void SuffStats::merge(const SuffStats& o) {
  FLASHGMM_ASSERT(o.covariance_type == covariance_type && o.n_components == n_components &&
                  o.dim == dim);
  for (std::size_t i = 0; i < nk.size(); ++i) nk[i] += o.nk[i];
  for (std::size_t i = 0; i < sx.size(); ++i) sx[i] += o.sx[i];
  for (std::size_t i = 0; i < sxx.size(); ++i) sxx[i] += o.sxx[i];
  log_likelihood += o.log_likelihood;
  weight_sum += o.weight_sum;
  n_rows += o.n_rows;
}

}  // namespace flashgmm
