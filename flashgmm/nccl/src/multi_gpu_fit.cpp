// fit_multi_gpu: one thread per GPU, each running the core's distributed fit on its rows with
// an NcclCommunicator. The care is all in failure: a participant that throws must not leave
// the others inside a collective (they poll a shared stop flag and abort their communicators),
// and ncclCommDestroy is collective, so communicators are destroyed by their own threads, all
// at once, and only after every participant has finished (a barrier); after a failure they
// are aborted instead.
#include "flashgmm_nccl/multi_gpu_fit.hpp"

#include "cuda/cuda_backend.hpp"

#include <cuda_runtime.h>

#include <condition_variable>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <thread>

#include "flashgmm/error.hpp"
#include "flashgmm_nccl/row_range_view.hpp"
#include "nccl_check.hpp"

namespace flashgmm::nccl {

namespace {

// Every participant waits here until all have arrived (C++17 has no std::barrier).
class Barrier {
 public:
  explicit Barrier(int n) : left_(n) {}
  void arrive() {
    std::lock_guard<std::mutex> lock(m_);
    if (--left_ <= 0) cv_.notify_all();
  }
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(m_);
    if (--left_ <= 0) {
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return left_ <= 0; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int left_;
};

// The error to report: the first one that is not a consequence of another participant's.
class FirstError {
 public:
  void record(int participant, int device, std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(m_);
    const bool consequence = is_stopped(e);
    if (error_ && (consequence || !first_is_consequence_)) return;
    error_ = wrap(participant, device, e);
    first_is_consequence_ = consequence;
  }
  void rethrow_if_any() {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  static bool is_stopped(std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const ParticipantStopped&) {
      return true;
    } catch (...) {
      return false;
    }
  }
  // flashgmm::Error travels as is; anything else becomes an Error naming where it happened.
  static std::exception_ptr wrap(int participant, int device, std::exception_ptr e) {
    const std::string where = "participant " + std::to_string(participant) + " (GPU " + std::to_string(device) + "): ";
    try {
      std::rethrow_exception(e);
    } catch (const Error&) {
      return e;
    } catch (const std::exception& x) {
      return std::make_exception_ptr(Error(where + x.what()));
    } catch (...) {
      return std::make_exception_ptr(Error(where + "unknown exception"));
    }
  }

  std::mutex m_;
  std::exception_ptr error_;
  bool first_is_consequence_ = false;
};

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

bool same_model(const Model& a, const Model& b) {
  return same_bits(a.weights, b.weights) && same_bits(a.means, b.means) && same_bits(a.covariances, b.covariances) &&
         same_bits(a.precisions_cholesky, b.precisions_cholesky);
}

}  // namespace

int cuda_device_count(std::string* why) { return cuda::device_count(why); }

MultiGpuReport fit_multi_gpu(GaussianMixture& gm, const DataSource& data, const float* sample_weight,
                             const MultiGpuOptions& options) {
  std::string why;
  const int visible = cuda_device_count(&why);
  FLASHGMM_CHECK(visible > 0, "multi-GPU fit: " << why);
  std::vector<int> devices = options.devices;
  if (devices.empty()) {
    devices.resize(visible);
    std::iota(devices.begin(), devices.end(), 0);
  }
  const int P = (int)devices.size();
  const Params user = gm.params();
  Params p = user;
  p.backend = BackendKind::cuda;
  p.validate(data.dim());  // before NCCL starts: a bad parameter is reported once, cheaply
  const bool warm = p.warm_start && gm.fitted();

  MultiGpuReport report;
  report.nvls_enable = disable_nvls_unless_set();
  auto stop = std::make_shared<std::atomic<bool>>(false);
  std::vector<std::unique_ptr<NcclCommunicator>> comms = make_local_communicators(devices, stop, options.reduce);
  const std::vector<std::int64_t> first = split_rows(data.rows(), P);
  report.participants.resize(P);
  std::vector<std::unique_ptr<GaussianMixture>> fitted(P);
  FirstError error;
  Barrier finished(P);

  auto participant = [&](int i) {
    ParticipantReport& rep = report.participants[i];
    rep.device = devices[i];
    rep.first_row = first[i];
    rep.rows = first[i + 1] - first[i];
    try {
      FLASHGMM_NCCL_CUDA_CHECK(cudaSetDevice(devices[i]));  // the CUDA backend uses the current device
      Params pi = p;
      if (i > 0) pi.verbose = 0;
      auto g = std::make_unique<GaussianMixture>(pi);
      if (warm) g->set_model(gm.model());
      if (options.on_iteration)
        g->set_iteration_callback([&options, i](const IterationStats& s) { return options.on_iteration(i, s); });
      const RowRangeView local(data, rep.first_row, rep.rows);
      g->fit(local, sample_weight ? sample_weight + rep.first_row : nullptr, *comms[i]);
      rep.info = g->fit_info();
      fitted[i] = std::move(g);
    } catch (...) {
      error.record(i, devices[i], std::current_exception());
      stop->store(true, std::memory_order_release);
      comms[i]->abort();
    }
    rep.comm = comms[i]->stats();
    finished.arrive_and_wait();
    // Every participant sees the same flag here: all destroy (collectively) or all abort.
    if (stop->load(std::memory_order_acquire)) {
      comms[i]->abort();
    } else {
      comms[i].reset();
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(P);
  for (int i = 0; i < P; ++i) {
    try {
      threads.emplace_back(participant, i);
    } catch (...) {
      // No thread for participants i..P−1: stop the started ones, stand in at the barrier.
      error.record(i, devices[i], std::current_exception());
      stop->store(true, std::memory_order_release);
      for (int j = i; j < P; ++j) {
        comms[j]->abort();
        finished.arrive();
      }
      break;
    }
  }
  for (auto& t : threads) t.join();
  comms.clear();  // the aborted ones (nothing collective left)
  error.rethrow_if_any();

  for (int i = 1; i < P; ++i)
    FLASHGMM_CHECK(same_model(fitted[i]->model(), fitted[0]->model()),
                   "multi-GPU fit: participant " << i << " (GPU " << devices[i]
                                                 << ") ended with a model that differs from participant 0's");
  gm = std::move(*fitted[0]);
  gm.set_params(user);
  gm.set_iteration_callback(nullptr);  // participant 0's refers to `options`, which the caller may drop
  return report;
}

}  // namespace flashgmm::nccl
