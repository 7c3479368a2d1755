// flashgmm dedup: the blocking step — a Gaussian mixture fitted on a sample, each row assigned
// to its most probable components, and the rows of each component listed (buckets).
#pragma once

#include <cstdint>
#include <vector>

#include "flashgmm/gaussian_mixture.hpp"
#include "flashgmm_dedup/dedup.hpp"
#include "row_reader.hpp"

namespace flashgmm::dedup::detail {

/// Components per row and rows per component. Memory: N·m int32 + (N·a + K) int64.
struct Blocking {
  int n_components = 0;
  int m = 1;                              ///< slots per row
  std::vector<std::int32_t> assignment;   ///< N·m: row i's components, most probable first, −1 = unused
  std::vector<std::int64_t> offsets;      ///< K+1: bucket c = rows[offsets[c] .. offsets[c+1])
  std::vector<std::int64_t> rows;         ///< bucket members, ascending within a bucket
  std::int64_t bytes() const {
    return static_cast<std::int64_t>(assignment.size() * sizeof(std::int32_t) +
                                     (offsets.size() + rows.size()) * sizeof(std::int64_t));
  }
};

/// The automatic component count: ⌊√N⌋, at most 4096 and N/32, at least 1.
int auto_components(std::int64_t n);

/// Fits the blocking mixture on a random sample of rows (read_checked: a bad row in the sample
/// is reported with its row number in the input).
GaussianMixture fit_blocking_mixture(const RowReader& reader, const DedupParams& p, int k,
                                     const ProgressCallback& progress);

/// The mixture whose posteriors are those of `m` at temperature t: covariances t·Σ_k, weights
/// ∝ w_k^(1/t)·|Σ_k|^((1−1/t)/2), so that log w'_k − ½log|tΣ_k| − ½d²/t equals
/// (log w_k − ½log|Σ_k| − ½d²)/t up to a constant.
Model tempered(const Model& m, double t);

/// Assigns every row (read_checked, in chunks of p.chunk_rows) to its top components: the first
/// always, the next ones while their posterior is ≥ p.min_posterior, at most p.max_assign.
Blocking assign_rows(const GaussianMixture& gmm, const RowReader& reader, const DedupParams& p,
                     const ProgressCallback& progress);

/// Calls progress and throws Error("dedup interrupted") when it returns false.
void report(const ProgressCallback& progress, const char* stage, std::int64_t done, std::int64_t total);

}  // namespace flashgmm::dedup::detail
