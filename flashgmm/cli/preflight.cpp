// Output-path and device checks made before a command's work (see preflight.hpp).
#include "preflight.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "flashgmm/backend.hpp"
#include "flashgmm/error.hpp"

namespace flashgmm::cli {

void require_writable_output(const std::string& path, const std::string& option) {
  FLASHGMM_CHECK(!path.empty(), option << ": empty path");
  struct stat st {};
  FLASHGMM_CHECK(!(::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)),
                 option << " " << path << ": is a directory; give a file name");
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    FLASHGMM_THROW(option << " " << path << ": directory " << dir
                          << (err == ENOENT ? " does not exist" : std::string(": ") + std::strerror(err))
                          << " (create it first; nothing was computed)");
  }
  FLASHGMM_CHECK(S_ISDIR(st.st_mode), option << " " << path << ": " << dir << " is not a directory");
  // Writing the file means creating a temporary beside it and renaming it (AtomicFileWriter).
  FLASHGMM_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0,
                 option << " " << path << ": directory " << dir << " is not writable (" << std::strerror(errno)
                        << "; nothing was computed)");
}

void require_device(const std::string& device) {
  if (device != "cuda") return;
  const std::string why = cuda_unavailable_reason();
  if (why.empty()) return;
  // A CUDA build finds no device ("no CUDA device: <the runtime's words>"). The runtime reports a
  // machine without an NVIDIA driver as "CUDA driver version is insufficient for CUDA runtime
  // version", which reads like a version mismatch to fix: say what it means first.
  const bool no_driver = why.rfind("no CUDA device", 0) == 0;
  FLASHGMM_THROW("--device cuda: "
                 << (no_driver ? "no usable NVIDIA GPU on this machine (no GPU, or no NVIDIA driver loaded, or a "
                                 "driver older than this build's CUDA runtime; CUDA says: " + why + ")"
                               : why)
                 << ". Run with --device cpu, or --device auto to use a GPU only where there is one");
}

}  // namespace flashgmm::cli
