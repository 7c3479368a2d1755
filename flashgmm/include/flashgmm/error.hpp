// flashgmm: one exception type for user errors, and an assert for invariants (FAISS's split).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace flashgmm {

/// Every error a caller can cause (bad input, bad parameters, unreadable files, no device)
/// is reported by throwing this type with a message that names the problem.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
[[noreturn]] void throw_error(const std::string& msg, const char* file, int line);
[[noreturn]] void assert_fail(const char* cond, const char* file, int line);
}  // namespace detail

}  // namespace flashgmm

/// Throws flashgmm::Error with a streamed message when `cond` is false. For user errors.
#define FLASHGMM_CHECK(cond, msg)                                            \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::ostringstream flashgmm_oss_;                                      \
      flashgmm_oss_ << msg;                                                  \
      ::flashgmm::detail::throw_error(flashgmm_oss_.str(), __FILE__, __LINE__); \
    }                                                                        \
  } while (0)

/// Throws unconditionally.
#define FLASHGMM_THROW(msg) FLASHGMM_CHECK(false, msg)

/// Internal invariant: a failure is a bug in flashgmm, so it aborts with the location.
#define FLASHGMM_ASSERT(cond)                                                 \
  do {                                                                        \
    if (!(cond)) ::flashgmm::detail::assert_fail(#cond, __FILE__, __LINE__);  \
  } while (0)
