// flashgmm: the out-of-line halves of FLASHGMM_CHECK / FLASHGMM_ASSERT.
#include "flashgmm/error.hpp"

#include <cstdio>
#include <cstdlib>

namespace flashgmm::detail {

// The user sees only the message: the source location of a user error means nothing to them.
void throw_error(const std::string& msg, const char* /*file*/, int /*line*/) { throw Error(msg); }

// An invariant failed, so flashgmm has a bug: stop at once with the location for the report.
void assert_fail(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "flashgmm: internal assertion failed: %s at %s:%d\n", cond, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace flashgmm::detail
