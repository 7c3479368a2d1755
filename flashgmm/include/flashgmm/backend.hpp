// flashgmm: the E-step interface. A Backend turns rows + component parameters into sufficient
// statistics and optional per-row outputs; the EM driver (init, M-step, convergence, reseeding)
// never depends on which backend runs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flashgmm/data_source.hpp"
#include "flashgmm/params.hpp"
#include "flashgmm/stats.hpp"

namespace flashgmm {

/// Component parameters as the E-step needs them, in float64, in centred coordinates
/// (every row x is used as x − center). The log-likelihood of row x under component k is
///   ℓ_k(x) = log_norm[k] − ½·maha_k(x − center)
/// with maha_k(y) =
///   spherical: prec[k]·‖y − means_k‖²
///   diag:      Σ_d prec[k·D+d]·(y_d − means_kd)²
///   full:      ‖(y − means_k)ᵀ·P_k‖²,  P_k = prec[k·D·D ...] row-major D×D (P_k·P_kᵀ = Σ_k⁻¹)
///   tied:      ‖(y − means_k)ᵀ·P‖²,    P = prec[0 .. D·D)
/// and log_norm[k] = log w_k − ½·D·log 2π + log|det P_k|. P_k need not be triangular.
struct ComponentParams {
  CovarianceType covariance_type = CovarianceType::full;
  int n_components = 0;
  int dim = 0;
  std::vector<double> center;    ///< D
  std::vector<double> means;     ///< K·D, centred
  std::vector<double> prec;      ///< covariance_size(...)
  std::vector<double> log_norm;  ///< K
};

/// Optional per-row outputs of an E-step over n rows. Each pointer may be null (not wanted).
struct RowOutputs {
  double* log_z = nullptr;         ///< n: log p(x_i) = log Σ_k exp ℓ_k(x_i)
  int top_m = 0;                   ///< components per row in top_ids/top_probs (≤ K)
  std::int32_t* top_ids = nullptr; ///< n·top_m, best first
  float* top_probs = nullptr;      ///< n·top_m, posteriors p(k|x_i), descending
  float* proba = nullptr;          ///< n·K posteriors (only for caller-sized batches)
  bool any() const { return log_z || top_ids || top_probs || proba; }
};

/// What a backend reports about itself after a pass.
struct BackendInfo {
  std::string name;
  std::int64_t peak_device_bytes = 0;  ///< GPU backends: peak device memory in use
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual BackendInfo info() const = 0;

  /// Loads the component parameters used by following E-steps.
  virtual void set_params(const ComponentParams& p) = 0;

  /// E-step over n rows of x (row-major, dim D, host memory), with optional per-row weights w
  /// (nullptr = all 1). Adds to *stats when stats is non-null (the caller zeroes it) and fills
  /// the requested per-row outputs.
  virtual void estep(const float* x, std::int64_t n, const float* w, SuffStats* stats,
                     const RowOutputs& rows) = 0;

  /// One pass over a whole data source; rows outputs are indexed by global row. The default
  /// reads chunks (zero-copy when the source is contiguous) and calls estep(). GPU backends
  /// override it to keep data resident across passes or to overlap transfers with compute;
  /// they may cache `src` between calls during one fit (a Backend lives for one fit).
  virtual void estep_source(const DataSource& src, const float* w, SuffStats* stats,
                            const RowOutputs& rows, std::int64_t chunk_rows);
};

/// Creates the backend `p.backend` names (automatic: CUDA when available). Throws Error when
/// the requested backend is not available, saying why.
std::unique_ptr<Backend> make_backend(const Params& p, int dim);
/// True when flashgmm was built with CUDA and a CUDA device is visible.
bool cuda_available();
/// Why CUDA is unavailable ("built without CUDA", "no CUDA device: ..."), empty when available.
std::string cuda_unavailable_reason();

/// Rows per chunk when reading a source: the requested value, or about 64 MiB of float32 rows.
std::int64_t default_chunk_rows(std::int64_t requested, int dim);

}  // namespace flashgmm
