// The estimator: API-boundary checks, then the EM driver; inference through a cached backend.
#include "flashgmm/gaussian_mixture.hpp"

#include <cmath>
#include <random>

#include "data_checks.hpp"
#include "em_driver.hpp"
#include "em_math.hpp"
#include "flashgmm/error.hpp"
#include "linalg.hpp"

namespace flashgmm {

GaussianMixture::GaussianMixture(Params params) : params_(std::move(params)) {}
GaussianMixture::~GaussianMixture() = default;
GaussianMixture::GaussianMixture(GaussianMixture&&) noexcept = default;
GaussianMixture& GaussianMixture::operator=(GaussianMixture&&) noexcept = default;

void GaussianMixture::set_params(const Params& p) {
  params_ = p;
  infer_backend_.reset();
}

void GaussianMixture::set_model(Model m) {
  m.validate();
  model_ = std::move(m);
  info_ = FitInfo();
  infer_backend_.reset();
}

void GaussianMixture::fit(const float* x, std::int64_t n, int d, const float* sample_weight) {
  FLASHGMM_CHECK(n >= 0 && d >= 0, "invalid data shape (" << n << ", " << d << ")");
  FLASHGMM_CHECK(n > 0 && d > 0, "empty data: got shape (" << n << ", " << d
                                  << "); need at least one row and one feature");
  FLASHGMM_CHECK(x != nullptr, "data pointer is null");
  MatrixSource src(x, n, d);
  fit(src, sample_weight);
}

namespace {
void check_fit_shape(const Params& p, std::int64_t n, int d, const Model& current) {
  FLASHGMM_CHECK(d > 0, "data has 0 features");
  FLASHGMM_CHECK(n > 0, "data has 0 rows");
  p.validate(d);
  FLASHGMM_CHECK(n >= p.n_components, "Expected n_samples >= n_components but got n_components = "
                                          << p.n_components << ", n_samples = " << n);
  if (p.warm_start && !current.empty()) {
    FLASHGMM_CHECK(current.dim == d, "warm_start: the model has " << current.dim
                                        << " features but the data has " << d);
    FLASHGMM_CHECK(current.n_components == p.n_components &&
                       current.covariance_type == p.covariance_type,
                   "warm_start: the model (K=" << current.n_components << ", "
                       << to_string(current.covariance_type) << ") does not match the parameters (K="
                       << p.n_components << ", " << to_string(p.covariance_type) << ")");
  }
}
}  // namespace

void GaussianMixture::fit(const DataSource& data, const float* sample_weight) {
  const std::int64_t n = data.rows();
  const int d = data.dim();
  check_fit_shape(params_, n, d, model_);
  checks::require_finite(data, params_.chunk_rows);
  if (sample_weight) {
    const double s = checks::require_valid_weights(sample_weight, n);
    FLASHGMM_CHECK(s > 0, "sample_weight sums to zero");
  }
  em::FitInput in;
  in.data = &data;
  in.weights = sample_weight;
  in.n_total = n;
  if (info_.n_iter > 0) in.warm_lower_bound = info_.lower_bound;
  infer_backend_.reset();
  Model m = em::run_em(params_, in, &model_, callback_, info_);
  model_ = std::move(m);
}

void GaussianMixture::fit(const DataSource& local, const float* sample_weight, Communicator& comm) {
  const int d = local.dim();
  // Every rank learns every rank's row count (offsets) and dimension, in one reduction.
  const int R = comm.size(), me = comm.rank();
  std::vector<std::int64_t> info(2 * R + 2, 0);
  info[me] = local.rows();
  info[R + me] = d;
  // Weighted or not is decided by the ranks that hold rows: a rank without rows may pass no
  // weights (an empty vector's data() is often null).
  info[2 * R] = (sample_weight && local.rows() > 0) ? 1 : 0;
  info[2 * R + 1] = local.rows() > 0 ? 1 : 0;
  comm.allreduce_sum(info.data(), info.size());
  std::int64_t n_total = 0, offset = 0;
  for (int r = 0; r < R; ++r) {
    if (r == me) offset = n_total;
    n_total += info[r];
    FLASHGMM_CHECK(info[R + r] == d, "ranks disagree on the data dimension: rank "
                                         << r << " has " << info[R + r] << ", rank " << me << " has " << d);
  }
  FLASHGMM_CHECK(info[2 * R] == 0 || info[2 * R] == info[2 * R + 1],
                 "ranks disagree on sample weights: some ranks pass weights and some do not");
  check_fit_shape(params_, n_total, d, model_);
  // Every rank must learn about bad data on any rank (or the others would wait forever in the
  // next collective): each rank's verdict goes through one more reduction.
  std::vector<std::int64_t> verdict(2 * R, 0);  // [first bad row + 1 | bad weight index + 1]
  std::string local_error;
  try {
    checks::require_finite(local, params_.chunk_rows, offset);
  } catch (const Error& e) {
    local_error = e.what();
    verdict[me] = 1;
  }
  if (sample_weight && local_error.empty()) {
    try {
      checks::require_valid_weights(sample_weight, local.rows());
    } catch (const Error& e) {
      local_error = e.what();
      verdict[R + me] = 1;
    }
  }
  comm.allreduce_sum(verdict.data(), verdict.size());
  for (int r = 0; r < 2 * R; ++r)
    FLASHGMM_CHECK(verdict[r] == 0, (local_error.empty() ? "rank " + std::to_string(r % R) + " has invalid "
                                                               + (r < R ? "data (NaN or infinity)" : "sample weights")
                                                         : local_error));
  em::FitInput in;
  in.data = &local;
  in.weights = sample_weight;
  in.row_offset = offset;
  in.n_total = n_total;
  in.comm = &comm;
  if (info_.n_iter > 0) in.warm_lower_bound = info_.lower_bound;
  infer_backend_.reset();
  Model m = em::run_em(params_, in, &model_, callback_, info_);
  model_ = std::move(m);
}

void GaussianMixture::require_fitted(int d) const {
  FLASHGMM_CHECK(fitted(), "this GaussianMixture instance is not fitted yet: call fit() or load a model first");
  if (d > 0)
    FLASHGMM_CHECK(d == model_.dim, "X has " << d << " features, but the model was fitted with "
                                             << model_.dim << " features");
}

Backend& GaussianMixture::inference_backend() const {
  require_fitted(0);
  if (!infer_backend_) {
    infer_backend_ = make_backend(params_, model_.dim);
    infer_backend_->set_params(em::make_component_params(model_, em::robust_center(model_)));
  }
  return *infer_backend_;
}

void GaussianMixture::predict(const float* x, std::int64_t n, std::int32_t* labels) const {
  predict_topk(x, n, 1, labels, nullptr);
}

void GaussianMixture::predict_proba(const float* x, std::int64_t n, float* out) const {
  Backend& b = inference_backend();
  checks::require_finite(x, n, model_.dim);
  RowOutputs r;
  r.proba = out;
  b.estep(x, n, nullptr, nullptr, r);
}

void GaussianMixture::predict_topk(const float* x, std::int64_t n, int m, std::int32_t* ids,
                                   float* probs) const {
  Backend& b = inference_backend();
  FLASHGMM_CHECK(m >= 1 && m <= model_.n_components,
                 "top-m must be between 1 and n_components = " << model_.n_components << ", got " << m);
  checks::require_finite(x, n, model_.dim);
  RowOutputs r;
  r.top_m = m;
  r.top_ids = ids;
  r.top_probs = probs;
  b.estep(x, n, nullptr, nullptr, r);
}

void GaussianMixture::score_samples(const float* x, std::int64_t n, double* out) const {
  Backend& b = inference_backend();
  checks::require_finite(x, n, model_.dim);
  RowOutputs r;
  r.log_z = out;
  b.estep(x, n, nullptr, nullptr, r);
}

double GaussianMixture::score(const float* x, std::int64_t n, const float* w) const {
  FLASHGMM_CHECK(n > 0, "score needs at least one row");
  std::vector<double> lz(n);
  score_samples(x, n, lz.data());
  double s = 0, ws = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double wi = w ? w[i] : 1.0;
    s += wi * lz[i];
    ws += wi;
  }
  FLASHGMM_CHECK(ws > 0, "sample weights sum to zero");
  return s / ws;
}

double GaussianMixture::score(const DataSource& data) const {
  require_fitted(data.dim());
  FLASHGMM_CHECK(data.rows() > 0, "score needs at least one row");
  const std::int64_t n = data.rows();
  const std::int64_t chunk = default_chunk_rows(params_.chunk_rows, data.dim());
  std::vector<float> buf;
  std::vector<double> lz((size_t)std::min(chunk, n));
  double s = 0;
  for (std::int64_t b = 0; b < n; b += chunk) {
    const std::int64_t c = std::min(chunk, n - b);
    const float* x = data.contiguous() ? data.contiguous() + (size_t)b * data.dim() : nullptr;
    if (!x) {
      buf.resize((size_t)c * data.dim());
      data.read(b, c, buf.data());
      x = buf.data();
    }
    try {
      score_samples(x, c, lz.data());
    } catch (const Error& e) {
      checks::require_finite(x, c, data.dim(), b);  // re-throw with the global row number
      throw;
    }
    for (std::int64_t i = 0; i < c; ++i) s += lz[i];
  }
  return s / (double)n;
}

double GaussianMixture::bic(const float* x, std::int64_t n) const {
  return -2.0 * score(x, n) * (double)n + (double)model_.n_parameters() * std::log((double)n);
}

double GaussianMixture::aic(const float* x, std::int64_t n) const {
  return -2.0 * score(x, n) * (double)n + 2.0 * (double)model_.n_parameters();
}

void GaussianMixture::sample(std::int64_t n, float* x, std::int32_t* labels, std::uint64_t seed) const {
  require_fitted(0);
  FLASHGMM_CHECK(n >= 1, "sample: n must be >= 1, got " << n);
  const int K = model_.n_components, D = model_.dim;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  // Counts per component (multinomial by sequential binomials), rows grouped by component.
  std::vector<std::int64_t> counts(K, 0);
  std::int64_t left = n;
  double wleft = 1.0;
  for (int k = 0; k < K && left > 0; ++k) {
    const double pk = k == K - 1 ? 1.0 : std::min(1.0, model_.weights[k] / std::max(wleft, 1e-300));
    counts[k] = std::binomial_distribution<std::int64_t>(left, pk)(rng);
    left -= counts[k];
    wleft -= model_.weights[k];
  }
  std::vector<double> chol, z(D);
  const size_t dd = (size_t)D * D;
  std::int64_t row = 0;
  for (int k = 0; k < K; ++k) {
    if (model_.covariance_type == CovarianceType::full || (model_.covariance_type == CovarianceType::tied && k == 0)) {
      const size_t off = model_.covariance_type == CovarianceType::full ? (size_t)k * dd : 0;
      chol.assign(model_.covariances.begin() + off, model_.covariances.begin() + off + dd);
      FLASHGMM_CHECK(linalg::cholesky_lower(chol.data(), D), "covariance of component " << k << " is not positive definite");
    }
    for (std::int64_t c = 0; c < counts[k]; ++c, ++row) {
      for (int j = 0; j < D; ++j) z[j] = normal(rng);
      float* out = x + (size_t)row * D;
      for (int i = 0; i < D; ++i) {
        double v = model_.means[(size_t)k * D + i];
        switch (model_.covariance_type) {
          case CovarianceType::spherical: v += std::sqrt(model_.covariances[k]) * z[i]; break;
          case CovarianceType::diag: v += std::sqrt(model_.covariances[(size_t)k * D + i]) * z[i]; break;
          default:
            for (int j = 0; j <= i; ++j) v += chol[(size_t)i * D + j] * z[j];
        }
        out[i] = (float)v;
      }
      if (labels) labels[row] = k;
    }
  }
}

GaussianMixture GaussianMixture::load(const std::string& path, Params params) {
  Model m = load_model(path);
  params.n_components = m.n_components;
  params.covariance_type = m.covariance_type;
  GaussianMixture g(params);
  g.set_model(std::move(m));
  return g;
}

}  // namespace flashgmm
