// flashgmm dedup: exact comparisons inside buckets. A pair of rows that share several components
// is compared only in the smallest shared one, so every candidate pair is compared once.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "blocking.hpp"
#include "row_reader.hpp"
#include "union_find.hpp"

namespace flashgmm::dedup::detail {

/// Rows whose similar pairs are recorded for the quality report.
class RowSet {
 public:
  RowSet() = default;
  RowSet(std::int64_t n, const std::vector<std::int64_t>& rows) : bits_((n + 63) / 64, 0) {
    for (std::int64_t r : rows) bits_[r >> 6] |= std::uint64_t{1} << (r & 63);
  }
  bool empty() const { return bits_.empty(); }
  bool contains(std::int64_t r) const { return (bits_[r >> 6] >> (r & 63)) & 1; }

 private:
  std::vector<std::uint64_t> bits_;
};

using RowPair = std::pair<std::int64_t, std::int64_t>;  // (smaller row, larger row)

struct CompareStats {
  std::int64_t candidate_pairs = 0;  ///< Σ b(b−1)/2 over buckets
  std::int64_t pairs_compared = 0;   ///< distinct pairs evaluated
  std::int64_t duplicate_pairs = 0;  ///< evaluated pairs within the threshold
};

/// Compares the pairs of every bucket (GEMM-screened tiles, survivors decided by `test`), merges similar pairs in `groups`, and appends the similar
/// pairs that involve a row of `watch` to *watched (sorted on return). Parallel over buckets.
CompareStats compare_buckets(const Blocking& blocks, const RowReader& reader, const PairTest& test,
                             UnionFind& groups, const RowSet& watch, std::vector<RowPair>* watched,
                             int n_threads, const ProgressCallback& progress);

/// The smallest component id present in both lists of m entries (−1 = unused), or −1.
inline std::int32_t smallest_shared(const std::int32_t* a, const std::int32_t* b, int m) {
  std::int32_t best = -1;
  for (int i = 0; i < m && a[i] >= 0; ++i)
    for (int j = 0; j < m && b[j] >= 0; ++j)
      if (a[i] == b[j] && (best < 0 || a[i] < best)) best = a[i];
  return best;
}

}  // namespace flashgmm::dedup::detail
