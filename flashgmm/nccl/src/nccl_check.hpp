// flashgmm over NCCL: every CUDA and NCCL call is checked; a failure becomes flashgmm::Error
// naming the call, the error string and (for NCCL) the library's last message.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

#include "flashgmm/error.hpp"

namespace flashgmm::nccl::detail {

inline std::string nccl_message(ncclResult_t r, ncclComm_t comm) {
  std::string m = ncclGetErrorString(r);
  const char* last = ncclGetLastError(comm);
  if (last && *last) m += std::string(" (") + last + ")";
  return m;
}

}  // namespace flashgmm::nccl::detail

#define FLASHGMM_NCCL_CUDA_CHECK(call)                                                       \
  do {                                                                                       \
    const cudaError_t flashgmm_ce_ = (call);                                                 \
    FLASHGMM_CHECK(flashgmm_ce_ == cudaSuccess, #call " failed: " << cudaGetErrorString(flashgmm_ce_)); \
  } while (0)

/// `comm` may be null (the messages of calls that have no communicator yet).
#define FLASHGMM_NCCL_CHECK(call, comm)                                                      \
  do {                                                                                       \
    const ncclResult_t flashgmm_nr_ = (call);                                                \
    FLASHGMM_CHECK(flashgmm_nr_ == ncclSuccess,                                              \
                   #call " failed: " << ::flashgmm::nccl::detail::nccl_message(flashgmm_nr_, comm)); \
  } while (0)
