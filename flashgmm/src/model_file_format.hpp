// flashgmm: layout of the binary model file (shared by model_io.cpp and the tests that craft
// damaged files). All integers and doubles little-endian:
//   offset  0  magic "FGMMODEL"              8 bytes
//   offset  8  u32 format version (1)
//   offset 12  u32 covariance type (CovarianceType's value: 0 spherical .. 3 tied)
//   offset 16  u64 K (n_components)
//   offset 24  u64 D (dim)
//   offset 32  u64 payload size in doubles = K + K·D + 2·covariance_size(type, K, D)
//   offset 40  doubles: weights, means, covariances, precisions_cholesky
//   end - 8    u64 checksum of every byte before it (model_file_checksum)
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace flashgmm::detail {

constexpr char kModelMagic[8] = {'F', 'G', 'M', 'M', 'O', 'D', 'E', 'L'};
constexpr std::uint32_t kModelFormatVersion = 1;
constexpr std::size_t kModelHeaderBytes = 40;
constexpr std::size_t kModelChecksumBytes = 8;

/// FNV-1a (64-bit offset basis and prime) over 64-bit little-endian words rather than bytes:
/// 8× faster on large full-covariance models. Each step h ← (h ⊕ w)·prime is a bijection of h for
/// a fixed word (the prime is odd), so any change confined to one word always changes the result.
/// `n` must be a multiple of 8 (the format guarantees it).
inline std::uint64_t model_file_checksum(const std::uint8_t* bytes, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, bytes + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
  }
  return h;
}

}  // namespace flashgmm::detail
