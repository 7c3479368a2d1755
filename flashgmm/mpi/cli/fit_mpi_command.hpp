// `flashgmm-mpi fit` options and registration.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace flashgmm::mpi::cli {

struct FitMpiOptions {
  std::string data, out, covariance = "full", init = "kmeans", device = "cpu", precision = "precise",
                         reduce = "rank-order";
  int k = 0, max_iter = 100, n_init = 1, threads = 0;
  double tol = 1e-3, reg_covar = 1e-6;
  std::uint64_t seed = 0;
  long long gpu_budget_mb = 0;
  bool split = false, json = false, quiet = false, gpu_per_rank = false;
};

/// Registers `fit`; its run stores the exit code in `exit_code`.
void add_fit(CLI::App& app, int& exit_code);
/// Registers `ivf-add` (built with the FAISS plugin only).
void add_ivf_add(CLI::App& app, int& exit_code);

}  // namespace flashgmm::mpi::cli
