// flashgmm CUDA backend: deterministic reductions.
#include "cuda/cuda_check.cuh"
#include "cuda/reduce_kernels.cuh"

namespace flashgmm::cuda {
namespace {

__global__ void add_float_to_double_kernel(double* __restrict__ dst, const float* __restrict__ src,
                                           std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    dst[i] += double(src[i]);
}

// One block of 256 threads: thread t sums t, t+256, ... then a fixed tree.
__global__ void sum_into_kernel(double* __restrict__ dst, const double* __restrict__ src,
                                std::int64_t n) {
  __shared__ double part[8];
  double v = 0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) v += src[i];
  v = warp_sum(v);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    double s = 0;
    for (int i = 0; i < 8; ++i) s += part[i];
    *dst += s;
  }
}

}  // namespace

void add_float_to_double(double* dst, const float* src, std::int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  const int threads = 256;
  const std::int64_t blocks = std::min<std::int64_t>((n + threads - 1) / threads, 4096);
  add_float_to_double_kernel<<<int(blocks), threads, 0, s>>>(dst, src, n);
  FLASHGMM_CUDA_CHECK_LAUNCH();
}

void sum_into(double* dst, const double* src, std::int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  sum_into_kernel<<<1, 256, 0, s>>>(dst, src, n);
  FLASHGMM_CUDA_CHECK_LAUNCH();
}

}  // namespace flashgmm::cuda
