// flashgmm FAISS plugin: an IVF index (Flat, PQ, SQ, any faiss::IndexIVF with L2) whose coarse
// quantizer is a Gaussian mixture, with multi-assignment lists and de-duplicated search.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <faiss/Clustering.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/IDSelector.h>

#include "flashgmm/gaussian_mixture.hpp"
#include "flashgmm_faiss/gmm_quantizer.hpp"
#include "flashgmm_faiss/ivf_ops.hpp"
#include "flashgmm_faiss/multi_assign.hpp"

namespace flashgmm::ivf {

class GmmIvfIndex {
 public:
  using idx_t = faiss::Index::idx_t;

  /// An untrained index from a FAISS factory key naming an IVF index with L2 metric, e.g.
  /// "IVF1024,Flat", "IVF1024,PQ16", "IVF1024,SQ8".
  GmmIvfIndex(int d, const std::string& factory_key, GmmIvfParams params = GmmIvfParams());
  /// Adopts an IVF index whose quantizer holds the mixture's means (e.g. after GmmClustering).
  /// n_vectors / next_id: its distinct ids and next sequential id; left 0 for a filled index,
  /// they are counted from its lists.
  GmmIvfIndex(std::unique_ptr<faiss::IndexIVF> ivf, GaussianMixture mixture, GmmIvfParams params,
              std::int64_t n_vectors = 0, std::int64_t next_id = 0);
  ~GmmIvfIndex();
  GmmIvfIndex(GmmIvfIndex&&) noexcept;
  GmmIvfIndex& operator=(GmmIvfIndex&&) noexcept;

  /// train_ivf on the owned index (centroids, mixture, residual codec; with the soar rule also
  /// assign.spill_threshold, shown by params().assign), then installs the GmmQuantizer.
  void train(idx_t n, const float* x);
  bool is_trained() const;

  /// Adds rows with ids n_added() .. n_added()+n−1, each to its multi-assignment lists
  /// (add_multi). The neighbors rule treats each call as one batch: add large batches.
  void add(idx_t n, const float* x);
  void add_with_ids(idx_t n, const float* x, const idx_t* ids);
  /// Removes every copy of the selected ids (remove_all_copies); returns the number of distinct
  /// vectors removed.
  std::size_t remove_ids(const faiss::IDSelector& sel);

  /// k nearest distinct ids per query (over-fetches k·max_copies entries, keeps each id's best
  /// copy). Rows with fewer than k distinct candidates end with label −1. nprobe ≤ 0 = the IVF's.
  void search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels, int nprobe = 0,
              SearchStats* stats = nullptr) const;

  /// Every distinct id with a copy closer than `radius` (squared L2), once, at its nearest copy;
  /// each query's results sorted by distance (range_search_distinct). `result` is made for n
  /// queries: faiss::RangeSearchResult result(n). nprobe ≤ 0 = the IVF's.
  void range_search(idx_t n, const float* x, float radius, faiss::RangeSearchResult* result, int nprobe = 0,
                    SearchStats* stats = nullptr) const;

  /// Writes the IVF index with faiss::write_index to `path` (stock FAISS loads it) and the
  /// mixture + bookkeeping to sidecar_path(path).
  void save(const std::string& path) const;
  /// Reads both; a missing, corrupt or mismatched sidecar throws Error.
  static GmmIvfIndex load(const std::string& path);
  static std::string sidecar_path(const std::string& index_path) { return index_path + ".gmm"; }

  int dim() const;
  std::int64_t nlist() const;
  std::int64_t n_vectors() const;                          ///< distinct ids stored
  std::int64_t n_entries() const;                          ///< list entries (= IndexIVF::ntotal)
  double imbalance_factor() const;                         ///< FAISS's, over list sizes
  std::int64_t n_added() const;                            ///< next sequential id

  const faiss::IndexIVF& ivf() const { return *ivf_; }
  faiss::IndexIVF& ivf() { return *ivf_; }
  const GaussianMixture& mixture() const;
  const GmmIvfParams& params() const { return params_; }
  /// Changes query routing (rebuilds the quantizer wrapper; lists are unchanged).
  void set_routing(const RoutingParams& r);
  /// Changes the multi-assignment rule for later add() calls (a soar rule with
  /// spill_threshold 0 is calibrated on the next add's rows).
  void set_assign(const MultiAssignParams& a);
  /// Per-iteration stats of the GMM training (FAISS's struct; obj = negative log-likelihood).
  const std::vector<faiss::ClusteringIterationStats>& training_stats() const { return train_stats_; }
  double train_seconds() const { return train_seconds_; }

 private:
  void install_quantizer();
  void add_impl(idx_t n, const float* x, const idx_t* ids);

  std::unique_ptr<faiss::IndexIVF> ivf_;
  std::unique_ptr<GaussianMixture> mixture_;
  GmmIvfParams params_;
  // Distinct ids, next id, copies stored: a cache of the lists' contents, recounted when they
  // were changed through ivf() (sync_bookkeeping), hence mutable.
  mutable IvfBookkeeping book_;
  std::vector<faiss::ClusteringIterationStats> train_stats_;
  double train_seconds_ = 0.0;
};

}  // namespace flashgmm::ivf
