// flashgmm: sufficient statistics of one E-step pass (what a Backend returns), in float64.
#pragma once

#include <cstdint>
#include <vector>

#include "flashgmm/params.hpp"

namespace flashgmm {

/// Σ over rows of w_i·r_ik and friends, in the centred coordinates x − center that the
/// Backend works in (see ComponentParams). Sizes:
///   nk  K            Σ w r
///   sx  K·D          Σ w r x
///   sxx spherical K  Σ w r ‖x‖²
///       diag K·D     Σ w r x²
///       full K·D·D   Σ w r x xᵀ (row-major, symmetric)
///       tied D·D     Σ w x xᵀ (does not depend on r)
struct SuffStats {
  CovarianceType covariance_type = CovarianceType::full;
  int n_components = 0;
  int dim = 0;
  std::vector<double> nk, sx, sxx;
  double log_likelihood = 0.0;  ///< Σ w_i log p(x_i)
  double weight_sum = 0.0;      ///< Σ w_i (N when unweighted)
  std::int64_t n_rows = 0;

  SuffStats() = default;
  SuffStats(CovarianceType t, int k, int d) { reset(t, k, d); }
  void reset(CovarianceType t, int k, int d);
  void zero();
  /// this += other (same shapes; asserts).
  void merge(const SuffStats& other);
};

}  // namespace flashgmm
