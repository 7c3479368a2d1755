// flashgmm CUDA backend: device and pinned buffers whose allocations are counted against the
// fit's GPU memory budget, so that peak device memory can be reported and a budget enforced
// with a clear message instead of a failure deep inside a kernel launch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace flashgmm::cuda {

/// Counts the bytes a backend holds on its device.
class MemoryTracker {
 public:
  explicit MemoryTracker(std::int64_t budget_bytes) : budget_(budget_bytes) {}
  std::int64_t budget() const { return budget_; }
  std::int64_t in_use() const { return in_use_; }
  std::int64_t peak() const { return peak_; }
  std::int64_t available() const { return budget_ - in_use_; }
  /// Allocates `bytes` on the current device; throws Error (with the size asked, the purpose,
  /// the budget and what is in use) when over the budget or when cudaMalloc fails.
  void* allocate(std::size_t bytes, const char* what);
  void release(void* p, std::size_t bytes);

 private:
  std::int64_t budget_;
  std::int64_t in_use_ = 0;
  std::int64_t peak_ = 0;
};

/// A typed device array owned by one tracker (move-only).
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(MemoryTracker& t, std::size_t n, const char* what)
      : tracker_(&t), n_(n), p_(static_cast<T*>(t.allocate(n * sizeof(T), what))) {}
  DeviceArray(DeviceArray&& o) noexcept { swap(o); }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    DeviceArray tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() {
    if (p_) tracker_->release(p_, n_ * sizeof(T));
  }
  /// Reallocates (contents lost) when fewer than `need` elements are held; the old block is
  /// released first, so the peak never holds both.
  void grow(MemoryTracker& t, std::size_t need, const char* what) {
    if (n_ >= need) return;
    *this = DeviceArray();
    *this = DeviceArray(t, need, what);
  }
  T* get() const { return p_; }
  std::size_t size() const { return n_; }
  std::size_t bytes() const { return n_ * sizeof(T); }
  bool empty() const { return n_ == 0; }
  void swap(DeviceArray& o) noexcept {
    std::swap(tracker_, o.tracker_);
    std::swap(n_, o.n_);
    std::swap(p_, o.p_);
  }

 private:
  MemoryTracker* tracker_ = nullptr;
  std::size_t n_ = 0;
  T* p_ = nullptr;
};

/// Page-locked host memory for asynchronous transfers (move-only).
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t bytes);
  PinnedBuffer(PinnedBuffer&& o) noexcept { std::swap(p_, o.p_), std::swap(bytes_, o.bytes_); }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(p_, o.p_), std::swap(bytes_, o.bytes_);
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer();
  void* get() const { return p_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

std::string format_bytes(std::int64_t b);

}  // namespace flashgmm::cuda
