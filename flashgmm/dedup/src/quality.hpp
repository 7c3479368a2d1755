// flashgmm dedup: the quality report — brute-force exact comparison of sampled rows ("anchors")
// against every row, checked against what the blocking run found.
#pragma once

#include <cstdint>
#include <vector>

#include "compare.hpp"
#include "flashgmm_dedup/dedup.hpp"
#include "row_reader.hpp"

namespace flashgmm::dedup::detail {

/// Every pair (anchor, row), row ≠ anchor, within the threshold, as sorted unique
/// (smaller, larger) pairs. A GEMM screens all N·S products with a safety margin; survivors are
/// decided by `test`, the same function the blocking run uses. *comparisons gets N·S.
std::vector<RowPair> brute_force_pairs(const RowReader& reader, const std::vector<std::int64_t>& anchors,
                                       const PairTest& test, const ProgressCallback& progress,
                                       std::int64_t* comparisons);

/// Recall / precision of `found` (similar pairs the run evaluated, involving an anchor) against
/// `truth`, and how many true pairs share a group in `representative`.
QualityReport score_pairs(const std::vector<RowPair>& truth, const std::vector<RowPair>& found,
                          const std::vector<std::int64_t>& representative, std::int64_t anchors);

}  // namespace flashgmm::dedup::detail
