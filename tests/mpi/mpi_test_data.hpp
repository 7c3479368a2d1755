// Deterministic clustered data for the MPI tests: every rank can build the whole set.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace flashgmm::mpi_test {

/// n rows × d of k well-separated anisotropic clusters of unequal sizes (row-major).
inline std::vector<float> clustered(std::int64_t n, int d, int k, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<double> centers((size_t)k * d), scale((size_t)k * d);
  for (auto& c : centers) c = 8.0 * z(rng);
  for (auto& s : scale) s = 0.5 + std::fabs(z(rng));
  std::vector<float> x((size_t)n * d);
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = (int)((i * 7919) % (k + k / 2)) % k;  // unequal cluster sizes
    for (int j = 0; j < d; ++j) x[(size_t)i * d + j] = (float)(centers[(size_t)c * d + j] + scale[(size_t)c * d + j] * z(rng));
  }
  return x;
}

/// First row of each rank for an uneven split: rank r gets a share ∝ r + 1, except that
/// `empty_rank` (if ≥ 0) gets none. Offsets are multiples of `granule` (n should be too).
inline std::vector<std::int64_t> uneven_offsets(std::int64_t n, int ranks, int empty_rank,
                                                std::int64_t granule = 1) {
  std::vector<double> share(ranks);
  double total = 0;
  for (int r = 0; r < ranks; ++r) total += (share[r] = r == empty_rank ? 0.0 : r + 1.0);
  std::vector<std::int64_t> off(ranks + 1, 0);
  double acc = 0;
  for (int r = 0; r < ranks; ++r) {
    acc += share[r];
    off[r + 1] = r + 1 == ranks ? n : granule * (std::int64_t)std::llround(n * acc / total / granule);
  }
  return off;
}

}  // namespace flashgmm::mpi_test
