// flashgmm CUDA backend: the Backend implementation (data movement: resident data, streamed
// chunks through pinned buffers on a copy stream) and the factory entry points.
#include "cuda/cuda_backend.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "cuda/cuda_check.cuh"
#include "cuda/device_memory.cuh"
#include "cuda/estep_engine.cuh"

namespace flashgmm::cuda {

int device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    if (why) *why = std::string("no CUDA device: ") + cudaGetErrorString(e);
    return 0;
  }
  if (n == 0 && why) *why = "no CUDA device: cudaGetDeviceCount reports none";
  return n;
}

namespace {

constexpr int kMaxDim = 4096;
constexpr int kSlots = 3;  // triple buffering: read chunk i+2 while i+1 copies and i computes

bool is_pinned(const void* p) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attr.type == cudaMemoryTypeHost;
}

// Reads rows [begin, begin + count) with several threads (DataSource::read is thread-safe).
void parallel_read(const DataSource& src, std::int64_t begin, std::int64_t count, float* out) {
  const int d = src.dim();
  const std::int64_t bytes = count * d * 4;
  const int threads = int(std::clamp<std::int64_t>(bytes >> 23, 1, 8));
  if (threads == 1) {
    src.read(begin, count, out);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(threads);
  const std::int64_t per = (count + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    const std::int64_t b = t * per, c = std::min(per, count - b);
    if (c <= 0) break;
    pool.emplace_back([&, t, b, c] {
      try {
        src.read(begin + b, c, out + b * d);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(const Params& p, int dim, int device) : params_(p), dim_(dim), device_(device),
        mem_(0) {
    FLASHGMM_CUDA_CHECK(cudaSetDevice(device_));
    cudaDeviceProp prop{};
    FLASHGMM_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    device_name_ = prop.name;
    std::size_t free_b = 0, total_b = 0;
    FLASHGMM_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    const std::int64_t budget =
        p.gpu_memory_budget > 0 ? p.gpu_memory_budget : std::int64_t(0.9 * double(free_b));
    mem_ = MemoryTracker(budget);
    FLASHGMM_CUDA_CHECK(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking));
    FLASHGMM_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking));
    for (auto& s : slots_) {
      FLASHGMM_CUDA_CHECK(cudaEventCreateWithFlags(&s.copied, cudaEventDisableTiming));
      FLASHGMM_CUDA_CHECK(cudaEventCreateWithFlags(&s.consumed, cudaEventDisableTiming));
    }
    engine_ = std::make_unique<EstepEngine>(p, dim, mem_, compute_);
  }

  ~CudaBackend() override {
    cudaSetDevice(device_);
    if (compute_) cudaStreamSynchronize(compute_);
    if (copy_) cudaStreamSynchronize(copy_);
    engine_.reset();
    for (auto& s : slots_) {
      s.x = {}, s.w = {};
      if (s.copied) cudaEventDestroy(s.copied);
      if (s.consumed) cudaEventDestroy(s.consumed);
    }
    resident_ = {}, resident_w_ = {};
    if (compute_) cudaStreamDestroy(compute_);
    if (copy_) cudaStreamDestroy(copy_);
  }

  BackendInfo info() const override {
    BackendInfo b;
    b.name = "cuda (" + device_name_ + ", " + to_string(params_.precision);
    if (engine_->has_params()) b.name += std::string(", ") + engine_->kernel_path() + " kernels";
    if (engine_->fast_fallbacks() > 0)
      b.name += "; float32 products for " + std::to_string(engine_->fast_fallbacks()) +
                " parameter set(s) too narrow for bf16";
    b.name += ")";
    b.peak_device_bytes = mem_.peak();
    return b;
  }

  void set_params(const ComponentParams& p) override {
    FLASHGMM_CUDA_CHECK(cudaSetDevice(device_));
    engine_->set_params(p);
  }

  void estep(const float* x, std::int64_t n, const float* w, SuffStats* stats,
             const RowOutputs& rows) override {
    FLASHGMM_CHECK(n >= 0, "estep: negative row count " << n);
    FLASHGMM_CUDA_CHECK(cudaSetDevice(device_));
    if (n == 0) return;
    FLASHGMM_CHECK(x != nullptr, "estep: null data pointer");
    MatrixSource src(x, n, dim_);
    streamed_pass(src, w, stats, rows, 0);
  }

  void estep_source(const DataSource& src, const float* w, SuffStats* stats,
                    const RowOutputs& rows, std::int64_t chunk_rows) override {
    FLASHGMM_CUDA_CHECK(cudaSetDevice(device_));
    FLASHGMM_CHECK(src.dim() == dim_, "estep_source: data has dimension "
                                          << src.dim() << ", the backend " << dim_);
    FLASHGMM_CHECK(rows.proba == nullptr,
                   "estep_source: RowOutputs::proba (N×K) is only for caller-sized batches");
    FLASHGMM_CHECK(engine_->has_params(), "CUDA backend: estep called before set_params");
    const std::int64_t n = src.rows();
    if (n == 0) return;
    if (resident_src_ == &src && resident_rows_ == n) {
      resident_pass(n, w, stats, rows);
      return;
    }
    const std::int64_t data_bytes = n * dim_ * 4 + n * 4;
    const std::int64_t need = data_bytes + engine_->workspace_bytes(n);
    if (need <= mem_.available() + engine_->workspace_in_use() + slot_bytes()) {
      upload_resident(src);
      resident_pass(n, w, stats, rows);
    } else {
      streamed_pass(src, w, stats, rows, chunk_rows);
    }
  }

 private:
  struct Slot {
    DeviceArray<float> x, w;
    PinnedBuffer pin_x, pin_w;
    cudaEvent_t copied = nullptr, consumed = nullptr;
    bool pending = false;
    std::int64_t cap = 0;
  };

  std::int64_t stream_chunk_rows(std::int64_t requested, std::int64_t n) {
    std::int64_t c = requested > 0 ? requested : std::max<std::int64_t>(1, (64 << 20) / (dim_ * 4));
    // All slots together take at most half of what the budget leaves after the work buffers.
    const std::int64_t room = (mem_.available() + slot_bytes() + engine_->workspace_in_use() -
                               engine_->workspace_bytes(std::min(c, n))) / 2;
    const std::int64_t per_row = std::int64_t(dim_ + 1) * 4 * kSlots;
    FLASHGMM_CHECK(room >= per_row * 256,
                   "CUDA backend: out of GPU memory budget for streaming: need at least "
                       << format_bytes(per_row * 256 + engine_->workspace_bytes(256))
                       << ", budget " << format_bytes(mem_.budget()) << ", in use "
                       << format_bytes(mem_.in_use()));
    c = std::min(c, room / per_row);
    return std::max<std::int64_t>(1, std::min(c, n));
  }

  std::int64_t slot_bytes() const {
    std::int64_t b = 0;
    for (const auto& s : slots_) b += std::int64_t(s.x.bytes() + s.w.bytes());
    return b;
  }

  void ensure_slots(std::int64_t rows, bool device_buffers) {
    for (auto& s : slots_) {
      if (s.cap >= rows && (!device_buffers || !s.x.empty())) continue;
      s.x = {}, s.w = {};
      if (device_buffers) {
        s.x = DeviceArray<float>(mem_, rows * dim_, "streamed data chunk");
        s.w = DeviceArray<float>(mem_, rows, "streamed weights chunk");
      }
      if (s.cap < rows) {
        s.pin_x = PinnedBuffer(rows * dim_ * 4);
        s.pin_w = PinnedBuffer(rows * 4);
      }
      s.cap = std::max(s.cap, rows);
    }
  }

  // Feeds [0, n) through the slots; `sink(slot, begin, count)` queues the work on compute_.
  // With `dest`, chunks are copied straight to dest + begin·D (the resident upload) instead.
  template <typename Sink>
  void pipeline(const DataSource& src, const float* w, std::int64_t chunk, Sink&& sink,
                float* dest = nullptr) {
    const std::int64_t n = src.rows();
    const float* direct = src.contiguous();
    const bool direct_pinned = direct && is_pinned(direct);
    ensure_slots(chunk, dest == nullptr);
    int i = 0;
    for (std::int64_t b = 0; b < n; b += chunk, ++i) {
      Slot& s = slots_[i % kSlots];
      const std::int64_t cnt = std::min(chunk, n - b);
      if (s.pending) FLASHGMM_CUDA_CHECK(cudaEventSynchronize(s.consumed));
      const float* from = direct_pinned ? direct + b * dim_ : static_cast<const float*>(s.pin_x.get());
      if (!direct_pinned) parallel_read(src, b, cnt, static_cast<float*>(s.pin_x.get()));
      float* to = dest ? dest + b * dim_ : s.x.get();
      FLASHGMM_CUDA_CHECK(cudaMemcpyAsync(to, from, cnt * dim_ * 4, cudaMemcpyHostToDevice, copy_));
      if (w) {
        std::memcpy(s.pin_w.get(), w + b, cnt * 4);
        FLASHGMM_CUDA_CHECK(
            cudaMemcpyAsync(s.w.get(), s.pin_w.get(), cnt * 4, cudaMemcpyHostToDevice, copy_));
      }
      FLASHGMM_CUDA_CHECK(cudaEventRecord(s.copied, copy_));
      FLASHGMM_CUDA_CHECK(cudaStreamWaitEvent(compute_, s.copied, 0));
      sink(s, b, cnt);
      FLASHGMM_CUDA_CHECK(cudaEventRecord(s.consumed, compute_));
      s.pending = true;
    }
    FLASHGMM_CUDA_CHECK(cudaStreamSynchronize(compute_));
    for (auto& s : slots_) s.pending = false;
  }

  void streamed_pass(const DataSource& src, const float* w, SuffStats* stats,
                     const RowOutputs& rows, std::int64_t chunk_rows) {
    FLASHGMM_CHECK(engine_->has_params(), "CUDA backend: estep called before set_params");
    const std::int64_t n = src.rows();
    const std::int64_t chunk = stream_chunk_rows(chunk_rows, n);
    engine_->begin_pass();
    pipeline(src, w, chunk, [&](Slot& s, std::int64_t b, std::int64_t cnt) {
      engine_->run(s.x.get(), w ? s.w.get() : nullptr, cnt, rows, b, stats != nullptr);
    });
    finish_pass(n, w, stats);
  }

  void upload_resident(const DataSource& src) {
    const std::int64_t n = src.rows();
    resident_ = {}, resident_w_ = {};
    resident_src_ = nullptr;
    resident_ = DeviceArray<float>(mem_, n * dim_, "resident data");
    // Straight from pinned staging into the resident array: no device staging (peak memory).
    const std::int64_t chunk = std::min<std::int64_t>(n, std::max<std::int64_t>(1, (32 << 20) / (dim_ * 4)));
    pipeline(src, nullptr, chunk, [](Slot&, std::int64_t, std::int64_t) {}, resident_.get());
    // The staging slots are not needed while the data is resident.
    for (auto& s : slots_) s.x = {}, s.w = {}, s.pin_x = {}, s.pin_w = {}, s.cap = 0;
    resident_src_ = &src;
    resident_rows_ = n;
  }

  void resident_pass(std::int64_t n, const float* w, SuffStats* stats, const RowOutputs& rows) {
    const float* dw = nullptr;
    if (w) {
      if (resident_w_.size() != std::size_t(n))
        resident_w_ = DeviceArray<float>(mem_, n, "resident weights");
      FLASHGMM_CUDA_CHECK(
          cudaMemcpyAsync(resident_w_.get(), w, n * 4, cudaMemcpyHostToDevice, compute_));
      dw = resident_w_.get();
    }
    engine_->begin_pass();
    engine_->run(resident_.get(), dw, n, rows, 0, stats != nullptr);
    finish_pass(n, w, stats);
  }

  void finish_pass(std::int64_t n, const float* w, SuffStats* stats) {
    engine_->end_pass(stats);
    if (!stats) return;
    double ws = 0;
    if (w) {
      for (std::int64_t i = 0; i < n; ++i) ws += w[i];
    } else {
      ws = double(n);
    }
    stats->weight_sum += ws;
    stats->n_rows += n;
  }

  Params params_;
  int dim_;
  int device_;
  std::string device_name_;
  MemoryTracker mem_;
  cudaStream_t compute_ = nullptr, copy_ = nullptr;
  Slot slots_[kSlots];
  std::unique_ptr<EstepEngine> engine_;
  DeviceArray<float> resident_, resident_w_;
  const DataSource* resident_src_ = nullptr;
  std::int64_t resident_rows_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_backend(const Params& p, int dim) {
  std::string why;
  FLASHGMM_CHECK(device_count(&why) > 0, "CUDA backend unavailable: " << why);
  FLASHGMM_CHECK(dim >= 1 && dim <= kMaxDim, "CUDA backend: unsupported dimension D="
                                                 << dim << " (supported: 1 to " << kMaxDim << ")");
  int device = 0;
  FLASHGMM_CUDA_CHECK(cudaGetDevice(&device));
  return std::make_unique<CudaBackend>(p, dim, device);
}

}  // namespace flashgmm::cuda
