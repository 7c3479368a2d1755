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

/// Sample size for N rows of d features and K components under `p` (init_sample_size, or automatic).
std::int64_t sample_size(const Params& p, std::int64_t n_total, int d);

/// Draws `size` rows of the global data set. `local` holds global rows [offset, offset+rows);
/// with a communicator every rank contributes its rows and all ranks get the same sample.
Sample draw_sample(const DataSource& local, std::int64_t offset, std::int64_t n_total,
                   std::int64_t size, std::uint64_t seed, Communicator* comm);

/// Candidates per greedy k-means++ step: 2 + ⌊ln k⌋, as scikit-learn.
int greedy_trials(int k);
/// Greedy k-means++ seeding (D² sampling) of k centres from the rows of s: each step draws
/// `n_trials` candidates and keeps the one that lowers the potential most (1 = plain k-means++).
std::vector<float> kmeans_plusplus(const Sample& s, int k, std::mt19937_64& rng, int n_trials);
/// scikit-learn's KMeans tolerance (relative to the mean feature variance).
inline constexpr double kLloydTol = 1e-4;
/// Lloyd iterations from `centers` (k×d, updated in place) until the labels stop changing, the
/// centres move less than `tol` (scikit-learn's rule) or `max_iter`; an empty cluster moves to
/// the row farthest from its centre. Returns the iterations run.
int lloyd(const Sample& s, int k, int max_iter, std::vector<float>& centers, double tol);
/// The centres of the best of `runs` k-means runs (greedy k-means++, then Lloyd for at most
/// `max_iter` iterations): the lowest inertia on the sample.
std::vector<float> best_kmeans(const Sample& s, int k, int runs, int max_iter, std::mt19937_64& rng);
/// Nearest centre of every sample row; with `min_dist`, also an increasing function of the
/// squared distance to it.
std::vector<std::int32_t> assign_nearest(const Sample& s, int k, const std::vector<float>& centers,
                                         std::vector<float>* min_dist = nullptr);

/// For each component k of a computed initialisation, the user's precision slot j whose
/// precision best fits its covariance (greedy on the KL divergence). k-means leaves its
/// clusters in an arbitrary order, so precisions_init given without means_init would otherwise
/// be paired with clusters at random.
std::vector<int> match_precisions(const Model& m, const std::vector<double>& precisions);

/// The first model of one restart: the init method of `p` on the sample, then the user's
/// weights_init / means_init / precisions_init where given.
Model initialize(const Sample& s, const Params& p, std::mt19937_64& rng);

}  // namespace flashgmm::init
