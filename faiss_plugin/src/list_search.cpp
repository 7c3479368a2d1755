#include "list_search.hpp"

#include <algorithm>

#include <faiss/utils/Heap.h>

#include "flashgmm/error.hpp"
#include "src/blas.hpp"

namespace flashgmm::ivf {

namespace {

// Counting sort of the keys in [0, nk) (a key < 0 goes last): order[] and bucket starts.
void counting_sort(std::int64_t n, std::int64_t nk, const std::int64_t* key, std::vector<std::int64_t>& order,
                   std::vector<std::int64_t>& start) {
  start.assign(static_cast<size_t>(nk) + 2, 0);
  for (std::int64_t i = 0; i < n; ++i) ++start[static_cast<size_t>((key[i] < 0 ? nk : key[i]) + 1)];
  for (std::int64_t l = 0; l <= nk; ++l) start[static_cast<size_t>(l) + 1] += start[static_cast<size_t>(l)];
  std::vector<std::int64_t> pos(start.begin(), start.end() - 1);
  order.resize(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<size_t>(pos[static_cast<size_t>(key[i] < 0 ? nk : key[i])]++)] = i;
}

}  // namespace

GroupedRows group_rows(const float* x, std::int64_t n, std::int64_t d, std::int64_t nlist, const std::int64_t* list) {
  GroupedRows g;
  g.d = d;
  counting_sort(n, nlist, list, g.row, g.start);
  FLASHGMM_ASSERT(g.start[static_cast<size_t>(nlist)] == n);  // every row has a list
  g.start.resize(static_cast<size_t>(nlist) + 1);
  g.x.resize(static_cast<size_t>(n * d));
  g.norms.resize(static_cast<size_t>(n));
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const float* src = x + g.row[static_cast<size_t>(i)] * d;
    float* dst = g.x.data() + i * d;
    float s = 0;
    for (std::int64_t t = 0; t < d; ++t) {
      dst[t] = src[t];
      s += src[t] * src[t];
    }
    g.norms[static_cast<size_t>(i)] = s;
  }
  return g;
}

void search_grouped(const GroupedRows& g, std::int64_t nq, const float* q, const std::int32_t* probes, int stride,
                    int nprobe, int k, std::int64_t* labels, float* distances) {
  if (nq <= 0) return;
  const std::int64_t d = g.d, K = static_cast<std::int64_t>(g.start.size()) - 1;
  FLASHGMM_ASSERT(k >= 1 && nprobe >= 1 && stride >= nprobe && K >= 1);
  // Tiles: queries with the same first list (their probe sets overlap most), ≤ kTile each, so
  // that the queries of a tile probing one list form one sgemm against that list's rows.
  constexpr std::int64_t kTile = 256, kCols = 1024;
  std::vector<std::int64_t> first(static_cast<size_t>(nq)), order, start;
  for (std::int64_t i = 0; i < nq; ++i) first[static_cast<size_t>(i)] = probes[i * stride];
  counting_sort(nq, K, first.data(), order, start);
  std::vector<std::int64_t> tiles;  // begin of each tile in order[]
  for (std::int64_t l = 0; l <= K; ++l)
    for (std::int64_t b = start[static_cast<size_t>(l)]; b < start[static_cast<size_t>(l) + 1]; b += kTile)
      tiles.push_back(b);
  const std::int64_t ntiles = static_cast<std::int64_t>(tiles.size());
  tiles.push_back(nq);
  auto tile_end = [&](std::int64_t t) {
    const std::int64_t b = tiles[static_cast<size_t>(t)];
    const std::int64_t key = first[static_cast<size_t>(order[static_cast<size_t>(b)])];
    const std::int64_t l = key < 0 ? K : key;
    return std::min({b + kTile, start[static_cast<size_t>(l) + 1], nq});
  };
  blas::SingleThreadedScope single_threaded_blas;  // OpenMP runs the tiles
#pragma omp parallel
  {
    std::vector<std::vector<std::int32_t>> bucket(static_cast<size_t>(K));  // tile queries probing list l
    std::vector<std::int32_t> touched;
    std::vector<float> qs(static_cast<size_t>(kTile * d)), qn(static_cast<size_t>(kTile)), ip(static_cast<size_t>(kTile * kCols));
    std::vector<float> hd(static_cast<size_t>(kTile * k));
    std::vector<std::int64_t> hl(hd.size());
    std::vector<float> sub(static_cast<size_t>(kTile * d));
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t t = 0; t < ntiles; ++t) {
      const std::int64_t b = tiles[static_cast<size_t>(t)], e = tile_end(t), nt = e - b;
      touched.clear();
      for (std::int64_t i = 0; i < nt; ++i) {
        const std::int64_t qi = order[static_cast<size_t>(b + i)];
        const float* src = q + qi * d;
        float s = 0;
        for (std::int64_t c = 0; c < d; ++c) {
          qs[static_cast<size_t>(i * d + c)] = src[c];
          s += src[c] * src[c];
        }
        qn[static_cast<size_t>(i)] = s;
        faiss::maxheap_heapify(static_cast<size_t>(k), hd.data() + i * k, hl.data() + i * k);
        for (int j = 0; j < nprobe; ++j) {
          const std::int32_t l = probes[qi * stride + j];
          if (l < 0 || l >= K) continue;
          auto& bl = bucket[static_cast<size_t>(l)];
          if (bl.empty()) touched.push_back(l);
          bl.push_back(static_cast<std::int32_t>(i));
        }
      }
      for (std::int32_t l : touched) {
        auto& bl = bucket[static_cast<size_t>(l)];
        const std::int64_t ns = static_cast<std::int64_t>(bl.size());
        const std::int64_t r0 = g.start[static_cast<size_t>(l)], nr = g.start[static_cast<size_t>(l) + 1] - r0;
        for (std::int64_t s = 0; s < ns; ++s)
          std::copy(qs.begin() + bl[static_cast<size_t>(s)] * d, qs.begin() + (bl[static_cast<size_t>(s)] + 1) * d,
                    sub.begin() + s * d);
        for (std::int64_t c0 = 0; c0 < nr; c0 += kCols) {
          const std::int64_t nc = std::min(kCols, nr - c0);
          blas::gemm_nt(static_cast<int>(ns), static_cast<int>(nc), static_cast<int>(d), 1.0f, sub.data(),
                        static_cast<int>(d), g.x.data() + (r0 + c0) * d, static_cast<int>(d), 0.0f, ip.data(),
                        static_cast<int>(nc));
          const float* rn = g.norms.data() + r0 + c0;
          const std::int64_t* rid = g.row.data() + r0 + c0;
          for (std::int64_t s = 0; s < ns; ++s) {
            const std::int32_t i = bl[static_cast<size_t>(s)];
            float* hdi = hd.data() + i * k;
            std::int64_t* hli = hl.data() + i * k;
            const float* ips = ip.data() + s * nc;
            const float base = qn[static_cast<size_t>(i)];
            for (std::int64_t c = 0; c < nc; ++c) {
              const float dist = base + rn[c] - 2.0f * ips[c];
              if (dist < hdi[0]) faiss::maxheap_replace_top(static_cast<size_t>(k), hdi, hli, dist, rid[c]);
            }
          }
        }
        bl.clear();
      }
      for (std::int64_t i = 0; i < nt; ++i) {
        const std::int64_t qi = order[static_cast<size_t>(b + i)];
        faiss::maxheap_reorder(static_cast<size_t>(k), hd.data() + i * k, hl.data() + i * k);
        std::copy(hd.begin() + i * k, hd.begin() + (i + 1) * k, distances + qi * k);
        std::copy(hl.begin() + i * k, hl.begin() + (i + 1) * k, labels + qi * k);
      }
    }
  }
}

}  // namespace flashgmm::ivf
