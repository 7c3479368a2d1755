// flashgmm: fit parameters with documented defaults, validated at the API boundary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flashgmm {

/// Shape of each component's covariance, with scikit-learn's meanings.
enum class CovarianceType {
  spherical,  ///< one variance per component
  diag,       ///< one variance per component and dimension
  full,       ///< a full D×D matrix per component
  tied,       ///< one full D×D matrix shared by all components
};

/// How the first parameters are chosen (before any user-supplied init overrides them).
enum class InitMethod {
  kmeans,            ///< greedy k-means++ seeding, then Lloyd to convergence, on the init sample (scikit-learn's 'kmeans')
  kmeans_plusplus,   ///< greedy k-means++ centres on the init sample, hard assignment ('k-means++')
  random_from_data,  ///< K distinct random rows as means ('random_from_data')
  random,            ///< random responsibilities on the init sample ('random')
};

/// Where the E-step runs.
enum class BackendKind {
  cpu,   ///< tiled BLAS + OpenMP E-step
  cuda,  ///< fused GPU E-step; an error if no CUDA device or flashgmm was built without CUDA
  automatic,  ///< cuda when a device is present and compiled in, else cpu
};

/// Arithmetic of the GPU E-step's matrix products (the CPU backend always uses fp32 products
/// on mean-centred data with float64 accumulation).
enum class Precision {
  fast,     ///< bf16 operands, fp32 accumulation (≤ 2e-3 relative on Σr, Σr·x)
  precise,  ///< fp32 accuracy (≤ 1e-5 relative)
};

std::string to_string(CovarianceType t);
std::string to_string(InitMethod m);
std::string to_string(BackendKind b);
std::string to_string(Precision p);
/// Parse names as scikit-learn and the CLI spell them; throw Error naming the bad value.
CovarianceType parse_covariance_type(const std::string& s);
InitMethod parse_init_method(const std::string& s);  // "kmeans", "k-means++", "random_from_data", "random"
BackendKind parse_backend(const std::string& s);     // "cpu", "cuda", "auto"
Precision parse_precision(const std::string& s);     // "fast", "precise"

/// Everything that controls a fit. Defaults follow scikit-learn's GaussianMixture where it has
/// the same parameter.
struct Params {
  int n_components = 1;                                 ///< K ≥ 1
  CovarianceType covariance_type = CovarianceType::full;  ///< scikit-learn's default
  int max_iter = 100;  ///< EM iterations per initialisation, ≥ 0 (0: return the initial model)
  double tol = 1e-3;  ///< stop when the mean per-sample log-likelihood gains less than this
  double reg_covar = 1e-6;  ///< added to variances / covariance diagonals, ≥ 0
  InitMethod init = InitMethod::kmeans;
  int n_init = 1;  ///< restarts; the one with the highest final lower bound is kept
  std::uint64_t seed = 0;
  int verbose = 0;            ///< 0 silent, 1 per-init summary, 2 one line per iteration (stderr)
  int verbose_interval = 1;   ///< with verbose ≥ 2, print every this many iterations

  /// User-supplied initial parameters (scikit-learn's weights_init / means_init / precisions_init).
  /// Empty = not given. Shapes: weights K; means K·D; precisions K (spherical), K·D (diag),
  /// K·D·D (full), D·D (tied), row-major. Parts not given come from `init`.
  std::vector<double> weights_init;
  std::vector<double> means_init;
  std::vector<double> precisions_init;

  /// Start from the current model instead of initialising (scikit-learn's warm_start);
  /// with warm_start, n_init is ignored.
  bool warm_start = false;

  /// Rows for initialisation (k-means++ / Lloyd / hard assignment) drawn at random from the data.
  /// 0 = automatic: min(N, max(65536, 32·K)), capped at 131072 rows and at 256 MiB of floats
  /// (but at least max(8192, K) rows).
  std::int64_t init_sample_size = 0;
  /// At most this many Lloyd iterations for InitMethod::kmeans (scikit-learn's KMeans default);
  /// they stop earlier when the labels stop changing or the centres move less than 1e-4 of the
  /// mean feature variance.
  int init_kmeans_iter = 300;
  /// k-means runs (seeding + Lloyd) per initialisation for InitMethod::kmeans; the one with the
  /// lowest inertia on the init sample is kept. 0 = automatic: 3 for K ≤ 256, else 1.
  /// scikit-learn runs one; a few cost little on the bounded sample and avoid most of the bad
  /// local optima a single run falls into (bench/RESULTS.md, "Initialisation").
  int init_kmeans_runs = 0;

  /// A component whose effective count N_k = Σ w_i r_ik falls under this is re-seeded at the
  /// worst-explained sample point (counted in IterationStats::reseeded).
  double min_component_count = 1.0;

  BackendKind backend = BackendKind::cpu;
  Precision precision = Precision::precise;  ///< GPU only
  bool deterministic = true;   ///< GPU: no floating-point atomics; bitwise repeatable on one card
  std::int64_t gpu_memory_budget = 0;  ///< bytes of GPU memory the fit may use; 0 = 90% of free
  int n_threads = 0;           ///< CPU threads; 0 = OpenMP's default
  std::int64_t tile_rows = 0;  ///< CPU rows per tile; 0 = sized for the L2 cache
  std::int64_t chunk_rows = 0; ///< rows read from a data source at a time; 0 = about 64 MiB

  /// Throws Error naming the first invalid field. `d` is the data dimension (0 = unknown yet).
  void validate(int d = 0) const;
};

}  // namespace flashgmm
