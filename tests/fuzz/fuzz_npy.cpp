// libFuzzer target: the .npy reader (header parser on bytes, then the memory-mapped source on a
// file): every input must either throw flashgmm::Error or open as a source whose rows can all be
// read, in chunks of any size, and match the file's bytes.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "flashgmm/error.hpp"
#include "fuzz_support.hpp"
#include "npy_format.hpp"

namespace {

// Reads every row in chunks of `chunk` rows and checks out-of-range reads are refused.
void read_all(const flashgmm::DataSource& src, std::int64_t chunk) {
  const std::int64_t n = src.rows();
  const int d = src.dim();
  FUZZ_REQUIRE(n >= 0 && d >= 1);
  // Zero rows can come with any width (shape (0, 10^9) holds no data): size the buffer by the
  // rows that exist, never by the width alone.
  std::vector<float> buf(n > 0 ? static_cast<std::size_t>(std::min(chunk, n)) * d : 1);
  for (std::int64_t b = 0; b < n; b += chunk) src.read(b, std::min(chunk, n - b), buf.data());
  bool refused = false;
  try {
    src.read(n, 1, buf.data());  // refused before anything is written
  } catch (const flashgmm::Error&) {
    refused = true;
  }
  FUZZ_REQUIRE(refused);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static flashgmm::fuzz::MemFile file;
  try {
    flashgmm::detail::parse_npy_header(data, size, "fuzz input");
  } catch (const flashgmm::Error&) {
  }
  try {
    const auto src = flashgmm::detail::open_npy(file.set(data, size));
    read_all(*src, 1 + static_cast<std::int64_t>(size % 7));
    const float* c = src->rows() > 0 ? src->contiguous() : nullptr;
    if (c) {
      // The zero-copy view must hold exactly what read() returns.
      const std::int64_t n = std::min<std::int64_t>(src->rows(), 4);
      std::vector<float> row(static_cast<std::size_t>(src->dim()));
      for (std::int64_t i = 0; i < n; ++i) {
        src->read(i, 1, row.data());
        FUZZ_REQUIRE(std::memcmp(row.data(), c + i * src->dim(), row.size() * sizeof(float)) == 0);
      }
    }
  } catch (const flashgmm::Error&) {
  }
  return 0;
}
