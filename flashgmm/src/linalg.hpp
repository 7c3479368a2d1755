// Small dense float64 linear algebra for the M-step (D×D matrices, row-major).
#pragma once

#include <vector>

namespace flashgmm::linalg {

/// In place: A (symmetric positive definite, D×D) → its lower Cholesky factor L (upper part
/// zeroed). Returns false when A is not positive definite.
bool cholesky_lower(double* a, int d);
/// In place: L (lower triangular) → L⁻¹ (lower triangular).
void invert_lower(double* l, int d);
/// P with P·Pᵀ = C⁻¹ for SPD C: P = (L⁻¹)ᵀ where C = L·Lᵀ (upper triangular, scikit-learn's
/// precisions_cholesky_). Returns false when C is not positive definite.
bool precision_cholesky_from_covariance(const double* c, int d, double* p);
/// C⁻¹ for SPD C (symmetric result). Returns false when C is not positive definite.
bool inverse_spd(const double* c, int d, double* out);
/// Σ log |P_ii| of a triangular P.
double log_abs_det_triangular(const double* p, int d);

}  // namespace flashgmm::linalg
