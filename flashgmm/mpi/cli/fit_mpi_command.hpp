// `flashgmm-mpi fit` options and registration.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "em_options.hpp"

namespace flashgmm::mpi::cli {

struct FitMpiOptions : flashgmm::cli::EmOptions {
  std::string data, out, reduce = "rank-order";
  bool split = false, json = false, quiet = false, gpu_per_rank = false;
};

/// Registers `fit`; its run stores the exit code in `exit_code`.
void add_fit(CLI::App& app, int& exit_code);
/// Registers `ivf-add` (built with the FAISS plugin only).
void add_ivf_add(CLI::App& app, int& exit_code);

}  // namespace flashgmm::mpi::cli
