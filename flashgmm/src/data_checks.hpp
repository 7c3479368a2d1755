// Checks of user data at the API boundary.
#pragma once

#include <cstdint>

#include "flashgmm/data_source.hpp"

namespace flashgmm::checks {

/// Throws Error naming the first row (0-based, + row_offset) holding NaN or ±Inf.
void require_finite(const DataSource& src, std::int64_t chunk_rows, std::int64_t row_offset = 0);
void require_finite(const float* x, std::int64_t n, int d, std::int64_t row_offset = 0);
/// Throws Error unless every weight is finite and ≥ 0; returns their sum.
double require_valid_weights(const float* w, std::int64_t n);

}  // namespace flashgmm::checks
