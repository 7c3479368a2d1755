// The backend-agnostic EM loop: restarts, iterations, convergence and re-seeding.
#pragma once

#include <limits>
#include <cstdint>

#include "flashgmm/backend.hpp"
#include "flashgmm/communicator.hpp"
#include "flashgmm/gaussian_mixture.hpp"
#include "init.hpp"

namespace flashgmm::em {

struct FitInput {
  const DataSource* data = nullptr;  ///< this process's rows
  const float* weights = nullptr;    ///< per local row, may be null
  std::int64_t row_offset = 0;       ///< global index of the first local row
  std::int64_t n_total = 0;          ///< rows over all processes
  Communicator* comm = nullptr;      ///< null for a single process
  /// With a warm start, the lower bound the warm model's last fit ended with: the first
  /// iteration's change is measured from it (scikit-learn's rule), so that repeated warm fits
  /// of one iteration each can converge. -inf when unknown (a loaded model).
  double warm_lower_bound = -std::numeric_limits<double>::infinity();
};

/// Runs the fit described by `p`; `warm` is the model to continue from when p.warm_start.
/// Returns the kept model and fills `info`.
Model run_em(const Params& p, const FitInput& in, const Model* warm, const IterationCallback& cb,
             FitInfo& info);

}  // namespace flashgmm::em
