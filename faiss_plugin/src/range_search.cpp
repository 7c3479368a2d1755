// Range search over distinct ids on a multi-assignment IVF index: FAISS's own range search would
// return an id once per stored copy.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>

#include "flashgmm/error.hpp"
#include "flashgmm_faiss/ivf_ops.hpp"

namespace flashgmm::ivf {

using idx_t = faiss::Index::idx_t;

namespace {

// Keeps each id's nearest entry of labels/distances[b, e), sorted by (distance, id), at the front
// of the slice; returns how many were kept.
size_t keep_nearest_copy(idx_t* labels, float* distances, size_t b, size_t e) {
  std::vector<std::pair<idx_t, float>> hits;
  hits.reserve(e - b);
  for (size_t j = b; j < e; ++j) hits.emplace_back(labels[j], distances[j]);
  std::sort(hits.begin(), hits.end());  // by id, nearest copy first
  hits.erase(std::unique(hits.begin(), hits.end(), [](const auto& a, const auto& c) { return a.first == c.first; }),
             hits.end());
  std::sort(hits.begin(), hits.end(),
            [](const auto& a, const auto& c) { return a.second < c.second || (a.second == c.second && a.first < c.first); });
  for (size_t j = 0; j < hits.size(); ++j) {
    labels[b + j] = hits[j].first;
    distances[b + j] = hits[j].second;
  }
  return hits.size();
}

}  // namespace

std::int64_t keep_distinct_ranges(idx_t n, size_t* lims, idx_t* labels, float* distances) {
  // Each query's slice is de-duplicated in place (in parallel), then the slices are moved down.
  std::vector<size_t> kept(static_cast<size_t>(n));
#pragma omp parallel for schedule(dynamic, 16) if (n > 64)
  for (idx_t i = 0; i < n; ++i) kept[i] = keep_nearest_copy(labels, distances, lims[i], lims[i + 1]);
  const size_t raw = lims[n];
  size_t w = 0;
  for (idx_t i = 0; i < n; ++i) {
    const size_t b = lims[i];
    std::copy(labels + b, labels + b + kept[i], labels + w);
    std::copy(distances + b, distances + b + kept[i], distances + w);
    lims[i] = w;
    w += kept[i];
  }
  lims[n] = w;
  return static_cast<std::int64_t>(raw - w);
}

void range_search_distinct(const faiss::IndexIVF& ivf, idx_t n, const float* x, float radius, int nprobe,
                           faiss::RangeSearchResult* result, SearchStats* stats) {
  FLASHGMM_CHECK(ivf.is_trained, "range_search: the IVF index is not trained");
  FLASHGMM_CHECK(!std::isnan(radius), "range_search: radius is NaN");
  FLASHGMM_CHECK(n >= 0 && (n == 0 || x), "range_search: null queries");
  FLASHGMM_CHECK(result != nullptr && result->lims != nullptr, "range_search: null result");
  FLASHGMM_CHECK(result->nq == static_cast<size_t>(n),
                 "range_search: the result was made for " << result->nq << " queries, not " << n);
  const auto t0 = std::chrono::steady_clock::now();
  if (n == 0) {
    result->lims[0] = 0;
    result->do_allocation();
    return;
  }
  const idx_t np = probe_count(ivf, nprobe);
  std::vector<idx_t> keys(static_cast<size_t>(n * np));
  std::vector<float> coarse(keys.size());
  faiss::SearchParametersIVF sp;  // its nprobe is the stride FAISS reads the keys with
  sp.nprobe = static_cast<size_t>(np);
  sp.max_codes = ivf.max_codes;
  faiss::IndexIVFStats st;
  try {
    ivf.quantizer->search(n, x, np, coarse.data(), keys.data());
    ivf.range_search_preassigned(n, x, radius, keys.data(), coarse.data(), result, false, &sp, &st);
  } catch (const faiss::FaissException& e) {
    FLASHGMM_THROW("FAISS range search failed: " << e.what());
  }
  const std::int64_t dropped = keep_distinct_ranges(n, result->lims, result->labels, result->distances);
  if (stats) {
    stats->nq += n;
    stats->ndis += static_cast<std::int64_t>(st.ndis);
    for (idx_t key : keys) stats->lists_probed += key >= 0;
    stats->duplicates_removed += dropped;
    stats->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
}

}  // namespace flashgmm::ivf
