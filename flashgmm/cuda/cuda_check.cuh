// flashgmm CUDA backend: every CUDA / cuBLAS call is checked; failures become flashgmm::Error
// (a user-visible condition such as a missing device or too little memory) naming the call.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "flashgmm/error.hpp"

namespace flashgmm::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t e, const char* what, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t s, const char* what, const char* file, int line);

}  // namespace flashgmm::cuda

#define FLASHGMM_CUDA_CHECK(call)                                                        \
  do {                                                                                   \
    cudaError_t flashgmm_e_ = (call);                                                    \
    if (flashgmm_e_ != cudaSuccess)                                                      \
      ::flashgmm::cuda::throw_cuda_error(flashgmm_e_, #call, __FILE__, __LINE__);        \
  } while (0)

#define FLASHGMM_CUBLAS_CHECK(call)                                                      \
  do {                                                                                   \
    cublasStatus_t flashgmm_s_ = (call);                                                 \
    if (flashgmm_s_ != CUBLAS_STATUS_SUCCESS)                                            \
      ::flashgmm::cuda::throw_cublas_error(flashgmm_s_, #call, __FILE__, __LINE__);      \
  } while (0)

/// After a kernel launch: a bad configuration shows up here, not at the launch.
#define FLASHGMM_CUDA_CHECK_LAUNCH() FLASHGMM_CUDA_CHECK(cudaGetLastError())
