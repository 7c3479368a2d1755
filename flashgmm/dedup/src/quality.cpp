// flashgmm dedup: brute-force reference pairs for the quality report.
#include "quality.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

namespace flashgmm::dedup::detail {

std::vector<RowPair> brute_force_pairs(const RowReader& reader, const std::vector<std::int64_t>& anchors,
                                       const PairTest& test, const ProgressCallback& progress,
                                       std::int64_t* comparisons) {
  const std::int64_t n = reader.rows();
  const int d = reader.dim();
  const std::int64_t s = static_cast<std::int64_t>(anchors.size());
  std::vector<RowPair> out;
  if (comparisons) *comparisons = n * s;
  if (s == 0) return out;
  std::vector<float> a(static_cast<std::size_t>(s) * d);
  reader.gather(anchors.data(), s, a.data());
  std::vector<float> a_norm2(s);
  for (std::int64_t i = 0; i < s; ++i) a_norm2[i] = dot(&a[i * d], &a[i * d], d);

  // Products of a chunk against all anchors: about 16M floats of scores at a time.
  const std::int64_t chunk = std::clamp<std::int64_t>((std::int64_t{1} << 24) / s, 64, 65536);
  std::vector<float> x(static_cast<std::size_t>(std::min(chunk, n)) * d);
  std::vector<float> g(static_cast<std::size_t>(std::min(chunk, n)) * s);
  std::vector<float> x_norm2(std::min(chunk, n));
  for (std::int64_t begin = 0; begin < n; begin += chunk) {
    const std::int64_t c = std::min(chunk, n - begin);
    reader.read_checked(begin, c, x.data());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(c), static_cast<int>(s), d, 1.0f,
                x.data(), d, a.data(), d, 0.0f, g.data(), static_cast<int>(s));
    for (std::int64_t i = 0; i < c; ++i) x_norm2[i] = dot(&x[i * d], &x[i * d], d);
    for (std::int64_t i = 0; i < c; ++i) {
      const std::int64_t row = begin + i;
      const float* gi = &g[i * s];
      for (std::int64_t j = 0; j < s; ++j) {
        if (anchors[j] == row) continue;
        // Screen with a margin well above the GEMM's rounding (different summation order), then
        // decide exactly as the blocking run does.
        bool maybe;
        if (test.metric == Metric::cosine) {
          maybe = gi[j] >= test.cut - 1e-3f;
        } else {
          const float scale = x_norm2[i] + a_norm2[j];
          maybe = scale - 2.0f * gi[j] <= test.cut + 1e-3f * scale + 1e-30f;
        }
        if (maybe && test(&x[i * d], &a[j * d]))
          out.emplace_back(std::min(row, anchors[j]), std::max(row, anchors[j]));
      }
    }
    report(progress, "check", begin + c, n);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

QualityReport score_pairs(const std::vector<RowPair>& truth, const std::vector<RowPair>& found,
                          const std::vector<std::int64_t>& representative, std::int64_t anchors) {
  QualityReport q;
  q.anchors = anchors;
  q.true_pairs = static_cast<std::int64_t>(truth.size());
  q.found_pairs = static_cast<std::int64_t>(found.size());
  std::vector<RowPair> both;
  std::set_intersection(truth.begin(), truth.end(), found.begin(), found.end(), std::back_inserter(both));
  q.matched_pairs = static_cast<std::int64_t>(both.size());
  for (const RowPair& p : truth) q.grouped_pairs += representative[p.first] == representative[p.second];
  q.pair_recall = q.true_pairs ? static_cast<double>(q.matched_pairs) / q.true_pairs : 1.0;
  q.pair_precision = q.found_pairs ? static_cast<double>(q.matched_pairs) / q.found_pairs : 1.0;
  q.group_recall = q.true_pairs ? static_cast<double>(q.grouped_pairs) / q.true_pairs : 1.0;
  return q;
}

}  // namespace flashgmm::dedup::detail
