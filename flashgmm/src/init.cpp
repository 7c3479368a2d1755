#include "init.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "blas.hpp"
#include "em_math.hpp"
#include "flashgmm/error.hpp"

namespace flashgmm::init {

std::int64_t sample_size(const Params& p, std::int64_t n_total, int d) {
  std::int64_t s = p.init_sample_size;
  if (s == 0) {
    // Large enough that k-means on the sample finds the clusters k-means on all rows finds
    // (8192 rows lost small clusters of unequal mixtures: bench/RESULTS.md), bounded in rows
    // and bytes so that the init's cost does not grow with N.
    const std::int64_t bytes_cap = (std::int64_t{256} << 20) / (4 * std::max<std::int64_t>(1, d));
    s = std::min<std::int64_t>({std::max<std::int64_t>(65536, 32LL * p.n_components), 131072, bytes_cap});
    s = std::max<std::int64_t>(s, 8192);
  }
  s = std::max<std::int64_t>(s, p.n_components);
  return std::min(s, n_total);
}

Sample draw_sample(const DataSource& local, std::int64_t offset, std::int64_t n_total,
                   std::int64_t size, std::uint64_t seed, Communicator* comm) {
  // Choose global row ids (same on every rank: same seed), sorted for sequential reads.
  std::vector<std::int64_t> ids;
  std::mt19937_64 rng(seed ^ 0x5eed5a3c1e5ULL);
  if (size >= n_total) {
    ids.resize(n_total);
    for (std::int64_t i = 0; i < n_total; ++i) ids[i] = i;
  } else {
    std::unordered_set<std::int64_t> chosen;  // Floyd's algorithm: `size` draws, no repeats
    chosen.reserve(size * 2);
    for (std::int64_t j = n_total - size; j < n_total; ++j) {
      std::int64_t t = std::uniform_int_distribution<std::int64_t>(0, j)(rng);
      if (!chosen.insert(t).second) chosen.insert(j);
    }
    ids.assign(chosen.begin(), chosen.end());
    std::sort(ids.begin(), ids.end());
  }
  Sample s;
  s.n = (std::int64_t)ids.size();
  s.d = local.dim();
  s.x.assign((size_t)s.n * s.d, 0.0f);
  const std::int64_t lo = offset, hi = offset + local.rows();
  for (std::int64_t i = 0; i < s.n; ++i)
    if (ids[i] >= lo && ids[i] < hi) local.read(ids[i] - lo, 1, s.x.data() + (size_t)i * s.d);
  if (comm && comm->size() > 1) {
    // Each row is owned by exactly one rank and zero elsewhere, so a sum gathers the sample.
    std::vector<double> buf(s.x.begin(), s.x.end());
    comm->allreduce_sum(buf.data(), buf.size());
    for (size_t i = 0; i < buf.size(); ++i) s.x[i] = (float)buf[i];
  }
  return s;
}

namespace {

std::vector<double> sample_mean(const Sample& s) {
  std::vector<double> c(s.d, 0.0);
  for (std::int64_t i = 0; i < s.n; ++i)
    for (int j = 0; j < s.d; ++j) c[j] += s.x[(size_t)i * s.d + j];
  for (double& v : c) v /= (double)s.n;
  return c;
}

// A component left without rows by a hard assignment keeps its seed as mean and gets the
// weighted average covariance of the others, with a small weight.
void repair_empty(Model& m, const SuffStats& st, const std::vector<float>& seeds) {
  const int K = m.n_components, D = m.dim;
  std::vector<int> empty;
  for (int k = 0; k < K; ++k)
    if (st.nk[k] <= 0) empty.push_back(k);
  if (empty.empty()) return;
  FLASHGMM_ASSERT((int)empty.size() < K);
  const std::size_t per = m.covariance_type == CovarianceType::spherical ? 1
                          : m.covariance_type == CovarianceType::diag    ? (size_t)D
                          : m.covariance_type == CovarianceType::full    ? (size_t)D * D
                                                                         : 0;
  std::vector<double> avg(per, 0.0);
  double wsum = 0;
  for (int k = 0; k < K; ++k) {
    if (st.nk[k] <= 0) continue;
    wsum += m.weights[k];
    for (size_t i = 0; i < per; ++i) avg[i] += m.weights[k] * m.covariances[k * per + i];
  }
  for (double& v : avg) v /= wsum;
  for (int k : empty) {
    for (int j = 0; j < D; ++j) m.means[(size_t)k * D + j] = seeds[(size_t)k * D + j];
    for (size_t i = 0; i < per; ++i) m.covariances[k * per + i] = avg[i];
    m.weights[k] = 1.0 / (K * (double)K);
  }
  double sum = 0;
  for (double w : m.weights) sum += w;
  for (double& w : m.weights) w /= sum;
}

Model model_from_hard(const Sample& s, const Params& p, const std::vector<float>& seeds) {
  const int K = p.n_components;
  const std::vector<std::int32_t> labels = assign_nearest(s, K, seeds);
  const std::vector<double> c = sample_mean(s);
  SuffStats st(p.covariance_type, K, s.d);
  em::accumulate_hard(s.x.data(), s.n, s.d, labels.data(), c, st);
  Model m;
  const em::MStepResult ms = em::m_step(st, c, p.reg_covar, 0.0, m);
  // Without regularisation a cluster of identical rows has a singular covariance: fail as
  // scikit-learn does at this same step, rather than start EM from a placeholder covariance.
  if (p.reg_covar == 0)
    for (int k : ms.collapsed) FLASHGMM_CHECK(st.nk[k] <= 0, em::kIllDefinedCovariance);
  repair_empty(m, st, seeds);
  return m;
}

Model model_from_random_resp(const Sample& s, const Params& p, std::mt19937_64& rng) {
  const int K = p.n_components, D = s.d;
  // Soft statistics cost rows·K·D (·D for full): bound the rows used.
  const double per_row = (double)K * D * (p.covariance_type == CovarianceType::full ? D : 1);
  const std::int64_t rows = std::min<std::int64_t>(
      s.n, std::max<std::int64_t>(std::min<std::int64_t>(s.n, 2 * K), (std::int64_t)(2e9 / per_row)));
  const std::vector<double> c = sample_mean(s);
  SuffStats st(p.covariance_type, K, D);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> resp(K);
  for (std::int64_t i = 0; i < rows; ++i) {
    double sum = 0;
    for (int k = 0; k < K; ++k) sum += (resp[k] = u(rng));
    for (int k = 0; k < K; ++k) resp[k] /= sum;
    em::accumulate_soft(s.x.data() + (size_t)i * D, 1, D, resp.data(), c, st);
  }
  Model m;
  em::m_step(st, c, p.reg_covar, 0.0, m);
  return m;
}

}  // namespace

Model initialize(const Sample& s, const Params& p, std::mt19937_64& rng) {
  const int K = p.n_components, D = s.d;
  FLASHGMM_ASSERT(s.n >= K);
  Model m;
  const bool all_given = !p.weights_init.empty() && !p.means_init.empty() && !p.precisions_init.empty();
  if (all_given) {
    m.covariance_type = p.covariance_type;
    m.n_components = K;
    m.dim = D;
  } else {
    switch (p.init) {
      case InitMethod::kmeans:
        m = model_from_hard(s, p, best_kmeans(s, K, p.init_kmeans_runs > 0 ? p.init_kmeans_runs : K <= 256 ? 3 : 1,
                                              p.init_kmeans_iter, rng));
        break;
      case InitMethod::kmeans_plusplus:
        m = model_from_hard(s, p, kmeans_plusplus(s, K, rng, greedy_trials(K)));
        break;
      case InitMethod::random_from_data: {
        std::vector<std::int64_t> idx(s.n);
        for (std::int64_t i = 0; i < s.n; ++i) idx[i] = i;
        std::vector<float> seeds((size_t)K * D);
        for (int k = 0; k < K; ++k) {  // partial Fisher–Yates: K distinct rows
          std::swap(idx[k], idx[std::uniform_int_distribution<std::int64_t>(k, s.n - 1)(rng)]);
          std::copy_n(s.x.data() + (size_t)idx[k] * D, D, seeds.data() + (size_t)k * D);
        }
        m = model_from_hard(s, p, seeds);
        break;
      }
      case InitMethod::random:
        m = model_from_random_resp(s, p, rng);
        break;
    }
  }
  std::vector<double> weights = p.weights_init, precisions = p.precisions_init;
  if (!all_given && !precisions.empty() && p.means_init.empty() && p.covariance_type != CovarianceType::tied) {
    // The computed clusters keep their order; each takes the user's precision (and the weight
    // given with it) that fits it best.
    const std::vector<int> slot = match_precisions(m, precisions);
    const size_t per = precisions.size() / (size_t)K;
    for (int k = 0; k < K; ++k) {
      std::copy_n(p.precisions_init.data() + (size_t)slot[k] * per, per, precisions.data() + (size_t)k * per);
      if (!weights.empty()) weights[k] = p.weights_init[slot[k]];
    }
  }
  if (!weights.empty()) m.weights = weights;
  if (!p.means_init.empty()) m.means = p.means_init;
  if (!precisions.empty()) m.set_precisions(precisions);
  else m.update_precisions_cholesky();
  return m;
}

}  // namespace flashgmm::init
