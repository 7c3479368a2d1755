#include "flashgmm_nccl/row_range_view.hpp"

#include "flashgmm/error.hpp"
#include "src/row_range.hpp"

namespace flashgmm::nccl {

RowRangeView::RowRangeView(const DataSource& base, std::int64_t begin, std::int64_t count)
    : base_(base), begin_(begin), count_(count) {
  FLASHGMM_CHECK(begin >= 0 && count >= 0 && begin <= base.rows() && count <= base.rows() - begin,
                 "row range [" << begin << ", " << begin + count << ") is outside " << base.describe() << " ("
                               << base.rows() << " rows)");
}

void RowRangeView::read(std::int64_t begin, std::int64_t count, float* out) const {
  detail::check_row_range(begin, count, count_, out, describe());
  base_.read(begin_ + begin, count, out);
}

const float* RowRangeView::contiguous() const {
  const float* p = base_.contiguous();
  return p ? p + (std::size_t)begin_ * (std::size_t)base_.dim() : nullptr;
}

std::string RowRangeView::describe() const {
  return base_.describe() + " rows [" + std::to_string(begin_) + ", " + std::to_string(begin_ + count_) + ")";
}

std::vector<std::int64_t> split_rows(std::int64_t n, int parts) {
  FLASHGMM_CHECK(n >= 0 && parts >= 1, "split_rows: bad arguments n=" << n << ", parts=" << parts);
  std::vector<std::int64_t> first(parts + 1);
  // Divide first so that n·p cannot overflow.
  for (int p = 0; p <= parts; ++p) first[p] = (n / parts) * p + (n % parts) * p / parts;
  return first;
}

}  // namespace flashgmm::nccl
