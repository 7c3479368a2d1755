// flashgmm over NCCL: the Communicator the GPUs of one fit sum their statistics with.
#pragma once

#include <nccl.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flashgmm/communicator.hpp"
#include "flashgmm/error.hpp"

namespace flashgmm::nccl {

/// How allreduce_sum combines the participants' vectors.
enum class NcclReduce {
  /// ncclAllReduce(ncclSum). Every participant receives the same bits (NCCL reduces each
  /// element once and broadcasts it); the summation order is NCCL's (ring or tree, chosen from
  /// the message size and the topology), so it is fixed on one machine but may change with the
  /// GPU count, the interconnect or the NCCL version. The default.
  allreduce,
  /// ncclAllGather of every participant's vector, then a host-side sum in rank order 0..R−1:
  /// the same bits on every machine (the MPI part's rank_order). R times the traffic.
  rank_order,
};

/// Thrown by a participant that stopped because another one failed (so the first real error
/// can be told apart from its consequences).
class ParticipantStopped : public Error {
 public:
  explicit ParticipantStopped(const std::string& what) : Error(what) {}
};

/// Set by anyone to make every communicator sharing it give up: a waiting or later
/// allreduce_sum aborts its NCCL communicator and throws ParticipantStopped.
using StopFlag = std::shared_ptr<std::atomic<bool>>;

/// Traffic counters of one participant.
struct NcclCommStats {
  std::int64_t calls = 0;          ///< allreduce_sum calls
  std::int64_t payload_bytes = 0;  ///< Σ n·sizeof(element)
  double seconds = 0.0;            ///< wall time inside allreduce_sum, waiting for peers included
};

/// flashgmm::Communicator over one NCCL communicator (one GPU). Each call copies the host
/// vector to a device buffer of that GPU, reduces it there, copies it back and waits for the
/// result; every NCCL and CUDA failure becomes flashgmm::Error naming the call. Collective
/// calls must be made by every participant in the same order; one participant's calls must
/// come from one thread at a time.
class NcclCommunicator final : public Communicator {
 public:
  /// Adopts `comm` (created for GPU `device`): it is destroyed with this object.
  NcclCommunicator(ncclComm_t comm, int device, StopFlag stop = nullptr,
                   NcclReduce algorithm = NcclReduce::allreduce);
  /// Destroys the NCCL communicator (ncclCommDestroy is collective: every participant must
  /// reach its destructor) unless it was aborted.
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(double* data, std::size_t n) override;
  void allreduce_sum(std::int64_t* data, std::size_t n) override;

  /// ncclCommAbort: ends this communicator's operations still running on the GPU (a peer that
  /// never arrives) without waiting for peers. Later allreduce_sum calls throw. Idempotent.
  void abort() noexcept;
  bool aborted() const { return aborted_; }

  int device() const { return device_; }
  NcclReduce algorithm() const { return algorithm_; }
  const NcclCommStats& stats() const { return stats_; }
  void reset_stats() { stats_ = NcclCommStats(); }

 private:
  template <typename T>
  void reduce(T* data, std::size_t n, ncclDataType_t type);
  void* device_buffer(std::size_t bytes);
  void* pinned_buffer(std::size_t bytes);
  void wait(const char* what);
  void check_not_stopped();

  ncclComm_t comm_ = nullptr;
  int device_ = 0;
  StopFlag stop_;
  NcclReduce algorithm_;
  int rank_ = 0, size_ = 1;
  bool aborted_ = false;
  void* stream_ = nullptr;  // cudaStream_t, kept out of this header
  void* buffer_ = nullptr;
  std::size_t buffer_bytes_ = 0;
  void* pinned_ = nullptr;  // host staging, page-locked
  std::size_t pinned_bytes_ = 0;
  NcclCommStats stats_;
};

/// Sets NCCL_NVLS_ENABLE=0 (NVLink multicast off, as the lent machines require) unless the
/// environment already sets it. Call before creating communicators, while no other thread
/// reads the environment. Returns the value in effect.
const char* disable_nvls_unless_set();

/// One communicator per GPU of `devices` in this process (ncclCommInitAll: participant i on
/// devices[i]), sharing `stop`. Calls disable_nvls_unless_set() and sets NCCL_RUNTIME_CONNECT=0
/// unless set (all connections made at creation: NCCL's lazy connection would block the first
/// collective on the host, where a failed peer cannot be noticed), then runs one small grouped
/// allreduce over all of them. Throws Error for an empty list, an unknown or repeated device,
/// or an NCCL failure. The calling thread's current device is left as it was.
std::vector<std::unique_ptr<NcclCommunicator>> make_local_communicators(
    const std::vector<int>& devices, StopFlag stop = nullptr, NcclReduce algorithm = NcclReduce::allreduce);

/// "allreduce" / "rank-order"; parse throws Error naming the bad value.
const char* to_string(NcclReduce a);
NcclReduce parse_nccl_reduce(const std::string& s);

}  // namespace flashgmm::nccl
