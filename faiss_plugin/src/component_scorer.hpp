// Per-component log-likelihoods ℓ_k(q) = log w_k + log N(q; μ_k, Σ_k) of small query batches,
// for routing queries by posterior. Queries only: the database side uses the core's E-step.
#pragma once

#include <cstdint>
#include <vector>

#include "flashgmm/model.hpp"

namespace flashgmm::ivf {

class ComponentScorer {
 public:
  ComponentScorer() = default;
  explicit ComponentScorer(const Model& m);

  int n_components() const { return k_; }
  int dim() const { return d_; }

  /// out[i·K + k] = ℓ_k(x_i) for a batch of n rows. `l2` (n·K squared distances to the means,
  /// may be null) lets spherical mixtures skip recomputing distances.
  void log_likelihoods(const float* x, std::int64_t n, const float* l2, double* out) const;

 private:
  CovarianceType type_ = CovarianceType::spherical;
  int k_ = 0, d_ = 0;
  std::vector<double> means_;     // K·D
  std::vector<double> prec_;      // spherical K (1/σ²), diag K·D (1/σ²_d), full K·D·D / tied D·D (P, P·Pᵀ = Σ⁻¹)
  std::vector<double> log_norm_;  // K: log w_k − ½·D·log 2π + log|det P_k|
};

}  // namespace flashgmm::ivf
