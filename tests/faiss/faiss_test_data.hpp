// Shared test data for the FAISS plugin suites: overlapping Gaussian clusters and exact k-NN.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <faiss/IndexFlat.h>

#include "flashgmm_faiss/gmm_ivf_index.hpp"

namespace flashgmm_faiss_test {

/// n rows of dimension d drawn from `clusters` isotropic Gaussians whose centres are N(0, 1)
/// per coordinate and whose spread is `sigma` (larger = more overlap). Deterministic in seed.
inline std::vector<float> gaussian_blobs(std::int64_t n, int d, int clusters, float sigma, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> centres(static_cast<size_t>(clusters) * d);
  for (float& c : centres) c = g(rng);
  std::uniform_int_distribution<int> pick(0, clusters - 1);
  std::vector<float> x(static_cast<size_t>(n) * d);
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = pick(rng);
    for (int j = 0; j < d; ++j)
      x[static_cast<size_t>(i) * d + j] = centres[static_cast<size_t>(c) * d + j] + sigma * g(rng);
  }
  return x;
}

/// Like gaussian_blobs, but cluster c has its own spread, uniform in [sigma_lo, sigma_hi] (drawn
/// from `layout_seed` with the centres, so base and queries share clusters), and its own weight.
inline std::vector<float> uneven_blobs(std::int64_t n, int d, int clusters, float sigma_lo, float sigma_hi,
                                       std::uint64_t layout_seed, std::uint64_t sample_seed) {
  std::mt19937_64 layout(layout_seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> centres(static_cast<size_t>(clusters) * d), sigma(clusters), weight(clusters);
  for (float& c : centres) c = g(layout);
  for (int c = 0; c < clusters; ++c) {
    sigma[c] = sigma_lo + (sigma_hi - sigma_lo) * u(layout);
    weight[c] = 0.5f + u(layout);
  }
  std::mt19937_64 rng(sample_seed);
  std::discrete_distribution<int> pick(weight.begin(), weight.end());
  std::vector<float> x(static_cast<size_t>(n) * d);
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = pick(rng);
    for (int j = 0; j < d; ++j)
      x[static_cast<size_t>(i) * d + j] = centres[static_cast<size_t>(c) * d + j] + sigma[c] * g(rng);
  }
  return x;
}

/// A trained GmmIvfIndex (factory `key`) holding the rows of x, each in up to three lists by the
/// soar rule (copies wherever they pay, whatever the data), with a fixed seed.
inline flashgmm::ivf::GmmIvfIndex soar_index(int d, const std::string& key, const std::vector<float>& x,
                                             std::uint64_t seed, int niter) {
  flashgmm::ivf::GmmIvfParams p;
  p.gmm.seed = seed;
  p.cp.niter = niter;
  p.assign.max_copies = 3;
  p.assign.min_posterior = 0.02f;
  p.assign.rule = flashgmm::ivf::SpillRule::soar;
  flashgmm::ivf::GmmIvfIndex index(d, key, p);
  const auto n = static_cast<faiss::Index::idx_t>(x.size() / d);
  index.train(n, x.data());
  index.add(n, x.data());
  return index;
}

/// Exact k nearest neighbours (ids) of each query by brute force.
inline std::vector<faiss::Index::idx_t> exact_knn(const std::vector<float>& base, const std::vector<float>& q, int d,
                                                   int k) {
  faiss::IndexFlatL2 flat(d);
  flat.add(static_cast<faiss::Index::idx_t>(base.size() / d), base.data());
  const auto nq = static_cast<faiss::Index::idx_t>(q.size() / d);
  std::vector<float> dis(static_cast<size_t>(nq) * k);
  std::vector<faiss::Index::idx_t> ids(dis.size());
  flat.search(nq, q.data(), k, dis.data(), ids.data());
  return ids;
}

/// Mean |result ∩ truth| / k over queries (k-recall@k).
inline double recall_at(const std::vector<faiss::Index::idx_t>& result, const std::vector<faiss::Index::idx_t>& truth,
                        int k) {
  const size_t nq = truth.size() / k;
  double hit = 0;
  for (size_t i = 0; i < nq; ++i)
    for (int a = 0; a < k; ++a)
      for (int b = 0; b < k; ++b)
        if (result[i * k + a] == truth[i * k + b] && result[i * k + a] >= 0) {
          hit += 1;
          break;
        }
  return hit / static_cast<double>(nq * k);
}

}  // namespace flashgmm_faiss_test
