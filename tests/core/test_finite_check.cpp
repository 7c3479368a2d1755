// The finiteness check of sources without a contiguous view reads each chunk with several
// threads: it must still name the first bad row (not the first one a thread happened to find),
// wherever it lies relative to the chunk and thread slices, and pass a reader's error through.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "flashgmm/flashgmm.hpp"

namespace flashgmm {
namespace {

class Streamed final : public DataSource {
 public:
  Streamed(std::vector<float> x, int d, std::int64_t fail_at = -1)
      : x_(std::move(x)), d_(d), fail_at_(fail_at) {}
  std::int64_t rows() const override { return std::int64_t(x_.size()) / d_; }
  int dim() const override { return d_; }
  void read(std::int64_t b, std::int64_t c, float* out) const override {
    if (fail_at_ >= b && fail_at_ < b + c) FLASHGMM_THROW("simulated read failure at row " << fail_at_);
    std::copy_n(x_.data() + b * d_, c * d_, out);
  }
  std::string describe() const override { return "streamed test rows"; }

 private:
  std::vector<float> x_;
  int d_;
  std::int64_t fail_at_;
};

std::vector<float> rows(std::int64_t n, int d) {
  std::vector<float> x(std::size_t(n) * d);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 97) * 0.01f;
  return x;
}

Params small_params() {
  Params p;
  p.n_components = 2;
  p.max_iter = 2;
  p.chunk_rows = 1000;  // many chunks, several thread slices per chunk
  return p;
}

std::string fit_error(const DataSource& src) {
  try {
    GaussianMixture g(small_params());
    g.fit(src);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(FiniteCheck, NamesTheFirstBadRowOfAStreamedSource) {
  const std::int64_t n = 100003;
  const int d = 5;
  // Bad rows late in a chunk followed by one earlier in a later thread slice, first row, last row.
  for (std::int64_t first : {std::int64_t(0), std::int64_t(999), std::int64_t(4321), std::int64_t(77777), n - 1}) {
    std::vector<float> x = rows(n, d);
    x[std::size_t(first) * d + 3] = std::numeric_limits<float>::quiet_NaN();
    if (first + 5000 < n) x[std::size_t(first + 5000) * d] = std::numeric_limits<float>::infinity();
    if (first + 1 < n) x[std::size_t(n - 1) * d + 1] = -std::numeric_limits<float>::infinity();
    const std::string msg = fit_error(Streamed(std::move(x), d));
    EXPECT_NE(msg.find("row " + std::to_string(first) + " is not finite"), std::string::npos)
        << "first bad row " << first << ": " << msg;
  }
}

TEST(FiniteCheck, PassesAReaderErrorThrough) {
  const std::string msg = fit_error(Streamed(rows(50000, 3), 3, 31337));
  EXPECT_NE(msg.find("simulated read failure at row 31337"), std::string::npos) << msg;
}

TEST(FiniteCheck, AcceptsFiniteStreamedData) {
  GaussianMixture g(small_params());
  EXPECT_NO_THROW(g.fit(Streamed(rows(20000, 4), 4)));
}

}  // namespace
}  // namespace flashgmm
