// k-means on the init sample: greedy k-means++ seeding and Lloyd iterations to convergence,
// the algorithm scikit-learn's GaussianMixture(init_params='kmeans') runs through KMeans.
#include <algorithm>
#include <cmath>
#include <limits>

#include "blas.hpp"
#include "flashgmm/error.hpp"
#include "init.hpp"

namespace flashgmm::init {

namespace {

// Squared distances from every sample row to `nc` rows of s (ids), row-major n×nc. Float
// lanes vectorise; D² sampling and potentials need no more precision.
void distances_to_rows(const Sample& s, const std::int64_t* ids, int nc, std::vector<float>& out) {
  const int d = s.d;
  const std::int64_t n = s.n;
  out.resize((size_t)n * nc);
#pragma omp parallel for schedule(static) if (n * d * nc > (1 << 20))
  for (std::int64_t i = 0; i < n; ++i) {
    const float* xi = s.x.data() + (size_t)i * d;
    for (int c = 0; c < nc; ++c) {
      const float* xc = s.x.data() + (size_t)ids[c] * d;
      float acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int j = 0; j < d; ++j) {
        const float t = xi[j] - xc[j];
        acc += t * t;
      }
      out[(size_t)i * nc + c] = acc;
    }
  }
}

}  // namespace

int greedy_trials(int k) { return 2 + (int)std::log((double)k); }

std::vector<float> kmeans_plusplus(const Sample& s, int k, std::mt19937_64& rng, int n_trials) {
  const int d = s.d;
  const std::int64_t n = s.n;
  FLASHGMM_ASSERT(n >= 1 && k >= 1 && n_trials >= 1);
  std::vector<float> c((size_t)k * d);
  std::int64_t first = std::uniform_int_distribution<std::int64_t>(0, n - 1)(rng);
  std::copy_n(s.x.data() + (size_t)first * d, d, c.data());
  std::vector<float> best, dist;
  distances_to_rows(s, &first, 1, best);
  std::vector<double> cum(n);
  std::vector<std::int64_t> cand(n_trials);
  std::vector<double> pot(n_trials);
  for (int m = 1; m < k; ++m) {
    // D² sampling of n_trials candidates through the running sum (double: exact enough
    // for 2^31 rows of float terms).
    double total = 0;
    for (std::int64_t i = 0; i < n; ++i) cum[i] = (total += best[i]);
    for (int t = 0; t < n_trials; ++t) {
      if (total > 0) {
        const double u = std::uniform_real_distribution<double>(0, total)(rng);
        cand[t] = std::min<std::int64_t>(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin(), n - 1);
      } else {
        // Every row coincides with a centre (duplicated data): any row will do.
        cand[t] = std::uniform_int_distribution<std::int64_t>(0, n - 1)(rng);
      }
    }
    // Greedy step: keep the candidate that lowers the potential Σ min-distance the most.
    distances_to_rows(s, cand.data(), n_trials, dist);
    std::fill(pot.begin(), pot.end(), 0.0);
    for (std::int64_t i = 0; i < n; ++i)
      for (int t = 0; t < n_trials; ++t) pot[t] += std::min(best[i], dist[(size_t)i * n_trials + t]);
    const int bt = (int)(std::min_element(pot.begin(), pot.end()) - pot.begin());
    for (std::int64_t i = 0; i < n; ++i) best[i] = std::min(best[i], dist[(size_t)i * n_trials + bt]);
    std::copy_n(s.x.data() + (size_t)cand[bt] * d, d, c.data() + (size_t)m * d);
  }
  return c;
}

std::vector<std::int32_t> assign_nearest(const Sample& s, int k, const std::vector<float>& centers,
                                         std::vector<float>* min_dist) {
  const int d = s.d;
  std::vector<float> cn(k);
  for (int m = 0; m < k; ++m) {
    double t = 0;
    for (int j = 0; j < d; ++j) t += (double)centers[(size_t)m * d + j] * centers[(size_t)m * d + j];
    cn[m] = (float)t;
  }
  std::vector<std::int32_t> labels(s.n);
  if (min_dist) min_dist->resize(s.n);
  const std::int64_t block = 1024;
  const std::int64_t nblocks = (s.n + block - 1) / block;
  blas::SingleThreadedScope single;
#pragma omp parallel
  {
    std::vector<float> dots((size_t)block * k);
#pragma omp for schedule(static)
    for (std::int64_t b = 0; b < nblocks; ++b) {
      const std::int64_t i0 = b * block, nb = std::min(block, s.n - i0);
      blas::gemm_nt((int)nb, k, d, 1.0f, s.x.data() + (size_t)i0 * d, d, centers.data(), d, 0.0f,
                    dots.data(), k);
      for (std::int64_t i = 0; i < nb; ++i) {
        int arg = 0;
        float bestv = std::numeric_limits<float>::infinity();
        for (int m = 0; m < k; ++m) {
          const float v = cn[m] - 2 * dots[(size_t)i * k + m];
          if (v < bestv) {
            bestv = v;
            arg = m;
          }
        }
        labels[i0 + i] = arg;
        if (min_dist) {
          // ‖x‖² + (‖c‖² − 2x·c): only an ordering for empty-cluster relocation.
          const float* xi = s.x.data() + (size_t)(i0 + i) * d;
          float xn = 0;
          for (int j = 0; j < d; ++j) xn += xi[j] * xi[j];
          (*min_dist)[i0 + i] = xn + bestv;
        }
      }
    }
  }
  return labels;
}

int lloyd(const Sample& s, int k, int max_iter, std::vector<float>& centers, double tol) {
  const int d = s.d;
  // scikit-learn's tolerance: tol × the mean per-feature variance of the data, compared with
  // the sum of squared centre shifts.
  double threshold = 0;
  {
    std::vector<double> mean(d, 0.0), sq(d, 0.0);
    for (std::int64_t i = 0; i < s.n; ++i)
      for (int j = 0; j < d; ++j) {
        const double v = s.x[(size_t)i * d + j];
        mean[j] += v;
        sq[j] += v * v;
      }
    for (int j = 0; j < d; ++j) {
      mean[j] /= (double)s.n;
      threshold += std::max(sq[j] / (double)s.n - mean[j] * mean[j], 0.0);
    }
    threshold = tol * threshold / d;
  }
  std::vector<std::int32_t> prev;
  std::vector<float> dist;
  int it = 0;
  while (it < max_iter) {
    ++it;
    std::vector<std::int32_t> labels = assign_nearest(s, k, centers, &dist);
    if (labels == prev) break;  // strict convergence: the centres below would not move
    std::vector<double> sum((size_t)k * d, 0.0);
    std::vector<std::int64_t> cnt(k, 0);
    for (std::int64_t i = 0; i < s.n; ++i) {
      const int m = labels[i];
      ++cnt[m];
      for (int j = 0; j < d; ++j) sum[(size_t)m * d + j] += s.x[(size_t)i * d + j];
    }
    // Empty clusters move to the rows farthest from their centres (scikit-learn's
    // relocation), each row taken from a cluster that keeps at least one other row.
    std::vector<int> empty;
    for (int m = 0; m < k; ++m)
      if (cnt[m] == 0) empty.push_back(m);
    if (!empty.empty()) {
      std::vector<std::int64_t> order(s.n);
      for (std::int64_t i = 0; i < s.n; ++i) order[i] = i;
      const std::int64_t take = std::min<std::int64_t>(s.n, (std::int64_t)empty.size() * 4 + 16);
      std::partial_sort(order.begin(), order.begin() + take, order.end(),
                        [&](std::int64_t a, std::int64_t b) { return dist[a] > dist[b] || (dist[a] == dist[b] && a < b); });
      size_t e = 0;
      for (std::int64_t r = 0; r < take && e < empty.size(); ++r) {
        const std::int64_t i = order[r];
        const int from = labels[i];
        if (cnt[from] <= 1 || !(dist[i] > 0)) continue;
        const int to = empty[e++];
        --cnt[from];
        ++cnt[to];
        for (int j = 0; j < d; ++j) {
          const double v = s.x[(size_t)i * d + j];
          sum[(size_t)from * d + j] -= v;
          sum[(size_t)to * d + j] += v;
        }
        labels[i] = to;
      }
    }
    double shift = 0;
    for (int m = 0; m < k; ++m) {
      if (cnt[m] == 0) continue;
      for (int j = 0; j < d; ++j) {
        const float v = (float)(sum[(size_t)m * d + j] / cnt[m]);
        const double t = (double)v - centers[(size_t)m * d + j];
        shift += t * t;
        centers[(size_t)m * d + j] = v;
      }
    }
    prev = std::move(labels);
    if (shift <= threshold) break;
  }
  return it;
}

std::vector<float> best_kmeans(const Sample& s, int k, int runs, int max_iter, std::mt19937_64& rng) {
  std::vector<float> best;
  double best_inertia = std::numeric_limits<double>::infinity();
  std::vector<float> dist;
  for (int r = 0; r < runs; ++r) {
    std::vector<float> centers = kmeans_plusplus(s, k, rng, greedy_trials(k));
    lloyd(s, k, max_iter, centers, kLloydTol);
    assign_nearest(s, k, centers, &dist);
    double inertia = 0;
    for (float v : dist) inertia += std::max(v, 0.0f);
    if (best.empty() || inertia < best_inertia) {
      best_inertia = inertia;
      best = std::move(centers);
    }
  }
  return best;
}

}  // namespace flashgmm::init
