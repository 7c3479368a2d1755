// Shared helpers of the libFuzzer targets: a memory file (memfd) for the parsers that need a
// real path (they mmap it), and the checksum fix-ups that let mutated inputs get past the
// checksums to the checks behind them.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "model_file_format.hpp"

namespace flashgmm::fuzz {

/// One memfd reused by every input: truncated and rewritten each time, opened by the parsers
/// through /proc/self/fd/N like any regular file.
class MemFile {
 public:
  MemFile() {
    fd_ = ::memfd_create("flashgmm-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  const std::string& set(const std::uint8_t* data, std::size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    std::size_t done = 0;
    while (done < size) {
      const ssize_t w = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (w <= 0) std::abort();
      done += static_cast<std::size_t>(w);
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

inline void put_u64(std::uint8_t* p, std::uint64_t v) { std::memcpy(p, &v, 8); }

/// Rewrites the trailing model checksum (when the bytes are long enough to have one), so the
/// fuzzer reaches the shape and value checks of deserialize_model.
inline void fix_model_checksum(std::vector<std::uint8_t>& b) {
  using namespace flashgmm::detail;
  if (b.size() < kModelHeaderBytes + kModelChecksumBytes) return;
  const std::size_t body = b.size() - kModelChecksumBytes;
  put_u64(b.data() + body, model_file_checksum(b.data(), body));
}

/// Crashes (a finding) unless `cond`: for properties the targets check beyond "no crash".
#define FUZZ_REQUIRE(cond)                                                      \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "fuzz property failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

}  // namespace flashgmm::fuzz
