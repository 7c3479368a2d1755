// Shared helpers of the NCCL tests: skipping on too few GPUs, clustered data, model comparison.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "flashgmm/model.hpp"
#include "flashgmm_nccl/multi_gpu_fit.hpp"

namespace flashgmm::nccl_test {

/// Skips the calling test unless at least n CUDA devices are visible, saying how many were
/// found and why.
#define FLASHGMM_REQUIRE_GPUS(n)                                                                 \
  do {                                                                                           \
    std::string flashgmm_why_;                                                                   \
    const int flashgmm_found_ = ::flashgmm::nccl::cuda_device_count(&flashgmm_why_);             \
    if (flashgmm_found_ < (n))                                                                   \
      GTEST_SKIP() << "needs " << (n) << " CUDA devices, found " << flashgmm_found_ << ": "      \
                   << (flashgmm_found_ == 0 ? flashgmm_why_ : std::string("this machine has fewer GPUs")); \
  } while (0)

inline int gpu_count() { return ::flashgmm::nccl::cuda_device_count(nullptr); }

/// n rows × d of k well-separated clusters of unequal sizes and spreads (row-major).
inline std::vector<float> clustered(std::int64_t n, int d, int k, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<double> centers((size_t)k * d), scale((size_t)k * d);
  for (auto& c : centers) c = 6.0 * z(rng);
  for (auto& s : scale) s = 0.5 + 0.5 * std::fabs(z(rng));
  std::vector<float> x((size_t)n * d);
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = (int)((i * 7919) % (k + k / 2)) % k;
    for (int j = 0; j < d; ++j)
      x[(size_t)i * d + j] = (float)(centers[(size_t)c * d + j] + scale[(size_t)c * d + j] * z(rng));
  }
  return x;
}

/// max_i |a_i − b_i| / max(max_i |b_i|, tiny) (NaN anywhere gives +inf).
inline double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 1e-300;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return num / den;
}

inline bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

}  // namespace flashgmm::nccl_test
