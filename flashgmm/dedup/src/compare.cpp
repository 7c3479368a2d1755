// flashgmm dedup: bucket-by-bucket exact comparisons, largest buckets first, OpenMP over buckets.
#include "compare.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <numeric>

#include "flashgmm/error.hpp"

namespace flashgmm::dedup::detail {

namespace {

constexpr std::int64_t kTile = 64;  // rows per tile side: two tiles of D ≤ 1024 floats stay in L2

struct BucketWork {
  std::vector<float> x;            // the bucket's prepared rows
  std::vector<std::int32_t> comps; // their component lists (m each)
  std::vector<char> single;        // row has one component: every pair with another single row is ours
  std::vector<RowPair> similar;    // similar pairs found in this bucket
};

template <Metric M>
std::int64_t compare_bucket(std::int32_t c, const std::int64_t* rows, std::int64_t nb, int m, int d, float cut,
                            BucketWork& w, const std::atomic<bool>& stop) {
  std::int64_t compared = 0;
  for (std::int64_t i0 = 0; i0 < nb; i0 += kTile) {
    if (stop.load(std::memory_order_relaxed)) return compared;
    const std::int64_t i1 = std::min(nb, i0 + kTile);
    for (std::int64_t j0 = i0; j0 < nb; j0 += kTile) {
      const std::int64_t j1 = std::min(nb, j0 + kTile);
      for (std::int64_t i = i0; i < i1; ++i) {
        const float* xi = w.x.data() + i * d;
        const std::int32_t* ci = w.comps.data() + i * m;
        for (std::int64_t j = std::max(j0, i + 1); j < j1; ++j) {
          if (!(w.single[i] && w.single[j]) && smallest_shared(ci, w.comps.data() + j * m, m) != c) continue;
          ++compared;
          const float* xj = w.x.data() + j * d;
          const bool hit = M == Metric::cosine ? dot(xi, xj, d) >= cut : squared_distance(xi, xj, d) <= cut;
          if (hit) w.similar.emplace_back(rows[i], rows[j]);
        }
      }
    }
  }
  return compared;
}

}  // namespace

CompareStats compare_buckets(const Blocking& blocks, const RowReader& reader, const PairTest& test,
                             UnionFind& groups, const RowSet& watch, std::vector<RowPair>* watched,
                             int n_threads, const ProgressCallback& progress) {
  const int k = blocks.n_components, m = blocks.m, d = reader.dim();
  std::vector<std::int32_t> order(k);
  std::iota(order.begin(), order.end(), 0);
  auto size = [&](std::int32_t c) { return blocks.offsets[c + 1] - blocks.offsets[c]; };
  std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return size(a) > size(b); });

  CompareStats st;
  for (int c = 0; c < k; ++c) st.candidate_pairs += size(c) * (size(c) - 1) / 2;

  std::mutex mu;  // guards groups, *watched, st and the progress counter
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  std::int64_t done_pairs = 0;
  const int threads = n_threads > 0 ? n_threads : omp_get_max_threads();

#pragma omp parallel num_threads(threads)
  {
    BucketWork w;
#pragma omp for schedule(dynamic, 1)
    for (int oi = 0; oi < k; ++oi) {
      if (stop.load(std::memory_order_relaxed)) continue;
      try {
        const std::int32_t c = order[oi];
        const std::int64_t nb = size(c);
        if (nb < 2) continue;
        const std::int64_t* rows = blocks.rows.data() + blocks.offsets[c];
        w.x.resize(static_cast<std::size_t>(nb) * d);
        reader.gather(rows, nb, w.x.data());
        w.comps.resize(static_cast<std::size_t>(nb) * m);
        w.single.resize(nb);
        for (std::int64_t i = 0; i < nb; ++i) {
          const std::int32_t* a = blocks.assignment.data() + rows[i] * m;
          std::copy(a, a + m, w.comps.data() + i * m);
          w.single[i] = m == 1 || a[1] < 0;
        }
        w.similar.clear();
        const std::int64_t compared =
            test.metric == Metric::cosine
                ? compare_bucket<Metric::cosine>(c, rows, nb, m, d, test.cut, w, stop)
                : compare_bucket<Metric::l2>(c, rows, nb, m, d, test.cut, w, stop);
        std::lock_guard<std::mutex> lock(mu);
        st.pairs_compared += compared;
        st.duplicate_pairs += static_cast<std::int64_t>(w.similar.size());
        for (const RowPair& e : w.similar) {
          groups.unite(e.first, e.second);
          if (watched && !watch.empty() && (watch.contains(e.first) || watch.contains(e.second)))
            watched->push_back(e);
        }
        done_pairs += nb * (nb - 1) / 2;
        // The callback (maybe Python) runs on one thread only.
        if (omp_get_thread_num() == 0 && progress && !progress(Progress{"compare", done_pairs, st.candidate_pairs}))
          stop = true;
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        stop = true;
      }
    }
  }
  if (error) std::rethrow_exception(error);
  if (stop) FLASHGMM_THROW("dedup interrupted");
  report(progress, "compare", st.candidate_pairs, st.candidate_pairs);
  if (watched) std::sort(watched->begin(), watched->end());
  return st;
}

}  // namespace flashgmm::dedup::detail
