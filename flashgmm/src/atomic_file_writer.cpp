// flashgmm: temp-file-then-rename writer.
#include "atomic_file_writer.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "flashgmm/error.hpp"

namespace flashgmm::detail {

AtomicFileWriter::AtomicFileWriter(const std::string& path)
    : path_(path), tmp_path_(path + ".tmp." + std::to_string(::getpid())) {
  file_ = std::fopen(tmp_path_.c_str(), "wb");
  FLASHGMM_CHECK(file_ != nullptr,
                 "cannot create '" << tmp_path_ << "' to write '" << path_ << "': "
                                   << std::strerror(errno));
  // Large writes of many small rows (.fvecs) go through a 1 MiB buffer.
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) std::remove(tmp_path_.c_str());
}

void AtomicFileWriter::fail(const char* what, int err) {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  std::remove(tmp_path_.c_str());
  FLASHGMM_THROW("cannot " << what << " '" << path_ << "': " << std::strerror(err));
}

void AtomicFileWriter::write(const void* bytes, std::size_t n) {
  FLASHGMM_ASSERT(file_ != nullptr && !committed_);
  if (n == 0) return;
  if (std::fwrite(bytes, 1, n, file_) != n) fail("write", errno);
}

void AtomicFileWriter::commit() {
  FLASHGMM_ASSERT(file_ != nullptr && !committed_);
  if (std::fflush(file_) != 0) fail("write", errno);
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fclose(f) != 0) fail("close", errno);
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) fail("rename into place", errno);
  committed_ = true;
}

}  // namespace flashgmm::detail
