// flashgmm: a fitted mixture (the parameters, in float64, in the caller's coordinates).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flashgmm/params.hpp"

namespace flashgmm {

/// Number of doubles that one covariance / precision block takes for a covariance type:
/// spherical K, diag K·D, full K·D·D, tied D·D.
std::size_t covariance_size(CovarianceType t, int k, int d);

/// A Gaussian mixture. Covariances and precision Cholesky factors use scikit-learn's shapes and
/// conventions: for full/tied, `precisions_cholesky` holds P with P·Pᵀ = Σ⁻¹ (row-major D×D).
/// For spherical/diag it holds 1/sqrt(variance).
struct Model {
  CovarianceType covariance_type = CovarianceType::full;
  int n_components = 0;
  int dim = 0;
  std::vector<double> weights;              ///< K, sums to 1
  std::vector<double> means;                ///< K·D
  std::vector<double> covariances;          ///< covariance_size(...)
  std::vector<double> precisions_cholesky;  ///< covariance_size(...)

  bool empty() const { return n_components == 0; }
  /// Recompute precisions_cholesky from covariances; throws Error if a covariance is not
  /// positive definite (naming the component).
  void update_precisions_cholesky();
  /// Set precisions from precision matrices (scikit-learn's precisions_init shape) and
  /// derive the covariances.
  void set_precisions(const std::vector<double>& precisions);
  /// Precision matrices (Σ⁻¹) in covariance_size(...) shape.
  std::vector<double> precisions() const;
  /// Free parameters, as scikit-learn counts them for BIC/AIC.
  std::int64_t n_parameters() const;
  /// Throws Error unless every array has the right size and every value is finite,
  /// weights are ≥ 0 and sum to 1 (±1e-6), and covariances are positive definite.
  void validate() const;
};

/// Writes the versioned binary model file (magic, version, shapes, covariance type, checksum).
/// Writes to a temporary name and renames, so an interrupted write leaves no partial file.
void save_model(const Model& m, const std::string& path);
/// Reads a model file; a missing, truncated, corrupted or foreign file throws Error.
Model load_model(const std::string& path);
/// Serialise to / from bytes (the file format without the file).
std::vector<std::uint8_t> serialize_model(const Model& m);
Model deserialize_model(const std::uint8_t* data, std::size_t size);

}  // namespace flashgmm
