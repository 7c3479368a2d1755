// Model invariants and the covariance ↔ precision conversions.
#include "flashgmm/model.hpp"

#include <cmath>

#include "flashgmm/error.hpp"
#include "linalg.hpp"

namespace flashgmm {

std::size_t covariance_size(CovarianceType t, int k, int d) {
  const std::size_t kk = k, dd = d;
  switch (t) {
    case CovarianceType::spherical: return kk;
    case CovarianceType::diag: return kk * dd;
    case CovarianceType::full: return kk * dd * dd;
    case CovarianceType::tied: return dd * dd;
  }
  return 0;
}

namespace {
// Number of D×D blocks (full: K, tied: 1).
int n_blocks(CovarianceType t, int k) { return t == CovarianceType::full ? k : 1; }
}  // namespace

void Model::update_precisions_cholesky() {
  const std::size_t n = covariance_size(covariance_type, n_components, dim);
  FLASHGMM_ASSERT(covariances.size() == n);
  precisions_cholesky.resize(n);
  if (covariance_type == CovarianceType::spherical || covariance_type == CovarianceType::diag) {
    for (std::size_t i = 0; i < n; ++i) {
      FLASHGMM_CHECK(covariances[i] > 0 && std::isfinite(covariances[i]),
                     "ill-defined covariance: variance " << covariances[i] << " of component "
                         << (covariance_type == CovarianceType::diag ? i / dim : i)
                         << " is not positive; increase reg_covar");
      precisions_cholesky[i] = 1.0 / std::sqrt(covariances[i]);
    }
    return;
  }
  const std::size_t dd = (std::size_t)dim * dim;
  for (int b = 0; b < n_blocks(covariance_type, n_components); ++b)
    FLASHGMM_CHECK(linalg::precision_cholesky_from_covariance(covariances.data() + b * dd, dim,
                                                              precisions_cholesky.data() + b * dd),
                   "ill-defined covariance: the covariance matrix of "
                       << (covariance_type == CovarianceType::tied ? std::string("the tied model")
                                                                    : "component " + std::to_string(b))
                       << " is not positive definite; increase reg_covar");
}

void Model::set_precisions(const std::vector<double>& prec) {
  const std::size_t n = covariance_size(covariance_type, n_components, dim);
  FLASHGMM_CHECK(prec.size() == n, "precisions have " << prec.size() << " values, expected " << n);
  covariances.resize(n);
  if (covariance_type == CovarianceType::spherical || covariance_type == CovarianceType::diag) {
    for (std::size_t i = 0; i < n; ++i) {
      FLASHGMM_CHECK(prec[i] > 0 && std::isfinite(prec[i]),
                     "precisions must be positive and finite, got " << prec[i] << " at index " << i);
      covariances[i] = 1.0 / prec[i];
    }
  } else {
    const std::size_t dd = (std::size_t)dim * dim;
    for (int b = 0; b < n_blocks(covariance_type, n_components); ++b)
      FLASHGMM_CHECK(linalg::inverse_spd(prec.data() + b * dd, dim, covariances.data() + b * dd),
                     "precision matrix " << b << " is not symmetric positive definite");
  }
  update_precisions_cholesky();
}

std::vector<double> Model::precisions() const {
  const std::size_t n = covariance_size(covariance_type, n_components, dim);
  std::vector<double> out(n);
  if (covariance_type == CovarianceType::spherical || covariance_type == CovarianceType::diag) {
    for (std::size_t i = 0; i < n; ++i) out[i] = precisions_cholesky[i] * precisions_cholesky[i];
    return out;
  }
  const std::size_t dd = (std::size_t)dim * dim;
  for (int b = 0; b < n_blocks(covariance_type, n_components); ++b) {
    const double* p = precisions_cholesky.data() + b * dd;
    double* o = out.data() + b * dd;
    for (int i = 0; i < dim; ++i)
      for (int j = 0; j < dim; ++j) {
        double s = 0;
        for (int k = 0; k < dim; ++k) s += p[(size_t)i * dim + k] * p[(size_t)j * dim + k];
        o[(size_t)i * dim + j] = s;
      }
  }
  return out;
}

std::int64_t Model::n_parameters() const {
  const std::int64_t k = n_components, d = dim;
  std::int64_t cov = 0;
  switch (covariance_type) {
    case CovarianceType::spherical: cov = k; break;
    case CovarianceType::diag: cov = k * d; break;
    case CovarianceType::full: cov = k * d * (d + 1) / 2; break;
    case CovarianceType::tied: cov = d * (d + 1) / 2; break;
  }
  return cov + k * d + k - 1;
}

void Model::validate() const {
  FLASHGMM_CHECK(n_components >= 1, "model has " << n_components << " components");
  FLASHGMM_CHECK(dim >= 1, "model has dimension " << dim);
  const std::size_t k = n_components, d = dim, nc = covariance_size(covariance_type, n_components, dim);
  FLASHGMM_CHECK(weights.size() == k, "model weights have " << weights.size() << " values, expected " << k);
  FLASHGMM_CHECK(means.size() == k * d, "model means have " << means.size() << " values, expected " << k * d);
  FLASHGMM_CHECK(covariances.size() == nc,
                 "model covariances have " << covariances.size() << " values, expected " << nc);
  FLASHGMM_CHECK(precisions_cholesky.size() == nc, "model precisions_cholesky have "
                                                       << precisions_cholesky.size() << " values, expected " << nc);
  double sum = 0;
  for (std::size_t i = 0; i < k; ++i) {
    FLASHGMM_CHECK(std::isfinite(weights[i]) && weights[i] >= 0,
                   "model weight " << i << " is " << weights[i]);
    sum += weights[i];
  }
  FLASHGMM_CHECK(std::fabs(sum - 1.0) < 1e-6, "model weights sum to " << sum << ", not 1");
  for (std::size_t i = 0; i < means.size(); ++i)
    FLASHGMM_CHECK(std::isfinite(means[i]), "model mean value " << i << " is not finite");
  for (std::size_t i = 0; i < nc; ++i)
    FLASHGMM_CHECK(std::isfinite(covariances[i]) && std::isfinite(precisions_cholesky[i]),
                   "model covariance value " << i << " is not finite");
  Model check = *this;
  check.update_precisions_cholesky();  // throws when a covariance is not positive definite
}

}  // namespace flashgmm
