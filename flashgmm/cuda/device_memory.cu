// flashgmm CUDA backend: budgeted device allocations, pinned host buffers, error messages.
#include <cstdio>

#include "cuda/cuda_check.cuh"
#include "cuda/device_memory.cuh"

namespace flashgmm::cuda {

void throw_cuda_error(cudaError_t e, const char* what, const char* file, int line) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "CUDA error %s (%s) in %s at %s:%d", cudaGetErrorName(e),
                cudaGetErrorString(e), what, file, line);
  throw Error(buf);
}

void throw_cublas_error(cublasStatus_t s, const char* what, const char* file, int line) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "cuBLAS error %s (%s) in %s at %s:%d", cublasGetStatusName(s),
                cublasGetStatusString(s), what, file, line);
  throw Error(buf);
}

std::string format_bytes(std::int64_t b) {
  char buf[64];
  if (b >= (std::int64_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(1 << 30));
  else if (b >= (1 << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / double(1 << 20));
  else
    std::snprintf(buf, sizeof buf, "%lld bytes", static_cast<long long>(b));
  return buf;
}

void* MemoryTracker::allocate(std::size_t bytes, const char* what) {
  if (bytes == 0) return nullptr;
  const auto b = static_cast<std::int64_t>(bytes);
  FLASHGMM_CHECK(in_use_ + b <= budget_,
                 "CUDA backend: out of GPU memory budget: " << what << " needs " << format_bytes(b)
                     << " (" << b << " bytes) but " << format_bytes(in_use_) << " of the "
                     << format_bytes(budget_)
                     << " budget are in use (Params::gpu_memory_budget; 0 = 90% of free memory)");
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error state of a failed allocation
    std::size_t free_b = 0, total_b = 0;
    (void)cudaMemGetInfo(&free_b, &total_b);
    FLASHGMM_THROW("CUDA backend: out of GPU memory: cudaMalloc of "
                   << format_bytes(b) << " (" << b << " bytes) for " << what << " failed ("
                   << cudaGetErrorString(e) << "); " << format_bytes(std::int64_t(free_b))
                   << " free of " << format_bytes(std::int64_t(total_b)));
  }
  in_use_ += b;
  if (in_use_ > peak_) peak_ = in_use_;
  return p;
}

void MemoryTracker::release(void* p, std::size_t bytes) {
  if (!p) return;
  cudaFree(p);  // errors at free time cannot be reported meaningfully (may run in destructors)
  in_use_ -= static_cast<std::int64_t>(bytes);
}

PinnedBuffer::PinnedBuffer(std::size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  cudaError_t e = cudaHostAlloc(&p_, bytes, cudaHostAllocDefault);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    p_ = nullptr;
    FLASHGMM_THROW("CUDA backend: cannot allocate " << format_bytes(std::int64_t(bytes))
                                                    << " of pinned host memory ("
                                                    << cudaGetErrorString(e) << ")");
  }
}

PinnedBuffer::~PinnedBuffer() {
  if (p_) cudaFreeHost(p_);
}

}  // namespace flashgmm::cuda
