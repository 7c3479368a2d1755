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

/// Merges a lane's running log-sum-exp state (max m, Σ exp(ℓ − m)) with the other lanes of its
/// quad (lanes 4g..4g+3, which hold other columns of the same rows in mma layouts).
__device__ __forceinline__ void lse_merge_quad(float& m, float& s) {
#pragma unroll
  for (int o = 1; o <= 2; o <<= 1) {
    const float om = __shfl_xor_sync(0xffffffffu, m, o);
    const float os = __shfl_xor_sync(0xffffffffu, s, o);
    const float nm = fmaxf(m, om);
    s = s * __expf(m - nm) + os * __expf(om - nm);
    m = nm;
  }
}

/// log Z = m + log s of one row, to `logz` (float32, for the statistics kernels) and `logz_out`
/// (float64, when asked); returns w·log Z for the log-likelihood.
__device__ __forceinline__ double emit_log_z(std::int64_t row, float m, float s,
                                             const float* __restrict__ w, float* __restrict__ logz,
                                             double* __restrict__ logz_out) {
  const double lz = double(m) + log(double(s));
  logz[row] = float(lz);
  if (logz_out) logz_out[row] = lz;
  return (w ? double(w[row]) : 1.0) * lz;
}

/// Sum of one value per thread of a block of NW warps, in a fixed order, to *out (thread 0
/// writes). Every thread of the block must call it.
template <int NW>
__device__ __forceinline__ void block_sum_ordered(double v, double* out) {
  __shared__ double part[NW];
  v = warp_sum(v);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    double s = 0;
    for (int i = 0; i < NW; ++i) s += part[i];
    *out = s;
  }
}

/// dst[i] += src[i] (float partials into float64 accumulators).
void add_float_to_double(double* dst, const float* src, std::int64_t n, cudaStream_t s);
/// *dst += Σ src[0..n) with one block in a fixed order.
void sum_into(double* dst, const double* src, std::int64_t n, cudaStream_t s);

}  // namespace flashgmm::cuda
