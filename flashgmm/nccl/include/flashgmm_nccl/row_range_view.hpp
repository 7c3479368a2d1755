// flashgmm over NCCL: one participant's rows of a data source shared by the whole process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flashgmm/data_source.hpp"

namespace flashgmm::nccl {

/// Rows [begin, begin + count) of `base`, which the caller keeps alive (zero-copy when `base`
/// is contiguous). Thread-safe like every DataSource.
class RowRangeView final : public DataSource {
 public:
  RowRangeView(const DataSource& base, std::int64_t begin, std::int64_t count);
  std::int64_t rows() const override { return count_; }
  int dim() const override { return base_.dim(); }
  void read(std::int64_t begin, std::int64_t count, float* out) const override;
  const float* contiguous() const override;
  std::string describe() const override;

 private:
  const DataSource& base_;
  std::int64_t begin_, count_;
};

/// First row of each of `parts` contiguous ranges of n rows, in order, counts differing by at
/// most one; parts + 1 entries, the last being n.
std::vector<std::int64_t> split_rows(std::int64_t n, int parts);

}  // namespace flashgmm::nccl
