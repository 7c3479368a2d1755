// The EM options every fitting tool shares (flashgmm fit, flashgmm-mpi fit, flashgmm-multigpu
// fit): one place for their flags, defaults and their translation into Params.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "flashgmm/params.hpp"

namespace flashgmm::cli {

struct EmOptions {
  int k = 0;
  std::string covariance = "full", init = "kmeans", device = "cpu", precision = "precise";
  int max_iter = 100, n_init = 1, threads = 0;
  double tol = 1e-3, reg_covar = 1e-6;
  std::uint64_t seed = 0;
  long long gpu_budget_mb = 0;

  /// Params from the flags (names parsed, so a bad name is an Error naming it).
  Params to_params() const {
    Params p;
    p.n_components = k;
    p.covariance_type = parse_covariance_type(covariance);
    p.init = parse_init_method(init);
    p.backend = parse_backend(device);
    p.precision = parse_precision(precision);
    p.max_iter = max_iter;
    p.n_init = n_init;
    p.tol = tol;
    p.reg_covar = reg_covar;
    p.seed = seed;
    p.n_threads = threads;
    p.gpu_memory_budget = gpu_budget_mb * (1LL << 20);
    return p;
  }
};

/// Registers the shared flags (not --k, whose rules differ per tool). Tools that always run on
/// the GPU leave out --device and --threads.
inline void add_em_options(CLI::App* c, EmOptions& o, bool with_device_and_threads = true) {
  c->add_option("--covariance", o.covariance, "spherical | diag | full | tied")->capture_default_str();
  c->add_option("--max-iter", o.max_iter, "EM iterations per initialisation")->capture_default_str();
  c->add_option("--tol", o.tol, "Stop when the mean log-likelihood gains less than this")->capture_default_str();
  c->add_option("--reg-covar", o.reg_covar, "Added to variances / covariance diagonals")->capture_default_str();
  c->add_option("--init", o.init, "kmeans | k-means++ | random_from_data | random")->capture_default_str();
  c->add_option("--n-init", o.n_init, "Restarts; the best is kept")->capture_default_str();
  c->add_option("--seed", o.seed, "Random seed")->capture_default_str();
  c->add_option("--precision", o.precision, "GPU arithmetic: fast (bf16) | precise")->capture_default_str();
  c->add_option("--gpu-memory-mb", o.gpu_budget_mb, "GPU memory budget in MiB (0 = 90% of free)");
  if (with_device_and_threads) {
    c->add_option("--device", o.device, "cpu | cuda | auto")->capture_default_str();
    c->add_option("--threads", o.threads, "CPU threads (0 = OpenMP's default)")->capture_default_str();
  }
}

}  // namespace flashgmm::cli
