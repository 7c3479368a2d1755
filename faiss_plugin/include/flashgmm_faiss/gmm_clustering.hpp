// flashgmm FAISS plugin: a faiss::Clustering that fits a Gaussian mixture with flashgmm EM.
#pragma once

#include <memory>

#include <faiss/Clustering.h>

#include "flashgmm/gaussian_mixture.hpp"
#include "flashgmm/params.hpp"

namespace flashgmm::ivf {

/// Default mixture parameters for coarse quantizers: spherical components (one variance per
/// list, as cheap to evaluate as an L2 distance), k-means initialisation, otherwise Params().
Params default_quantizer_params();

/// Drop-in replacement for FAISS's k-means: train() fits a Gaussian mixture with flashgmm EM,
/// writes the means to `centroids`, records one ClusteringIterationStats per EM iteration
/// (obj = negative log-likelihood of the training sample, nsplit = re-seeded components) and
/// leaves `index` holding the centroids, exactly as faiss::Clustering does. The mixture
/// (weights, variances) stays available through mixture().
///
/// ClusteringParameters that carry over: niter → max_iter, nredo → n_init, seed, verbose,
/// min/max_points_per_centroid (warning / subsampling with FAISS's messages), and centroids
/// given on input (→ means_init). spherical, int_centroids and frozen_centroids change the
/// centroids after EM and would no longer match the mixture: they are rejected with Error.
struct GmmClustering : faiss::Clustering {
  /// The EM parameters. n_components, max_iter, n_init, seed and verbose are overwritten from
  /// (k, niter, nredo, seed, verbose) at each train(); everything else is used as given.
  Params gmm;

  GmmClustering(int d, int k);
  GmmClustering(int d, int k, const faiss::ClusteringParameters& cp);
  GmmClustering(int d, int k, const faiss::ClusteringParameters& cp, const Params& gmm_params);
  ~GmmClustering() override;

  void train(idx_t n, const float* x, faiss::Index& index,
             const float* x_weights = nullptr) override;

  /// The fitted mixture; throws Error before train().
  const GaussianMixture& mixture() const;
  /// Moves the fitted mixture out (the object must be trained again before mixture()).
  GaussianMixture release_mixture();

 private:
  std::unique_ptr<GaussianMixture> mixture_;
};

}  // namespace flashgmm::ivf
