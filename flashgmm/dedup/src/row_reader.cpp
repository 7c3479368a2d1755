// flashgmm dedup: checked and normalised row reads.
#include "row_reader.hpp"

#include <cmath>
#include <cstring>

#include "flashgmm/error.hpp"

namespace flashgmm::dedup::detail {

RowReader::RowReader(const DataSource& data, Metric metric)
    : data_(data), direct_(data.contiguous()), rows_(data.rows()), dim_(data.dim()), metric_(metric) {}

void RowReader::prepare(float* x, std::int64_t count, std::int64_t first_row, bool check) const {
  const int d = dim_;
  for (std::int64_t i = 0; i < count; ++i) {
    float* r = x + i * d;
    double ss = 0.0;
    for (int j = 0; j < d; ++j) ss += static_cast<double>(r[j]) * r[j];
    // A float32 square summed in double cannot overflow, so ss is finite iff the row is.
    if (check)
      FLASHGMM_CHECK(std::isfinite(ss), data_.describe() << ": row " << first_row + i
                                                         << " contains NaN or infinity");
    if (metric_ != Metric::cosine) continue;
    if (check)
      FLASHGMM_CHECK(ss > 0.0, data_.describe() << ": row " << first_row + i
                                                << " is all zeros; cosine similarity is undefined for it "
                                                   "(remove it or use --radius / metric l2)");
    const float inv = static_cast<float>(1.0 / std::sqrt(ss));
    for (int j = 0; j < d; ++j) r[j] *= inv;
  }
}

void RowReader::read_checked(std::int64_t begin, std::int64_t count, float* out) const {
  data_.read(begin, count, out);
  prepare(out, count, begin, true);
}

void RowReader::gather(const std::int64_t* ids, std::int64_t count, float* out) const {
  const std::size_t row_floats = static_cast<std::size_t>(dim_);
  std::int64_t i = 0;
  while (i < count) {
    std::int64_t run = 1;
    while (i + run < count && ids[i + run] == ids[i] + run) ++run;
    float* dst = out + static_cast<std::size_t>(i) * row_floats;
    if (direct_) {
      std::memcpy(dst, direct_ + static_cast<std::size_t>(ids[i]) * row_floats, run * row_floats * sizeof(float));
    } else {
      data_.read(ids[i], run, dst);
    }
    i += run;
  }
  prepare(out, count, 0, false);
}

float dot(const float* a, const float* b, int d) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < d; ++j) s += a[j] * b[j];
  return s;
}

float squared_distance(const float* a, const float* b, int d) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < d; ++j) {
    const float t = a[j] - b[j];
    s += t * t;
  }
  return s;
}

PairTest::PairTest(Metric m, double threshold, int d)
    : metric(m),
      // Unit rows carry float32 rounding: a row's dot with an identical copy can be 1 − 1e-7, so
      // cosine cuts get kCosineTolerance of slack (threshold 1 then means "same direction").
      cut(m == Metric::cosine ? static_cast<float>(threshold - kCosineTolerance)
                              : static_cast<float>(threshold * threshold)),
      dim(d) {}

}  // namespace flashgmm::dedup::detail
