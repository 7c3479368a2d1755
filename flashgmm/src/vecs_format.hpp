// flashgmm: the TEXMEX .fvecs / .bvecs / .ivecs formats (SIFT1M, BIGANN, Deep1B): every row is a
// little-endian int32 dimension followed by that many float32 / uint8 / int32 values.
#pragma once

#include <memory>
#include <string>

#include "flashgmm/data_source.hpp"

namespace flashgmm::detail {

/// Memory-mapped .fvecs (float32) source; the per-row headers are stripped on read.
std::unique_ptr<DataSource> open_fvecs(const std::string& path);
/// Memory-mapped .bvecs (uint8) source; values are converted to float on read.
std::unique_ptr<DataSource> open_bvecs(const std::string& path);

}  // namespace flashgmm::detail
