// flashgmm dedup: Floyd's sampling without replacement, O(count) memory when sparse.
#include "sampling.hpp"

#include <algorithm>
#include <random>
#include <unordered_set>

namespace flashgmm::dedup::detail {

std::vector<std::int64_t> sample_rows(std::int64_t n, std::int64_t count, std::uint64_t seed) {
  std::vector<std::int64_t> out;
  if (count >= n) {
    out.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) out[i] = i;
    return out;
  }
  std::mt19937_64 rng(seed);
  out.reserve(static_cast<std::size_t>(count));
  if (count * 8 > n) {  // dense: a bitmap over n is small next to the sample
    std::vector<char> taken(static_cast<std::size_t>(n), 0);
    for (std::int64_t j = n - count; j < n; ++j) {
      std::int64_t t = std::uniform_int_distribution<std::int64_t>(0, j)(rng);
      if (taken[t]) t = j;
      taken[t] = 1;
    }
    for (std::int64_t i = 0; i < n; ++i)
      if (taken[i]) out.push_back(i);
    return out;
  }
  std::unordered_set<std::int64_t> taken;
  taken.reserve(static_cast<std::size_t>(count) * 2);
  for (std::int64_t j = n - count; j < n; ++j) {
    std::int64_t t = std::uniform_int_distribution<std::int64_t>(0, j)(rng);
    if (!taken.insert(t).second) taken.insert(j);
  }
  out.assign(taken.begin(), taken.end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace flashgmm::dedup::detail
