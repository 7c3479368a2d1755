// flashgmm: the bounds check every DataSource::read() starts with.
#pragma once

#include <cstdint>
#include <string>

#include "flashgmm/error.hpp"

namespace flashgmm::detail {

inline void check_row_range(std::int64_t begin, std::int64_t count, std::int64_t rows,
                            const void* out, const std::string& what) {
  FLASHGMM_CHECK(begin >= 0 && count >= 0 && begin <= rows && count <= rows - begin,
                 "read of rows [" << begin << ", " << begin << " + " << count << ") out of range: "
                                  << what << " has " << rows << " rows");
  FLASHGMM_CHECK(out != nullptr || count == 0, "read into a null output buffer from " << what);
}

}  // namespace flashgmm::detail
