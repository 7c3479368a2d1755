// flashgmm dedup: rows of a DataSource as the metric wants them (unit length for cosine), with
// the input checks that name the offending row.
#pragma once

#include <cstdint>
#include <vector>

#include "flashgmm/data_source.hpp"
#include "flashgmm_dedup/dedup.hpp"

namespace flashgmm::dedup::detail {

class RowReader {
 public:
  RowReader(const DataSource& data, Metric metric);

  std::int64_t rows() const { return rows_; }
  int dim() const { return dim_; }
  Metric metric() const { return metric_; }

  /// Rows [begin, begin+count) into out, checked (Error naming the first NaN/inf row, or a zero
  /// row under cosine) and normalised for cosine.
  void read_checked(std::int64_t begin, std::int64_t count, float* out) const;

  /// The listed rows (ascending ids read fastest: consecutive runs are read at once) into out,
  /// normalised for cosine, unchecked (rows already passed read_checked).
  void gather(const std::int64_t* ids, std::int64_t count, float* out) const;

 private:
  void prepare(float* x, std::int64_t count, std::int64_t first_row, bool check) const;

  const DataSource& data_;
  const float* direct_;  // the whole matrix when the source is contiguous float32
  std::int64_t rows_;
  int dim_;
  Metric metric_;
};

/// Similarity of two prepared rows: the dot product (cosine on unit rows) or the squared
/// Euclidean distance. One implementation for the blocking run and the brute-force check, so
/// both decide borderline pairs identically.
float dot(const float* a, const float* b, int d);
float squared_distance(const float* a, const float* b, int d);

/// Slack on cosine cuts for float32 rounding of unit rows.
constexpr double kCosineTolerance = 1e-6;

/// Whether a pair of prepared rows is a near duplicate under the metric: dot ≥ threshold
/// (cosine, less kCosineTolerance), or squared distance ≤ threshold² (l2).
struct PairTest {
  Metric metric;
  float cut;  // threshold (cosine) or radius² (l2)
  int dim;
  PairTest(Metric m, double threshold, int d);
  bool operator()(const float* a, const float* b) const {
    return metric == Metric::cosine ? dot(a, b, dim) >= cut : squared_distance(a, b, dim) <= cut;
  }
};

}  // namespace flashgmm::dedup::detail
