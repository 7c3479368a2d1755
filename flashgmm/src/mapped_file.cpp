// flashgmm: read-only memory mapping with a shrink check before each access.
#include "mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "flashgmm/error.hpp"

namespace flashgmm::detail {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  FLASHGMM_CHECK(fd_ >= 0, "cannot open '" << path << "': " << std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    FLASHGMM_THROW("cannot stat '" << path << "': " << std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    FLASHGMM_THROW("'" << path << "' is not a regular file");
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  if (size_ == 0) return;  // mmap of length 0 is invalid; an empty file maps to nothing
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    ::close(fd_);
    FLASHGMM_THROW("cannot memory-map '" << path << "': " << std::strerror(err));
  }
  data_ = static_cast<const std::uint8_t*>(p);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

void MappedFile::advise_sequential() const {
  // Only a hint: failure changes nothing but read-ahead, so it is not reported.
  if (data_ != nullptr) ::madvise(const_cast<std::uint8_t*>(data_), size_, MADV_SEQUENTIAL);
}

void MappedFile::check_still_covers(std::uint64_t end) const {
  struct stat st {};
  FLASHGMM_CHECK(::fstat(fd_, &st) == 0,
                 "cannot stat '" << path_ << "': " << std::strerror(errno));
  const auto now = static_cast<std::uint64_t>(st.st_size);
  FLASHGMM_CHECK(end <= now && end <= size_,
                 "'" << path_ << "' shrank since it was opened (now " << now << " bytes, was "
                     << size_ << "; the read needs " << end << ")");
}

void MappedFile::read_at(std::uint64_t offset, std::size_t len, void* dst) const {
  auto* out = static_cast<std::uint8_t*>(dst);
  std::size_t done = 0;
  while (done < len) {
    const ssize_t got = ::pread(fd_, out + done, len - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    FLASHGMM_CHECK(got >= 0, "cannot read '" << path_ << "': " << std::strerror(errno));
    FLASHGMM_CHECK(got > 0, "'" << path_ << "' shrank since it was opened (it ended while being read; the read "
                                << "needs bytes up to " << offset + len << ", was " << size_ << " bytes)");
    done += static_cast<std::size_t>(got);
  }
}

}  // namespace flashgmm::detail
