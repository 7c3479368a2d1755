// flashgmm CUDA backend: small deterministic reduction helpers shared by the kernels. Every
// reduction here combines values in a fixed order, so results are bitwise repeatable.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace flashgmm::cuda {

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// dst[i] += src[i] (float partials into float64 accumulators).
void add_float_to_double(double* dst, const float* src, std::int64_t n, cudaStream_t s);
/// *dst += Σ src[0..n) with one block in a fixed order.
void sum_into(double* dst, const double* src, std::int64_t n, cudaStream_t s);

}  // namespace flashgmm::cuda
