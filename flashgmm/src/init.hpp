// Initialisation: a bounded random sample of rows, and the first model drawn from it.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "flashgmm/communicator.hpp"
#include "flashgmm/data_source.hpp"
#include "flashgmm/model.hpp"
#include "flashgmm/params.hpp"

namespace flashgmm::init {

/// Rows drawn at random (without replacement) from the whole data set, in global row order.
/// Also where re-seeding finds its worst-explained points.
struct Sample {
  std::vector<float> x;  ///< n×d
  std::int64_t n = 0;
  int d = 0;
};

/// Sample size for N rows and K components under `p` (init_sample_size, or automatic).
std::int64_t sample_size(const Params& p, std::int64_t n_total);

/// Draws `size` rows of the global data set. `local` holds global rows [offset, offset+rows);
/// with a communicator every rank contributes its rows and all ranks get the same sample.
Sample draw_sample(const DataSource& local, std::int64_t offset, std::int64_t n_total,
                   std::int64_t size, std::uint64_t seed, Communicator* comm);

/// k-means++ seeding (D² sampling) of k centres from the rows of s.
std::vector<float> kmeans_plusplus(const Sample& s, int k, std::mt19937_64& rng);
/// Lloyd iterations from `centers` (k×d, updated in place); empty clusters keep their centre.
void lloyd(const Sample& s, int k, int iters, std::vector<float>& centers);
/// Nearest centre of every sample row.
std::vector<std::int32_t> assign_nearest(const Sample& s, int k, const std::vector<float>& centers);

/// The first model of one restart: the init method of `p` on the sample, then the user's
/// weights_init / means_init / precisions_init where given.
Model initialize(const Sample& s, const Params& p, std::mt19937_64& rng);

}  // namespace flashgmm::init
