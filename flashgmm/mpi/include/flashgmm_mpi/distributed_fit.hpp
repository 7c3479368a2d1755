// flashgmm over MPI: the distributed fit with its agreement checks.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "flashgmm/gaussian_mixture.hpp"
#include "flashgmm_mpi/collective_errors.hpp"
#include "flashgmm_mpi/mpi_communicator.hpp"

namespace flashgmm::mpi {

/// The parameters that decide the fitted model, as (name, value) text: everything in Params
/// except where and how fast the E-step runs (backend, precision, threads, tiles, chunks, GPU
/// budget, verbosity), which may legitimately differ between ranks (a CPU rank next to a GPU
/// rank). User init arrays appear as their length and a 64-bit hash.
std::vector<std::pair<std::string, std::string>> model_defining_params(const Params& p);

/// GaussianMixture::fit(local, sample_weight, comm), preceded by collective checks so that bad
/// input stops every rank with the same CollectiveError naming the ranks at fault instead of
/// one rank failing while the others wait:
///  - every rank has the same dimension and the same model-defining parameters (and, with
///    warm_start, the same current model), the same effective E-step backend (cpu, or cuda with
///    the same precision: re-seeding evaluates the init sample on each rank's backend), and
///    either all ranks with rows pass sample weights or none does;
///  - the parameters are valid for the data (n_components ≤ total rows, …);
///  - each rank's rows are finite and its weights finite and ≥ 0, summing to > 0 over all ranks.
/// `local` may have zero rows. Errors after these checks (a file shrinking mid-fit, a device
/// failure) are thrown on the failing rank only: run the call inside run_or_abort().
/// Collective: every rank of comm must call it.
void fit_distributed(GaussianMixture& gm, const DataSource& local, const float* sample_weight,
                     MpiCommunicator& comm);

}  // namespace flashgmm::mpi
