// The backend-independent arithmetic of EM: parameters for the E-step, the M-step from
// sufficient statistics, and statistics from explicit responsibilities (initialisation only).
#pragma once

#include <cstdint>
#include <vector>

#include "flashgmm/backend.hpp"
#include "flashgmm/model.hpp"
#include "flashgmm/stats.hpp"

namespace flashgmm::em {

/// scikit-learn's words for a fit that no re-seeding can save (its tests match them).
inline constexpr const char* kIllDefinedCovariance =
    "Fitting the mixture model failed because some components have ill-defined empirical covariance "
    "(for instance caused by singleton or collapsed samples). Try to decrease the number of components, "
    "or increase reg_covar.";


/// Mixture mean Σ_k w_k μ_k: the centre the E-step works around (it equals the weighted data
/// mean after any M-step, and keeps the ‖x‖²−2x·μ+‖μ‖² expansion away from cancellation).
std::vector<double> mixture_mean(const Model& m);

/// Weighted coordinate-wise median of the component means: the centre the E-step works
/// around. Centring keeps the terms of the ‖x‖²−2x·μ+‖μ‖² expansion (and the float32 second
/// moments) small; the median, unlike the mean, is not dragged away by a far outlier's component.
std::vector<double> robust_center(const Model& m);

/// E-step parameters of a model, centred at `center`.
ComponentParams make_component_params(const Model& m, const std::vector<double>& center);

/// Result of an M-step: which components came out empty or degenerate.
struct MStepResult {
  std::vector<int> collapsed;  ///< effective row count under the threshold, or not positive definite
};

/// M-step in float64 from statistics taken around `center` (scikit-learn's estimators:
/// N_k + 10·eps, weights normalised, covariances + reg_covar). Components whose effective row
/// count N_k·n_rows/Σw is under `min_count`, or whose covariance is not positive definite, are
/// listed in `collapsed`; their parameters are left finite but must be re-seeded.
MStepResult m_step(const SuffStats& s, const std::vector<double>& center, double reg_covar,
                   double min_count, Model& m);

/// Adds the statistics of rows x (n×d) with hard labels (one-hot responsibilities).
void accumulate_hard(const float* x, std::int64_t n, int d, const std::int32_t* labels,
                     const std::vector<double>& center, SuffStats& s);
/// Adds the statistics of rows x (n×d) with dense responsibilities resp (n×K, small n).
void accumulate_soft(const float* x, std::int64_t n, int d, const double* resp,
                     const std::vector<double>& center, SuffStats& s);

}  // namespace flashgmm::em
