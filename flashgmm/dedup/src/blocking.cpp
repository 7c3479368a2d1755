// flashgmm dedup: blocking mixture fit and top-m assignment (never N×K).
#include "blocking.hpp"

#include <algorithm>
#include <cmath>

#include "sampling.hpp"

#include "flashgmm/error.hpp"

namespace flashgmm::dedup::detail {

void report(const ProgressCallback& progress, const char* stage, std::int64_t done, std::int64_t total) {
  if (progress && !progress(Progress{stage, done, total})) FLASHGMM_THROW("dedup interrupted");
}

int auto_components(std::int64_t n) {
  const std::int64_t by_sqrt = static_cast<std::int64_t>(std::sqrt(static_cast<double>(n)));
  const std::int64_t k = std::min<std::int64_t>({by_sqrt, 4096, n / 32});
  return static_cast<int>(std::max<std::int64_t>(1, k));
}

GaussianMixture fit_blocking_mixture(const RowReader& reader, const DedupParams& p, int k,
                                     const ProgressCallback& progress) {
  const std::int64_t n = reader.rows();
  const int d = reader.dim();
  std::int64_t want = p.fit_sample > 0 ? p.fit_sample : std::max<std::int64_t>(65536, 64LL * k);
  want = std::min(want, n);
  const std::vector<std::int64_t> ids = sample_rows(n, want, p.seed);
  std::vector<float> x(static_cast<std::size_t>(want) * d);
  for (std::int64_t i = 0; i < want;) {  // consecutive runs at once, checked with their row numbers
    std::int64_t run = 1;
    while (i + run < want && ids[i + run] == ids[i] + run) ++run;
    reader.read_checked(ids[i], run, x.data() + static_cast<std::size_t>(i) * d);
    i += run;
  }
  Params gp;
  gp.n_components = k;
  gp.covariance_type = p.covariance_type;
  gp.max_iter = p.max_iter;
  gp.tol = p.tol;
  gp.seed = p.seed;
  gp.backend = p.backend;
  gp.n_threads = p.n_threads;
  GaussianMixture gmm(gp);
  if (progress) {
    gmm.set_iteration_callback([&](const IterationStats& s) {
      return progress(Progress{"fit", s.iteration, p.max_iter});
    });
  }
  gmm.fit(x.data(), want, d);
  report(progress, "fit", p.max_iter, p.max_iter);
  return gmm;
}

Model tempered(const Model& m, double t) {
  Model out = m;
  if (t == 1.0) return out;
  const int k = m.n_components, d = m.dim;
  std::vector<double> logw(k);
  for (int c = 0; c < k; ++c) {
    double logdet = 0.0;  // log|Σ_c| (tied: shared, cancels in the normalisation)
    switch (m.covariance_type) {
      case CovarianceType::spherical: logdet = d * std::log(m.covariances[c]); break;
      case CovarianceType::diag:
        for (int j = 0; j < d; ++j) logdet += std::log(m.covariances[static_cast<std::size_t>(c) * d + j]);
        break;
      case CovarianceType::full:  // P·Pᵀ = Σ⁻¹ with P triangular: log|Σ| = −2·Σ log P_jj
        for (int j = 0; j < d; ++j)
          logdet -= 2.0 * std::log(m.precisions_cholesky[(static_cast<std::size_t>(c) * d + j) * d + j]);
        break;
      case CovarianceType::tied: break;
    }
    logw[c] = std::log(m.weights[c]) / t + 0.5 * (1.0 - 1.0 / t) * logdet;
  }
  const double top = *std::max_element(logw.begin(), logw.end());
  double sum = 0.0;
  for (int c = 0; c < k; ++c) sum += (out.weights[c] = std::exp(logw[c] - top));
  for (int c = 0; c < k; ++c) out.weights[c] /= sum;
  for (double& v : out.covariances) v *= t;
  out.update_precisions_cholesky();
  return out;
}

Blocking assign_rows(const GaussianMixture& gmm, const RowReader& reader, const DedupParams& p,
                     const ProgressCallback& progress) {
  const std::int64_t n = reader.rows();
  const int d = reader.dim();
  Blocking b;
  b.n_components = gmm.model().n_components;
  b.m = std::min(p.max_assign, b.n_components);
  const int m = b.m;
  b.assignment.assign(static_cast<std::size_t>(n) * m, -1);
  std::vector<std::int64_t> counts(b.n_components, 0);

  const std::int64_t chunk = std::max<std::int64_t>(1, std::min(p.chunk_rows, n));
  std::vector<float> x(static_cast<std::size_t>(chunk) * d);
  std::vector<std::int32_t> ids(static_cast<std::size_t>(chunk) * m);
  std::vector<float> probs(static_cast<std::size_t>(chunk) * m);
  const float tau = static_cast<float>(p.min_posterior);
  for (std::int64_t begin = 0; begin < n; begin += chunk) {
    const std::int64_t c = std::min(chunk, n - begin);
    reader.read_checked(begin, c, x.data());
    gmm.predict_topk(x.data(), c, m, ids.data(), probs.data());
    for (std::int64_t i = 0; i < c; ++i) {
      std::int32_t* out = b.assignment.data() + static_cast<std::size_t>(begin + i) * m;
      for (int j = 0; j < m; ++j) {
        const std::int32_t comp = ids[i * m + j];
        if (j > 0 && !(probs[i * m + j] >= tau)) break;
        FLASHGMM_ASSERT(comp >= 0 && comp < b.n_components);
        out[j] = comp;
        ++counts[comp];
      }
    }
    report(progress, "assign", begin + c, n);
  }

  b.offsets.assign(b.n_components + 1, 0);
  for (int c = 0; c < b.n_components; ++c) b.offsets[c + 1] = b.offsets[c] + counts[c];
  b.rows.resize(b.offsets.back());
  std::vector<std::int64_t> fill(b.offsets.begin(), b.offsets.end() - 1);
  for (std::int64_t i = 0; i < n; ++i) {  // ascending i keeps every bucket sorted
    const std::int32_t* a = b.assignment.data() + static_cast<std::size_t>(i) * m;
    for (int j = 0; j < m && a[j] >= 0; ++j) b.rows[fill[a[j]]++] = i;
  }
  return b;
}

}  // namespace flashgmm::dedup::detail
