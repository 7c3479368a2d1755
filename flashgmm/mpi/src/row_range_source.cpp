#include "flashgmm_mpi/row_range_source.hpp"

#include "flashgmm/error.hpp"
#include "src/row_range.hpp"

namespace flashgmm::mpi {

RowRangeSource::RowRangeSource(std::shared_ptr<const DataSource> base, std::int64_t begin, std::int64_t count)
    : base_(std::move(base)), begin_(begin), count_(count) {
  FLASHGMM_CHECK(base_ != nullptr, "RowRangeSource: null source");
  FLASHGMM_CHECK(begin >= 0 && count >= 0 && begin <= base_->rows() && count <= base_->rows() - begin,
                 "row range [" << begin << ", " << begin + count << ") is outside " << base_->describe()
                               << " (" << base_->rows() << " rows)");
}

void RowRangeSource::read(std::int64_t begin, std::int64_t count, float* out) const {
  detail::check_row_range(begin, count, count_, out, describe());
  base_->read(begin_ + begin, count, out);
}

const float* RowRangeSource::contiguous() const {
  const float* p = base_->contiguous();
  return p ? p + (size_t)begin_ * (size_t)base_->dim() : nullptr;
}

std::string RowRangeSource::describe() const {
  return base_->describe() + " rows [" + std::to_string(begin_) + ", " + std::to_string(begin_ + count_) + ")";
}

RowSplit split_rows(std::int64_t n, int size, int rank) {
  FLASHGMM_CHECK(n >= 0 && size >= 1 && rank >= 0 && rank < size,
                 "split_rows: bad arguments n=" << n << ", size=" << size << ", rank=" << rank);
  // n·rank may exceed 2^63 only past 10^15 rows on 10^4 ranks; divide first to stay exact.
  auto at = [&](int r) { return (n / size) * r + (n % size) * r / size; };
  return RowSplit{at(rank), at(rank + 1) - at(rank)};
}

}  // namespace flashgmm::mpi
