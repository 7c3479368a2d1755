// Checks a command makes before its work starts, so that a fit of an hour does not fail at its
// last step (an --out in a missing directory) and a missing GPU is named in words a user can act on.
#pragma once

#include <string>

namespace flashgmm::cli {

/// Throws Error unless `path` can be created or replaced: its directory exists, is a directory and
/// is writable, and `path` itself is not a directory. `option` ("--out") names the flag.
void require_writable_output(const std::string& path, const std::string& option);

/// Throws Error when `device` is "cuda" and no CUDA device can be used, saying why in plain words
/// and what to run instead ("cpu" and "auto" always work).
void require_device(const std::string& device);

}  // namespace flashgmm::cli
