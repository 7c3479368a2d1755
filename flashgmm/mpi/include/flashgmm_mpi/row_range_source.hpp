// flashgmm over MPI: one rank's row range of a data file that all ranks share.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "flashgmm/data_source.hpp"

namespace flashgmm::mpi {

/// Rows [begin, begin + count) of another source (zero-copy when that one is contiguous).
class RowRangeSource final : public DataSource {
 public:
  RowRangeSource(std::shared_ptr<const DataSource> base, std::int64_t begin, std::int64_t count);
  std::int64_t rows() const override { return count_; }
  int dim() const override { return base_->dim(); }
  void read(std::int64_t begin, std::int64_t count, float* out) const override;
  const float* contiguous() const override;
  std::string describe() const override;

 private:
  std::shared_ptr<const DataSource> base_;
  std::int64_t begin_, count_;
};

/// Rank `rank` of `size` gets rows [first, first + count) of n: contiguous, in rank order,
/// counts differing by at most one.
struct RowSplit {
  std::int64_t first = 0, count = 0;
};
RowSplit split_rows(std::int64_t n, int size, int rank);

}  // namespace flashgmm::mpi
