// flashgmm: entry points of the CUDA backend that the core's backend factory calls.
#pragma once

#include <memory>
#include <string>

#include "flashgmm/backend.hpp"
#include "flashgmm/params.hpp"

namespace flashgmm::cuda {

/// Number of visible CUDA devices; 0 with the reason in *why when none can be used.
int device_count(std::string* why);
/// Creates the CUDA E-step backend for data of dimension `dim`. Throws Error (no device,
/// unsupported dimension, out of memory with the size asked).
std::unique_ptr<Backend> make_backend(const Params& p, int dim);

}  // namespace flashgmm::cuda
