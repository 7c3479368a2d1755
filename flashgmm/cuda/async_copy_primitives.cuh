// flashgmm CUDA backend: Hopper (sm_90) shared-memory barriers (mbarrier) and bulk copies from
// global to shared memory done by the copy engine (cp.async.bulk, one instruction per
// contiguous block, completion counted in bytes on an mbarrier). A pipeline slot is "full"
// once its bytes have arrived and "empty" once every consumer has arrived. Only meaningful in
// code compiled for __CUDA_ARCH__ >= 900.
#pragma once

#include <cstdint>

#include "cuda/mma_primitives.cuh"

namespace flashgmm::cuda::sm90 {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

__device__ __forceinline__ void mbar_init(std::uint64_t* bar, std::uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(mma::smem_addr(bar)), "r"(count)
               : "memory");
}
/// Makes initialised barriers visible to the copy engine (before the first bulk copy).
__device__ __forceinline__ void mbar_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void mbar_arrive(std::uint64_t* bar) {
  asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.shared::cta.b64 st, [%0];\n}\n" ::"r"(
                   mma::smem_addr(bar))
               : "memory");
}
/// Arrives and announces `bytes` more to come by bulk copies completing on this barrier.
__device__ __forceinline__ void mbar_arrive_expect_tx(std::uint64_t* bar, std::uint32_t bytes) {
  asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.expect_tx.shared::cta.b64 st, [%0], %1;\n}\n" ::"r"(
                   mma::smem_addr(bar)),
               "r"(bytes)
               : "memory");
}
/// Waits until the barrier's phase with this parity has completed.
__device__ __forceinline__ void mbar_wait(std::uint64_t* bar, std::uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\nwait_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait_%=;\n}\n" ::"r"(mma::smem_addr(bar)),
      "r"(parity)
      : "memory");
}
/// Copies `bytes` (a multiple of 16; both addresses 16-byte aligned) global → shared; the
/// bytes complete on `bar`.
__device__ __forceinline__ void bulk_copy_g2s(void* dst, const void* src, std::uint32_t bytes,
                                              std::uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
          mma::smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(mma::smem_addr(bar))
      : "memory");
}

#endif

}  // namespace flashgmm::cuda::sm90
