// flashgmm dedup: uniform random row samples.
#pragma once

#include <cstdint>
#include <vector>

namespace flashgmm::dedup::detail {

/// min(count, n) distinct row ids drawn uniformly from [0, n), ascending (Floyd's algorithm).
std::vector<std::int64_t> sample_rows(std::int64_t n, std::int64_t count, std::uint64_t seed);

}  // namespace flashgmm::dedup::detail
