// flashgmm: a read-only memory mapping of a whole file that refuses to touch pages the file no
// longer has (a file truncated after mmap raises SIGBUS on access; we want an Error instead).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace flashgmm::detail {

class MappedFile {
 public:
  /// Maps `path` read-only (MAP_SHARED, so N can exceed RAM: pages come from the page cache).
  /// Throws Error if the file cannot be opened, is not a regular file, or cannot be mapped.
  /// An empty file is allowed (data() is nullptr, size() is 0); callers decide whether it is valid.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const { return data_; }
  /// Size when opened (the extent of the mapping).
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  /// Hints the kernel that reads go front to back (larger read-ahead).
  void advise_sequential() const;
  /// Throws Error unless bytes [0, end) still exist in the file now. One fstat; call it before
  /// touching mapped pages. (A truncation racing with the copy that follows can still fault;
  /// this catches the common case of a file rewritten or cut between open and read.)
  void check_still_covers(std::uint64_t end) const;
  /// Copies bytes [offset, offset + len) of the file into dst with pread, not through the
  /// mapping: a file cut at any moment gives a short read, hence an Error naming the file, never
  /// SIGBUS. Used by every read() that converts or strips (float64 .npy, .fvecs, .bvecs).
  void read_at(std::uint64_t offset, std::size_t len, void* dst) const;

 private:
  std::string path_;
  int fd_ = -1;
  const std::uint8_t* data_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace flashgmm::detail
