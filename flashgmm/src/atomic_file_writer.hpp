// flashgmm: write a file under "<path>.tmp.<pid>" and rename it into place on commit(), so a
// crash or error mid-write never leaves a partial file under the final name.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace flashgmm::detail {

class AtomicFileWriter {
 public:
  /// Throws Error if the temporary file cannot be created.
  explicit AtomicFileWriter(const std::string& path);
  /// Removes the temporary file unless commit() succeeded.
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  /// Throws Error on a short write (disk full, I/O error).
  void write(const void* bytes, std::size_t n);
  /// Flushes, closes and renames to the final path; throws Error on any failure.
  void commit();

 private:
  [[noreturn]] void fail(const char* what, int err);

  std::string path_;
  std::string tmp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

}  // namespace flashgmm::detail
