// flashgmm: NumPy .npy files (format versions 1.0, 2.0, 3.0): header parsing, a memory-mapped
// 2-D float32/float64 source, and the writers declared in data_source.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flashgmm/data_source.hpp"

namespace flashgmm::detail {

/// What an .npy header says.
struct NpyHeader {
  std::string descr;                 ///< e.g. "<f4"
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  std::uint64_t data_offset = 0;     ///< bytes before the array data
};

/// Parses the header at the start of `bytes` (size `size`); `path` is for messages.
/// Throws Error on a bad magic, unknown version, or a header dictionary it cannot read.
NpyHeader parse_npy_header(const std::uint8_t* bytes, std::uint64_t size, const std::string& path);

/// Opens a 2-D C-order float32 or float64 .npy file, memory-mapped.
std::unique_ptr<DataSource> open_npy(const std::string& path);

}  // namespace flashgmm::detail
