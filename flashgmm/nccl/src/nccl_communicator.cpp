// NcclCommunicator: host vector → device buffer → NCCL sum → host, with a wait that gives up
// when another participant has failed.
//
// Why poll instead of cudaStreamSynchronize: an NCCL kernel whose peer never arrives (that peer
// threw) spins on the GPU forever, and a synchronize would wait with it. Polling lets this
// participant notice the shared stop flag or an asynchronous NCCL error, abort its communicator
// (which ends the kernel) and throw.
#include "flashgmm_nccl/nccl_communicator.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "nccl_check.hpp"

namespace flashgmm::nccl {

namespace {

using Clock = std::chrono::steady_clock;

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

// Restores the calling thread's current device on scope exit.
class DeviceGuard {
 public:
  DeviceGuard() { ok_ = cudaGetDevice(&saved_) == cudaSuccess; }
  ~DeviceGuard() {
    if (ok_) (void)cudaSetDevice(saved_);
  }

 private:
  int saved_ = 0;
  bool ok_ = false;
};

// One small allreduce on all communicators at once from this thread (a group), while every
// participant is certainly present: the GPUs are shown able to talk before any participant
// thread starts, and whatever NCCL still sets up on first use is done here.
void warm_up(const std::vector<ncclComm_t>& comms, const std::vector<int>& devices) {
  const std::size_t P = comms.size();
  std::vector<double*> bufs(P, nullptr);
  std::vector<cudaStream_t> streams(P, nullptr);
  auto release = [&] {
    for (std::size_t i = 0; i < P; ++i) {
      (void)cudaSetDevice(devices[i]);
      if (bufs[i]) (void)cudaFree(bufs[i]);
      if (streams[i]) (void)cudaStreamDestroy(streams[i]);
    }
  };
  try {
    for (std::size_t i = 0; i < P; ++i) {
      FLASHGMM_NCCL_CUDA_CHECK(cudaSetDevice(devices[i]));
      FLASHGMM_NCCL_CUDA_CHECK(cudaMalloc(&bufs[i], 64 * sizeof(double)));
      FLASHGMM_NCCL_CUDA_CHECK(cudaMemset(bufs[i], 0, 64 * sizeof(double)));
      FLASHGMM_NCCL_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[i], cudaStreamNonBlocking));
    }
    FLASHGMM_NCCL_CHECK(ncclGroupStart(), nullptr);
    ncclResult_t first = ncclSuccess;
    for (std::size_t i = 0; i < P && first == ncclSuccess; ++i)
      first = ncclAllReduce(bufs[i], bufs[i], 64, ncclFloat64, ncclSum, comms[i], streams[i]);
    const ncclResult_t end = ncclGroupEnd();
    FLASHGMM_NCCL_CHECK(first, comms[0]);
    FLASHGMM_NCCL_CHECK(end, comms[0]);
    for (std::size_t i = 0; i < P; ++i) {
      FLASHGMM_NCCL_CUDA_CHECK(cudaSetDevice(devices[i]));
      FLASHGMM_NCCL_CUDA_CHECK(cudaStreamSynchronize(streams[i]));
    }
  } catch (...) {
    release();
    throw;
  }
  release();
}

}  // namespace

NcclCommunicator::NcclCommunicator(ncclComm_t comm, int device, StopFlag stop, NcclReduce algorithm)
    : comm_(comm), device_(device), stop_(std::move(stop)), algorithm_(algorithm) {
  FLASHGMM_CHECK(comm_ != nullptr, "NcclCommunicator: null NCCL communicator");
  try {
    FLASHGMM_NCCL_CHECK(ncclCommUserRank(comm_, &rank_), comm_);
    FLASHGMM_NCCL_CHECK(ncclCommCount(comm_, &size_), comm_);
    int dev = -1;
    FLASHGMM_NCCL_CHECK(ncclCommCuDevice(comm_, &dev), comm_);
    FLASHGMM_CHECK(dev == device_, "NcclCommunicator: the NCCL communicator belongs to GPU " << dev
                                                                                           << ", not GPU " << device_);
    DeviceGuard keep;
    FLASHGMM_NCCL_CUDA_CHECK(cudaSetDevice(device_));
    cudaStream_t s = nullptr;
    FLASHGMM_NCCL_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    stream_ = s;
  } catch (...) {
    abort();  // we adopted comm: never leak it, never block on peers here
    throw;
  }
}

NcclCommunicator::~NcclCommunicator() {
  DeviceGuard keep;
  (void)cudaSetDevice(device_);
  if (stream_) {
    if (!aborted_) (void)cudaStreamSynchronize(as_stream(stream_));
    (void)cudaStreamDestroy(as_stream(stream_));
  }
  if (buffer_) (void)cudaFree(buffer_);
  if (pinned_) (void)cudaFreeHost(pinned_);
  if (comm_ && !aborted_) (void)ncclCommDestroy(comm_);
}

void NcclCommunicator::abort() noexcept {
  if (aborted_ || !comm_) return;
  DeviceGuard keep;
  (void)cudaSetDevice(device_);
  (void)ncclCommAbort(comm_);
  aborted_ = true;
  comm_ = nullptr;
}

void NcclCommunicator::allreduce_sum(double* data, std::size_t n) { reduce(data, n, ncclFloat64); }
void NcclCommunicator::allreduce_sum(std::int64_t* data, std::size_t n) { reduce(data, n, ncclInt64); }

void NcclCommunicator::check_not_stopped() {
  if (stop_ && stop_->load(std::memory_order_acquire)) {
    abort();
    throw ParticipantStopped("participant " + std::to_string(rank_) + " (GPU " + std::to_string(device_) +
                             ") stopped: another participant failed");
  }
}

void* NcclCommunicator::device_buffer(std::size_t bytes) {
  if (bytes <= buffer_bytes_) return buffer_;
  if (buffer_) FLASHGMM_NCCL_CUDA_CHECK(cudaFree(buffer_));
  buffer_ = nullptr, buffer_bytes_ = 0;
  // Grow geometrically: the statistics vector has the same length every iteration, but the
  // first calls (shapes, verdicts, init sample) are shorter.
  const std::size_t want = std::max(bytes, std::size_t(1) << 16);
  const cudaError_t e = cudaMalloc(&buffer_, want);
  if (e != cudaSuccess) {
    buffer_ = nullptr;
    FLASHGMM_THROW("NcclCommunicator: cudaMalloc of " << want << " bytes on GPU " << device_
                                                      << " failed: " << cudaGetErrorString(e));
  }
  buffer_bytes_ = want;
  return buffer_;
}

void* NcclCommunicator::pinned_buffer(std::size_t bytes) {
  if (bytes <= pinned_bytes_) return pinned_;
  if (pinned_) FLASHGMM_NCCL_CUDA_CHECK(cudaFreeHost(pinned_));
  pinned_ = nullptr, pinned_bytes_ = 0;
  const std::size_t want = std::max(bytes, std::size_t(1) << 16);
  const cudaError_t e = cudaMallocHost(&pinned_, want);
  if (e != cudaSuccess) {
    pinned_ = nullptr;
    FLASHGMM_THROW("NcclCommunicator: cudaMallocHost of " << want << " bytes failed: " << cudaGetErrorString(e));
  }
  pinned_bytes_ = want;
  return pinned_;
}

void NcclCommunicator::wait(const char* what) {
  const cudaStream_t s = as_stream(stream_);
  int spins = 0;
  for (;;) {
    const cudaError_t e = cudaStreamQuery(s);
    if (e == cudaSuccess) return;
    if (e != cudaErrorNotReady) {
      (void)cudaGetLastError();
      abort();
      FLASHGMM_THROW(what << " on GPU " << device_ << " failed: " << cudaGetErrorString(e));
    }
    ncclResult_t async = ncclSuccess;
    const ncclResult_t r = ncclCommGetAsyncError(comm_, &async);
    if (r != ncclSuccess || (async != ncclSuccess && async != ncclInProgress)) {
      const std::string msg = detail::nccl_message(r != ncclSuccess ? r : async, comm_);
      abort();
      FLASHGMM_THROW(what << " on GPU " << device_ << " failed: NCCL asynchronous error: " << msg);
    }
    check_not_stopped();
    // The reduction itself takes microseconds to a few milliseconds: spin first, then sleep
    // briefly so that a participant waiting for a slow peer does not burn a core.
    if (++spins > 200) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

template <typename T>
void NcclCommunicator::reduce(T* data, std::size_t n, ncclDataType_t type) {
  FLASHGMM_CHECK(!aborted_, "NcclCommunicator (participant " << rank_ << ", GPU " << device_
                                                             << "): the communicator was aborted after an earlier failure");
  FLASHGMM_CHECK(data != nullptr || n == 0, "allreduce_sum: null buffer for " << n << " elements");
  check_not_stopped();
  const auto t0 = Clock::now();
  ++stats_.calls;
  stats_.payload_bytes += (std::int64_t)(n * sizeof(T));
  if (n == 0) return;
  FLASHGMM_NCCL_CUDA_CHECK(cudaSetDevice(device_));
  const cudaStream_t s = as_stream(stream_);
  const std::size_t bytes = n * sizeof(T);
  // Copies go through pinned memory: a copy into pageable memory would return only once the
  // NCCL kernel before it is done, i.e. never if a peer has failed. Any failure from here on
  // may leave a collective in flight on this GPU: abort it rather than leave it to block the
  // next device-wide synchronisation (a cudaFree) forever.
  try {
    if (algorithm_ == NcclReduce::allreduce) {
      void* buf = device_buffer(bytes);
      T* pin = static_cast<T*>(pinned_buffer(bytes));
      std::memcpy(pin, data, bytes);
      FLASHGMM_NCCL_CUDA_CHECK(cudaMemcpyAsync(buf, pin, bytes, cudaMemcpyHostToDevice, s));
      FLASHGMM_NCCL_CHECK(ncclAllReduce(buf, buf, n, type, ncclSum, comm_, s), comm_);
      FLASHGMM_NCCL_CUDA_CHECK(cudaMemcpyAsync(pin, buf, bytes, cudaMemcpyDeviceToHost, s));
      wait("ncclAllReduce");
      std::memcpy(data, pin, bytes);
    } else {
      // Gather every participant's vector, then add them in rank order on the host: the result
      // depends on the shards alone, not on NCCL's algorithm.
      const std::size_t all_bytes = bytes * (std::size_t)size_;
      char* buf = static_cast<char*>(device_buffer(bytes + all_bytes));
      T* pin = static_cast<T*>(pinned_buffer(all_bytes));
      std::memcpy(pin, data, bytes);
      FLASHGMM_NCCL_CUDA_CHECK(cudaMemcpyAsync(buf, pin, bytes, cudaMemcpyHostToDevice, s));
      FLASHGMM_NCCL_CHECK(ncclAllGather(buf, buf + bytes, n, type, comm_, s), comm_);
      FLASHGMM_NCCL_CUDA_CHECK(cudaMemcpyAsync(pin, buf + bytes, all_bytes, cudaMemcpyDeviceToHost, s));
      wait("ncclAllGather");
      for (std::size_t i = 0; i < n; ++i) {
        T acc = pin[i];
        for (int r = 1; r < size_; ++r) acc += pin[(std::size_t)r * n + i];
        data[i] = acc;
      }
    }
  } catch (...) {
    abort();
    throw;
  }
  stats_.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
}

const char* disable_nvls_unless_set() {
  if (const char* v = std::getenv("NCCL_NVLS_ENABLE")) return v;
  setenv("NCCL_NVLS_ENABLE", "0", 0);
  const char* v = std::getenv("NCCL_NVLS_ENABLE");
  return v ? v : "";
}

std::vector<std::unique_ptr<NcclCommunicator>> make_local_communicators(const std::vector<int>& devices,
                                                                        StopFlag stop, NcclReduce algorithm) {
  FLASHGMM_CHECK(!devices.empty(), "no GPUs given for the NCCL communicators");
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    FLASHGMM_THROW("no CUDA device: " << cudaGetErrorString(e));
  }
  std::set<int> seen;
  for (int d : devices) {
    FLASHGMM_CHECK(d >= 0 && d < count, "GPU " << d << " does not exist (" << count << " CUDA devices visible)");
    FLASHGMM_CHECK(seen.insert(d).second, "GPU " << d << " is listed twice; each GPU takes one participant");
  }
  disable_nvls_unless_set();
  // Connect every algorithm's channels inside ncclCommInitAll: with NCCL's lazy connection the
  // first collective of each kind blocks on the host until all peers arrive, where a
  // participant could not notice that a peer failed.
  if (!std::getenv("NCCL_RUNTIME_CONNECT")) setenv("NCCL_RUNTIME_CONNECT", "0", 0);
  DeviceGuard keep;  // ncclCommInitAll switches devices
  std::vector<ncclComm_t> comms(devices.size(), nullptr);
  FLASHGMM_NCCL_CHECK(ncclCommInitAll(comms.data(), (int)devices.size(), devices.data()), nullptr);
  try {
    warm_up(comms, devices);
  } catch (...) {
    for (ncclComm_t c : comms) (void)ncclCommAbort(c);
    throw;
  }
  std::vector<std::unique_ptr<NcclCommunicator>> out;
  std::size_t i = 0;
  try {
    for (; i < devices.size(); ++i)
      out.push_back(std::make_unique<NcclCommunicator>(comms[i], devices[i], stop, algorithm));
  } catch (...) {
    // The constructor aborted comms[i]; abort the ones not adopted yet (destroy is collective).
    for (auto& c : out) c->abort();
    for (std::size_t j = i + 1; j < comms.size(); ++j) (void)ncclCommAbort(comms[j]);
    throw;
  }
  return out;
}

const char* to_string(NcclReduce a) { return a == NcclReduce::allreduce ? "allreduce" : "rank-order"; }

NcclReduce parse_nccl_reduce(const std::string& s) {
  if (s == "allreduce") return NcclReduce::allreduce;
  if (s == "rank-order") return NcclReduce::rank_order;
  FLASHGMM_THROW("unknown reduction '" << s << "'; expected allreduce or rank-order");
}

}  // namespace flashgmm::nccl
