// GmmClustering: FAISS's Clustering contract (sampling, warnings, index update) around flashgmm EM.
#include "flashgmm_faiss/gmm_clustering.hpp"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <random>
#include <vector>

#include <faiss/Index.h>

#include "flashgmm/error.hpp"

namespace flashgmm::ivf {

Params default_quantizer_params() {
  Params p;
  p.covariance_type = CovarianceType::spherical;
  p.init = InitMethod::kmeans;
  return p;
}

GmmClustering::GmmClustering(int d, int k) : faiss::Clustering(d, k), gmm(default_quantizer_params()) {}
GmmClustering::GmmClustering(int d, int k, const faiss::ClusteringParameters& cp)
    : faiss::Clustering(d, k, cp), gmm(default_quantizer_params()) {}
GmmClustering::GmmClustering(int d, int k, const faiss::ClusteringParameters& cp,
                             const Params& gmm_params)
    : faiss::Clustering(d, k, cp), gmm(gmm_params) {}
GmmClustering::~GmmClustering() = default;

namespace {

// FAISS's imbalance factor: k·Σ n_i² / N² (1 = perfectly balanced lists).
double imbalance_factor(const std::vector<std::int32_t>& labels, std::size_t k) {
  std::vector<std::int64_t> hist(k, 0);
  for (std::int32_t l : labels) hist[static_cast<std::size_t>(l)]++;
  double tot = 0, uf = 0;
  for (std::int64_t h : hist) {
    tot += static_cast<double>(h);
    uf += static_cast<double>(h) * static_cast<double>(h);
  }
  return tot > 0 ? uf * static_cast<double>(k) / (tot * tot) : 0.0;
}

}  // namespace

void GmmClustering::train(idx_t n, const float* x, faiss::Index& index, const float* x_weights) {
  FLASHGMM_CHECK(x != nullptr || n == 0, "GmmClustering::train: training vectors are null");
  FLASHGMM_CHECK(index.d == static_cast<idx_t>(d),
                 "GmmClustering::train: index dimension " << index.d << " != clustering dimension " << d);
  FLASHGMM_CHECK(n >= static_cast<idx_t>(k),
                 "Number of training points (" << n << ") should be at least as large as number of clusters ("
                                               << k << ")");
  FLASHGMM_CHECK(!spherical, "GmmClustering: ClusteringParameters::spherical (normalised centroids) is not "
                             "supported: the centroids must stay the mixture's means");
  FLASHGMM_CHECK(!int_centroids, "GmmClustering: ClusteringParameters::int_centroids is not supported");
  FLASHGMM_CHECK(!frozen_centroids, "GmmClustering: ClusteringParameters::frozen_centroids is not supported");
  FLASHGMM_CHECK(niter >= 1, "GmmClustering: niter must be >= 1, got " << niter);
  FLASHGMM_CHECK(nredo >= 1, "GmmClustering: nredo must be >= 1, got " << nredo);

  // Subsample as faiss::Clustering does (same threshold and message; our own random subset).
  const float* xs = x;
  const float* ws = x_weights;
  idx_t ns = n;
  std::vector<float> x_sub, w_sub;
  const idx_t max_n = static_cast<idx_t>(k) * max_points_per_centroid;
  if (max_points_per_centroid > 0 && n > max_n) {
    if (verbose) std::printf("Sampling a subset of %zd / %" PRId64 " for training\n", static_cast<size_t>(max_n), n);
    std::mt19937_64 rng(static_cast<std::uint64_t>(seed) + 15486557ULL);
    std::vector<idx_t> perm(static_cast<size_t>(n));
    for (idx_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
    for (idx_t i = 0; i < max_n; ++i) {  // partial Fisher–Yates: the first max_n are a uniform subset
      std::uniform_int_distribution<idx_t> pick(i, n - 1);
      std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(pick(rng))]);
    }
    x_sub.resize(static_cast<size_t>(max_n) * d);
    if (x_weights) w_sub.resize(static_cast<size_t>(max_n));
    for (idx_t i = 0; i < max_n; ++i) {
      const idx_t r = perm[static_cast<size_t>(i)];
      std::copy(x + r * static_cast<idx_t>(d), x + (r + 1) * static_cast<idx_t>(d),
                x_sub.data() + static_cast<size_t>(i) * d);
      if (x_weights) w_sub[static_cast<size_t>(i)] = x_weights[r];
    }
    xs = x_sub.data();
    ws = x_weights ? w_sub.data() : nullptr;
    ns = max_n;
  } else if (n < static_cast<idx_t>(k) * min_points_per_centroid) {
    std::fprintf(stderr,
                 "WARNING clustering %" PRId64 " points to %zd centroids: please provide at least %" PRId64
                 " training points\n",
                 n, k, static_cast<idx_t>(k) * min_points_per_centroid);
  }

  Params p = gmm;
  p.n_components = static_cast<int>(k);
  p.max_iter = niter;
  p.n_init = nredo;
  p.seed = static_cast<std::uint64_t>(static_cast<std::uint32_t>(seed));
  p.verbose = verbose ? 2 : 0;
  if (centroids.size() == k * d) {  // FAISS: centroids set on input initialise the clustering
    p.means_init.assign(centroids.begin(), centroids.end());
  } else {
    FLASHGMM_CHECK(centroids.empty(), "GmmClustering: centroids on input hold " << centroids.size()
                                          << " floats, expected 0 or k*d = " << k * d);
  }

  auto gm = std::make_unique<GaussianMixture>(p);
  const double sample_weight_sum = [&] {
    if (!ws) return static_cast<double>(ns);
    double s = 0;
    for (idx_t i = 0; i < ns; ++i) s += ws[i];
    return s;
  }();
  gm->set_iteration_callback([&](const IterationStats& it) {
    faiss::ClusteringIterationStats st{};
    st.obj = static_cast<float>(-it.lower_bound * sample_weight_sum);  // negative log-likelihood
    st.time = it.seconds;
    st.time_search = it.estep_seconds;
    st.imbalance_factor = 0.0;  // hard assignments do not exist during EM; set for the last one below
    st.nsplit = it.reseeded;
    iteration_stats.push_back(st);
    return true;
  });
  gm->fit(xs, ns, static_cast<int>(d), ws);

  const std::vector<double>& means = gm->means();
  centroids.resize(k * d);
  for (size_t i = 0; i < k * d; ++i) centroids[i] = static_cast<float>(means[i]);

  if (!iteration_stats.empty()) {
    std::vector<std::int32_t> labels(static_cast<size_t>(ns));
    gm->predict(xs, ns, labels.data());
    iteration_stats.back().imbalance_factor = imbalance_factor(labels, k);
  }

  index.reset();
  if (!index.is_trained) index.train(static_cast<idx_t>(k), centroids.data());
  index.add(static_cast<idx_t>(k), centroids.data());
  mixture_ = std::move(gm);
}

const GaussianMixture& GmmClustering::mixture() const {
  FLASHGMM_CHECK(mixture_ != nullptr, "GmmClustering::mixture: not trained yet");
  return *mixture_;
}

GaussianMixture GmmClustering::release_mixture() {
  FLASHGMM_CHECK(mixture_ != nullptr, "GmmClustering::release_mixture: not trained yet");
  GaussianMixture out = std::move(*mixture_);
  mixture_.reset();
  return out;
}

}  // namespace flashgmm::ivf
