// flashgmm dedup: the driver — fit, assign, compare, (check), groups.
#include "flashgmm_dedup/dedup.hpp"

#include <algorithm>
#include <chrono>

#include "blocking.hpp"
#include "compare.hpp"
#include "flashgmm/backend.hpp"
#include "flashgmm/error.hpp"
#include "quality.hpp"
#include "row_reader.hpp"
#include "sampling.hpp"
#include "union_find.hpp"

namespace flashgmm::dedup {

namespace {
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

DedupResult deduplicate(const DataSource& data, const DedupParams& p, const ProgressCallback& progress) {
  using namespace detail;
  p.validate();
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t n = data.rows();
  FLASHGMM_CHECK(n > 0, data.describe() << " has no rows; nothing to deduplicate");
  FLASHGMM_CHECK(data.dim() >= 1, data.describe() << " has dimension " << data.dim());
  const RowReader reader(data, p.metric);
  const PairTest test(p.metric, p.threshold, reader.dim());

  DedupResult res;
  DedupSummary& s = res.summary;
  s.n = n;
  s.dim = reader.dim();
  const int k = p.n_components > 0 ? p.n_components : auto_components(n);
  FLASHGMM_CHECK(k <= n, "n_components = " << k << " exceeds the number of rows " << n);

  auto t = std::chrono::steady_clock::now();
  GaussianMixture gmm = fit_blocking_mixture(reader, p, k, progress);
  s.fit_seconds = since(t);
  s.backend = gmm.fit_info().backend;
  if (p.temperature != 1.0) gmm.set_model(tempered(gmm.model(), p.temperature));
  s.n_components = k;

  t = std::chrono::steady_clock::now();
  Blocking blocks = assign_rows(gmm, reader, p, progress);
  s.assign_seconds = since(t);
  s.mean_assignments = static_cast<double>(blocks.rows.size()) / n;
  for (int c = 0; c < k; ++c) s.max_bucket = std::max(s.max_bucket, blocks.offsets[c + 1] - blocks.offsets[c]);

  // Anchors for the quality report are drawn before comparing, so the run records their pairs.
  std::vector<std::int64_t> anchors;
  RowSet watch;
  std::vector<RowPair> watched;
  if (p.check_sample > 0) {
    anchors = sample_rows(n, p.check_sample, p.seed ^ 0x9e3779b97f4a7c15ULL);
    watch = RowSet(n, anchors);
  }

  t = std::chrono::steady_clock::now();
  UnionFind groups(n);
  const CompareStats cs = compare_buckets(blocks, reader, test, groups, watch,
                                          anchors.empty() ? nullptr : &watched, p.n_threads, progress);
  s.compare_seconds = since(t);
  s.candidate_pairs = cs.candidate_pairs;
  s.pairs_compared = cs.pairs_compared;
  s.duplicate_pairs = cs.duplicate_pairs;
  s.brute_force_pairs = 0.5 * static_cast<double>(n) * static_cast<double>(n - 1);
  s.reduction = s.pairs_compared > 0 ? s.brute_force_pairs / s.pairs_compared : 0.0;
  s.index_bytes = blocks.bytes() + groups.bytes();
  blocks = Blocking();  // free the buckets before the O(N) outputs

  res.representative = groups.release_roots();
  {  // rows that point elsewhere, and the representatives they point to (groups of ≥ 2 rows)
    std::vector<char> has_member(static_cast<std::size_t>(n), 0);
    for (std::int64_t i = 0; i < n; ++i) {
      if (res.representative[i] == i) continue;
      ++s.rows_in_groups;
      has_member[res.representative[i]] = 1;
    }
    for (std::int64_t i = 0; i < n; ++i) s.groups += has_member[i];
    s.rows_in_groups += s.groups;
  }
  s.rows_kept = n - s.rows_in_groups + s.groups;

  if (!anchors.empty()) {
    t = std::chrono::steady_clock::now();
    std::int64_t comparisons = 0;
    const std::vector<RowPair> truth = brute_force_pairs(reader, anchors, test, progress, &comparisons);
    s.quality = score_pairs(truth, watched, res.representative, static_cast<std::int64_t>(anchors.size()));
    s.quality.brute_force_comparisons = comparisons;
    s.quality.seconds = since(t);
    s.check_seconds = s.quality.seconds;
    s.has_quality = true;
  }
  s.total_seconds = since(t0);
  s.peak_rss_bytes = peak_rss_bytes();
  return res;
}

}  // namespace flashgmm::dedup
