// libFuzzer target: the .fvecs / .bvecs / .ivecs readers. The first byte picks the format, the
// rest is the file. Every input must either throw flashgmm::Error or open as a source whose rows
// can all be read (a row with a different dimension header is an Error on read, not a crash).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "flashgmm/data_source.hpp"
#include "flashgmm/error.hpp"
#include "fuzz_support.hpp"
#include "vecs_format.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static flashgmm::fuzz::MemFile file;
  if (size == 0) return 0;
  const int format = data[0] % 3;
  const std::string& path = file.set(data + 1, size - 1);
  try {
    if (format == 2) {
      const flashgmm::IntMatrix m = flashgmm::read_ivecs(path);
      FUZZ_REQUIRE(m.rows >= 0 && m.cols >= 1 &&
                   m.data.size() == static_cast<std::size_t>(m.rows) * static_cast<std::size_t>(m.cols));
      return 0;
    }
    const auto src = format == 0 ? flashgmm::detail::open_fvecs(path) : flashgmm::detail::open_bvecs(path);
    const std::int64_t n = src->rows();
    const int d = src->dim();
    FUZZ_REQUIRE(n >= 1 && d >= 1);
    const std::int64_t chunk = 1 + static_cast<std::int64_t>(size % 5);
    std::vector<float> buf(static_cast<std::size_t>(std::min(chunk, n)) * d);
    for (std::int64_t b = 0; b < n; b += chunk) {
      try {
        src->read(b, std::min(chunk, n - b), buf.data());
      } catch (const flashgmm::Error&) {  // a corrupted row header: the rest may still be read
      }
    }
  } catch (const flashgmm::Error&) {
  }
  return 0;
}
