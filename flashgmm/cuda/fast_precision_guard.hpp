// flashgmm CUDA backend: when bf16 products (Precision::fast) cannot be trusted for a model.
//
// Fast mode rounds the row features (y = x − centre, and y² for diagonal covariances) to bf16,
// a relative error of up to u = 2⁻⁸. The logits are formed in expanded form,
// c_j + Σ_t b_jt f_t, whose terms grow like p·y² (p = precision) while the logit itself stays
// O(D) near component j: the rounding error of row features, ≈ u·p·y² per feature, is harmless
// for well-spread components but explodes when a component is narrow compared to the rows'
// distance from the centre — e.g. a variance floored at reg_covar (p = 1e6) on a constant column
// or a cluster of duplicate rows. Such logits are off by thousands of nats, log Z turns
// hugely positive and the fit goes wrong silently (seen: lower bound +42308 instead of −145).
//
// The estimate below is the RMS logit error, over rows drawn from component j itself, caused
// by rounding the features to bf16 (each rounding uniform in ±u·|f|, independent):
//   spherical  s_j² = u²/3 · Σ_t p_j² μ_t² E[y_t²]
//   diagonal   s_j² = u²/3 · Σ_t (p_t² μ_t² E[y_t²] + ¼ p_t² E[y_t⁴])
//   full/tied  s_j² ≈ 2u²/3 · Σ_t E[y_t²] ‖P_t·‖²        (bf16 rows and factors in y·P)
// with E[y_t²] = μ_t² + 1/p_t, E[y_t⁴] = μ_t⁴ + 6μ_t²/p_t + 3/p_t² (full/tied: μ_t² only).
// Where max_j s_j exceeds kFastMaxLogitError, the engine computes with float32 products instead
// (same results as Precision::precise): slower, never wrong. Components of zero weight
// (log_norm = −inf, as during re-seeding) cannot take responsibility and are skipped.
#pragma once

#include "flashgmm/backend.hpp"

namespace flashgmm::cuda {

/// Largest tolerated RMS logit error (nats) of bf16 features. Well-spread data stays far
/// below it (the benchmark's clusters: about 0.2); a floored variance lands at thousands.
constexpr double kFastMaxLogitError = 1.0;

/// max_j s_j for these parameters (see above); +inf when a precision is not finite.
double fast_logit_error_estimate(const ComponentParams& p);

/// Whether bf16 products are accurate enough for these parameters.
bool fast_products_ok(const ComponentParams& p);

/// Diagnostics only (tests, benchmarks): with false, fast_products_ok() always says yes, which
/// reproduces the unguarded bf16 behaviour. Process-wide; default true.
void set_fast_precision_guard(bool enabled);

}  // namespace flashgmm::cuda
