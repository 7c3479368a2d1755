// flashgmm dedup: bucket-by-bucket exact comparisons, largest buckets first, OpenMP over buckets.
#include "compare.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <numeric>

#include "flashgmm/error.hpp"
#include "src/blas.hpp"

namespace flashgmm::dedup::detail {

namespace {

// Rows per tile side. A tile pair's products come from one GEMM (kTile × kTile scores, 64 KiB),
// which screens the pairs with a safety margin; the survivors — near duplicates and pairs close
// to the threshold — are then decided one by one by PairTest, the function the quality check
// uses too. The GEMM also multiplies pairs another bucket owns (rows in several components);
// those are skipped before screening and not counted as compared.
constexpr std::int64_t kTile = 128;

struct BucketWork {
  std::vector<float> x;             // the bucket's prepared rows
  std::vector<float> norm2;         // their squared norms (l2)
  std::vector<std::int32_t> comps;  // their component lists (m each)
  std::vector<char> single;         // row has one component: every pair with another single row is ours
  std::vector<float> scores;        // kTile × kTile products of a tile pair
  std::vector<RowPair> similar;     // similar pairs found in this bucket
};

std::int64_t compare_bucket(std::int32_t c, const std::int64_t* rows, std::int64_t nb, int m, int d,
                            const PairTest& test, BucketWork& w, const std::atomic<bool>& stop) {
  std::int64_t compared = 0;
  const bool cosine = test.metric == Metric::cosine;
  if (!cosine) {
    w.norm2.resize(nb);
    for (std::int64_t i = 0; i < nb; ++i) w.norm2[i] = dot(&w.x[i * d], &w.x[i * d], d);
  }
  w.scores.resize(kTile * kTile);
  for (std::int64_t i0 = 0; i0 < nb; i0 += kTile) {
    if (stop.load(std::memory_order_relaxed)) return compared;
    const std::int64_t ni = std::min(kTile, nb - i0);
    for (std::int64_t j0 = i0; j0 < nb; j0 += kTile) {
      const std::int64_t nj = std::min(kTile, nb - j0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(ni), static_cast<int>(nj), d, 1.0f,
                  &w.x[i0 * d], d, &w.x[j0 * d], d, 0.0f, w.scores.data(), static_cast<int>(kTile));
      for (std::int64_t i = i0; i < i0 + ni; ++i) {
        const std::int32_t* ci = w.comps.data() + i * m;
        const float* si = w.scores.data() + (i - i0) * kTile - j0;
        for (std::int64_t j = std::max(j0, i + 1); j < j0 + nj; ++j) {
          if (!(w.single[i] && w.single[j]) && smallest_shared(ci, w.comps.data() + j * m, m) != c) continue;
          ++compared;
          // Screen: products carry rounding of order d·eps·|x||y|; 1e-3 relative is far above it.
          const bool maybe = cosine ? si[j] >= test.cut - 1e-3f
                                    : w.norm2[i] + w.norm2[j] - 2.0f * si[j] <=
                                          test.cut + 1e-3f * (w.norm2[i] + w.norm2[j]) + 1e-30f;
          if (maybe && test(&w.x[i * d], &w.x[j * d])) w.similar.emplace_back(rows[i], rows[j]);
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
  const blas::SingleThreadedScope one_blas_thread;  // our threads run one GEMM each

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
        const std::int64_t compared = compare_bucket(c, rows, nb, m, d, test, w, stop);
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
