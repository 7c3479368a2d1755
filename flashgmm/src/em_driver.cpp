#include "em_driver.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "em_math.hpp"
#include "flashgmm/error.hpp"

namespace flashgmm::em {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void allreduce(SuffStats& s, Communicator* comm) {
  if (!comm || comm->size() <= 1) return;
  // One message: nk, sx, sxx, log-likelihood, weight sum, rows (as double: exact below 2^53).
  std::vector<double> buf;
  buf.reserve(s.nk.size() + s.sx.size() + s.sxx.size() + 3);
  buf.insert(buf.end(), s.nk.begin(), s.nk.end());
  buf.insert(buf.end(), s.sx.begin(), s.sx.end());
  buf.insert(buf.end(), s.sxx.begin(), s.sxx.end());
  buf.push_back(s.log_likelihood);
  buf.push_back(s.weight_sum);
  buf.push_back((double)s.n_rows);
  comm->allreduce_sum(buf.data(), buf.size());
  size_t o = 0;
  for (double& v : s.nk) v = buf[o++];
  for (double& v : s.sx) v = buf[o++];
  for (double& v : s.sxx) v = buf[o++];
  s.log_likelihood = buf[o++];
  s.weight_sum = buf[o++];
  s.n_rows = (std::int64_t)buf[o++];
}

// The backends accumulate products of float32 rows (x·xᵀ for full covariances, x² for diag):
// with |x| near 1e19 or above they overflow, and the M-step would see infinite covariances and
// report every component "collapsed". Name the real problem instead.
bool stats_finite(const SuffStats& s) {
  for (const auto* v : {&s.nk, &s.sx, &s.sxx})
    for (double x : *v)
      if (!std::isfinite(x)) return false;
  return true;
}

// Re-seeds each collapsed component at the worst-explained sample row not yet used, with the
// weighted average covariance of the healthy components and weight 1/K (then renormalised).
int reseed(Model& m, const std::vector<int>& collapsed, const init::Sample& sample, Backend& backend,
           Communicator* comm) {
  if (collapsed.empty()) return 0;
  const int K = m.n_components, D = m.dim;
  FLASHGMM_CHECK((int)collapsed.size() < K,
                 kIllDefinedCovariance << " (All " << K << " components collapsed: no healthy component is left "
                                          "to re-seed them from; check for constant columns.)");
  std::vector<char> bad(K, 0);
  for (int k : collapsed) bad[k] = 1;
  // Sample log-likelihoods under the healthy components only.
  Model healthy = m;
  double hw = 0;
  for (int k = 0; k < K; ++k) {
    if (bad[k]) healthy.weights[k] = 0;
    hw += healthy.weights[k];
  }
  for (double& w : healthy.weights) w /= hw;
  backend.set_params(make_component_params(healthy, robust_center(healthy)));
  std::vector<double> lz(sample.n);
  RowOutputs rows;
  rows.log_z = lz.data();
  backend.estep(sample.x.data(), sample.n, nullptr, nullptr, rows);
  if (comm && comm->size() > 1) {
    // Rank 0's values decide, so that ranks with different backends pick the same rows.
    if (comm->rank() != 0) std::fill(lz.begin(), lz.end(), 0.0);
    comm->allreduce_sum(lz.data(), lz.size());
  }
  std::vector<std::int64_t> order(sample.n);
  std::iota(order.begin(), order.end(), 0);
  const size_t take = std::min<size_t>(collapsed.size(), order.size());
  std::partial_sort(order.begin(), order.begin() + take, order.end(),
                    [&](std::int64_t a, std::int64_t b) { return lz[a] < lz[b] || (lz[a] == lz[b] && a < b); });

  const size_t per = m.covariance_type == CovarianceType::spherical ? 1
                     : m.covariance_type == CovarianceType::diag    ? (size_t)D
                     : m.covariance_type == CovarianceType::full    ? (size_t)D * D
                                                                    : 0;
  std::vector<double> avg(per, 0.0);
  for (int k = 0; k < K; ++k)
    if (!bad[k])
      for (size_t i = 0; i < per; ++i) avg[i] += healthy.weights[k] * m.covariances[k * per + i];
  for (size_t c = 0; c < collapsed.size(); ++c) {
    const int k = collapsed[c];
    const std::int64_t row = order[c % take];
    for (int j = 0; j < D; ++j) m.means[(size_t)k * D + j] = sample.x[(size_t)row * D + j];
    for (size_t i = 0; i < per; ++i) m.covariances[k * per + i] = avg[i];
    m.weights[k] = 1.0 / K;
  }
  const double sum = std::accumulate(m.weights.begin(), m.weights.end(), 0.0);
  for (double& w : m.weights) w /= sum;
  m.update_precisions_cholesky();
  return (int)collapsed.size();
}

struct RunResult {
  Model model;
  double lower_bound = -std::numeric_limits<double>::infinity();
  bool converged = false;
  int n_iter = 0;
  int reseeded = 0;
};

// EM from `model` for at most p.max_iter iterations (none when 0: the model is returned as it
// is, with a lower bound of -inf, as scikit-learn does). `lb` is the lower bound the model
// comes with (-inf for a fresh initialisation).
RunResult run_one(const Params& p, const FitInput& in, Model model, double lb, const init::Sample& sample,
                  Backend& backend, int init_index, const IterationCallback& cb, FitInfo& info) {
  RunResult r;
  const int K = p.n_components, D = in.data->dim();
  SuffStats stats(p.covariance_type, K, D);
  for (int it = 1; it <= p.max_iter; ++it) {
    const auto t0 = Clock::now();
    const std::vector<double> center = robust_center(model);
    backend.set_params(make_component_params(model, center));
    stats.zero();
    backend.estep_source(*in.data, in.weights, &stats, RowOutputs{}, p.chunk_rows);
    allreduce(stats, in.comm);
    const double estep_s = since(t0);
    FLASHGMM_CHECK(stats.weight_sum > 0, "the sample weights sum to zero");
    const double new_lb = stats.log_likelihood / stats.weight_sum;
    // +inf: a covariance collapsed onto identical rows, which only reg_covar = 0 allows.
    FLASHGMM_CHECK(std::isfinite(new_lb) || p.reg_covar > 0,
                   kIllDefinedCovariance << " (The log-likelihood became " << new_lb << " at iteration " << it
                                         << ".)");
    FLASHGMM_CHECK(std::isfinite(new_lb),
                   "the log-likelihood became non-finite at iteration " << it
                       << "; the data may have extreme magnitudes: scale it or increase reg_covar");
    FLASHGMM_CHECK(stats_finite(stats),
                   "the E-step statistics overflowed at iteration " << it
                       << " (float32 products of rows exceed 3.4e38); the data has extreme magnitudes: "
                          "scale it");
    const MStepResult ms = m_step(stats, center, p.reg_covar, p.min_component_count, model);
    const int reseeded = reseed(model, ms.collapsed, sample, backend, in.comm);
    r.reseeded += reseeded;
    const double change = new_lb - lb;
    lb = new_lb;
    IterationStats is;
    is.init = init_index;
    is.iteration = it;
    is.lower_bound = lb;
    is.change = change;
    is.seconds = since(t0);
    is.estep_seconds = estep_s;
    is.reseeded = reseeded;
    is.peak_device_bytes = backend.info().peak_device_bytes;
    info.history.push_back(is);
    r.n_iter = it;
    if (p.verbose >= 2 && (it % p.verbose_interval == 0 || it == 1))
      std::fprintf(stderr, "  init %d iter %4d  lower bound %.6f  change %.3e  %.3fs%s\n", init_index, it,
                   lb, change, is.seconds, reseeded ? "  (re-seeded)" : "");
    if (cb && !cb(is)) FLASHGMM_THROW("fit interrupted");
    // A re-seeded model is a new starting point: do not call it converged.
    if (std::fabs(change) < p.tol && reseeded == 0) {
      r.converged = true;
      break;
    }
  }
  r.model = std::move(model);
  r.lower_bound = r.n_iter > 0 ? lb : -std::numeric_limits<double>::infinity();
  return r;
}

}  // namespace

Model run_em(const Params& p, const FitInput& in, const Model* warm, const IterationCallback& cb,
             FitInfo& info) {
  const auto t_start = Clock::now();
  const int D = in.data->dim();
  info = FitInfo();
  std::unique_ptr<Backend> backend = make_backend(p, D);
  info.backend = backend->info().name;
  const std::int64_t ssize = init::sample_size(p, in.n_total, D);
  const init::Sample sample =
      init::draw_sample(*in.data, in.row_offset, in.n_total, ssize, p.seed, in.comm);
  const bool warm_start = p.warm_start && warm && !warm->empty();
  const int n_init = warm_start ? 1 : p.n_init;
  RunResult best;
  bool have_best = false;
  for (int i = 0; i < n_init; ++i) {
    Model start;
    double start_lb = -std::numeric_limits<double>::infinity();
    if (warm_start) {
      start = *warm;
      start_lb = in.warm_lower_bound;
    } else {
      std::mt19937_64 rng(p.seed + 0x9e3779b97f4a7c15ULL * (std::uint64_t)i);
      start = init::initialize(sample, p, rng);
    }
    RunResult r = run_one(p, in, std::move(start), start_lb, sample, *backend, i, cb, info);
    if (p.verbose >= 1)
      std::fprintf(stderr, "flashgmm: init %d %s after %d iterations, lower bound %.6f\n", i,
                   r.converged ? "converged" : "did not converge", r.n_iter, r.lower_bound);
    info.total_reseeded += r.reseeded;
    if (!have_best || r.lower_bound > best.lower_bound) {
      best = std::move(r);
      best.model.n_components = p.n_components;
      info.best_init = i;
      have_best = true;
    }
  }
  info.converged = best.converged;
  info.n_iter = best.n_iter;
  info.lower_bound = best.lower_bound;
  info.seconds = since(t_start);
  if (!best.converged && p.verbose >= 1)
    std::fprintf(stderr,
                 "flashgmm: warning: best of %d initializations did not converge; try a larger "
                 "max_iter or tol, or check the data\n", n_init);
  return std::move(best.model);
}

}  // namespace flashgmm::em
