// flashgmm FAISS plugin: training, multi-assignment add and de-duplicated search on an IndexIVF
// the caller owns (GmmIvfIndex uses them on its own index; the Python bindings on one made by
// `import faiss`).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <faiss/Clustering.h>
#include <faiss/IndexIVF.h>

#include "flashgmm/gaussian_mixture.hpp"
#include "flashgmm_faiss/gmm_quantizer.hpp"
#include "flashgmm_faiss/multi_assign.hpp"

namespace flashgmm::ivf {

/// Where the coarse quantizer's centroids (the L2 routing and list geometry) come from.
enum class CentroidSource {
  /// FAISS k-means (centroid_niter iterations on up to centroid_max_points_per_centroid points
  /// per list), then — with the neighbors rule — one refinement: the training rows are assigned
  /// by that rule and each centroid moves to the mean of its list (copies included). The mixture
  /// is fitted from the final centroids (means_init) and kept for posterior routing / the
  /// posterior spill rule. Default: on GloVe and on the synthetic clusters the mixture's own
  /// means gave less balanced lists and more distance computations (bench/RESULTS.md).
  kmeans,
  mixture,  ///< the mixture's means (the quantizer is the GMM itself)
};
std::string to_string(CentroidSource c);
CentroidSource parse_centroid_source(const std::string& s);  // "kmeans", "mixture"

struct GmmIvfParams {
  Params gmm;                       ///< EM parameters (default_quantizer_params())
  CentroidSource centroids = CentroidSource::kmeans;
  /// niter, nredo, seed, verbose, max_points_per_centroid of the EM (and of k-means where the
  /// centroid_* fields below are 0). Defaults: FAISS's IVF defaults (niter 10, 256 points).
  faiss::ClusteringParameters cp;
  /// CentroidSource::kmeans: k-means iterations and training points per list (0 = cp's). 25 and
  /// 1000 (GloVe: the whole 395k sample) gave 1.04× fewer distance computations than FAISS's IVF
  /// defaults (10, 256) with the same assignment, for ≈ 4× the k-means time.
  int centroid_niter = 25;
  int centroid_max_points_per_centroid = 1000;
  /// CentroidSource::kmeans with the neighbors rule: the one refinement step described above
  /// (GloVe: 1.05× fewer distance computations; a second step gained nothing).
  bool refine_centroids = true;
  /// Share of the training rows that act as pseudo-queries in that refinement, in (0, 1]
  /// (MultiAssignParams::pseudo_query_fraction for this step only; the add keeps its own). A
  /// centroid is a mean over hundreds of rows, so a quarter of the neighbour search places it as
  /// well: held-out GloVe rows 1.84× k-means with 0.25 vs 1.82× with 1 (bench/RESULTS.md).
  float refine_pseudo_query_fraction = 0.25f;
  MultiAssignParams assign;
  RoutingParams routing;
  GmmIvfParams();
  void validate() const;  ///< throws Error naming the first invalid field
};

/// What flashgmm keeps beside an IndexIVF filled by add_multi.
struct IvfBookkeeping {
  std::int64_t n_vectors = 0;  ///< distinct ids stored
  std::int64_t next_id = 0;    ///< next sequential id
  int max_copies_stored = 1;   ///< largest max_copies of any add: the search over-fetch factor
  /// ivf.ntotal when the counts above were last right; another value means the lists were
  /// changed outside flashgmm (FAISS's own add or remove_ids) and sync_bookkeeping recounts.
  std::int64_t entries = 0;
};

/// Makes `book` right again when ivf.ntotal differs from book.entries: counts the distinct ids
/// in the lists (one pass, a hash set of them) and moves next_id past the largest.
void sync_bookkeeping(const faiss::IndexIVF& ivf, IvfBookkeeping& book);

/// Removes every stored copy of the ids `sel` selects and returns how many distinct ids went.
/// FAISS's remove_ids alone is right only without a direct map (it scans every list); with a
/// hashtable map it would remove one copy per id, so the map is dropped for the removal and
/// rebuilt from the lists. An array map, which FAISS cannot remove from, is refused.
std::int64_t remove_all_copies(faiss::IndexIVF& ivf, const faiss::IDSelector& sel, IvfBookkeeping& book);

/// The result of train_ivf / train_centroids.
struct IvfTraining {
  std::vector<float> centroids;  ///< nlist × d: what the quantizer holds (routing, list geometry)
  GaussianMixture mixture;
  std::vector<faiss::ClusteringIterationStats> stats;  ///< per EM iteration (obj = −log-likelihood)
  MultiAssignParams assign;  ///< params.assign with the soar spill_threshold calibrated
  double seconds = 0.0;
};

/// Trains an empty, untrained L2 IndexIVF with a flat quantizer: centroids as p.centroids says
/// (left in ivf.quantizer, which stays the IVF's own IndexFlat), the mixture fitted by EM, then
/// IndexIVF::train for the residual codec (PQ / SQ; it skips k-means), then the soar threshold.
IvfTraining train_ivf(faiss::IndexIVF& ivf, faiss::Index::idx_t n, const float* x, const GmmIvfParams& p);

/// The centroid part of train_ivf over plain arrays (no index involved): centroids as
/// p.centroids says, the mixture fitted by EM, the soar threshold calibrated. The Python layer
/// runs this and puts the centroids into the user's own FAISS index through FAISS's Python API.
IvfTraining train_centroids(faiss::Index::idx_t d, faiss::Index::idx_t nlist, faiss::Index::idx_t n, const float* x,
                            const GmmIvfParams& p);

/// The lists of n rows to add, batch by batch (the batches add_multi uses: the neighbors rule's
/// equal batches, chunk_rows for the other rules): take_batch(first row, rows, lists) with
/// lists[i·m + j] as assign_lists gives them, m = assign.max_copies, valid during the call.
/// Calibrates a soar threshold of 0 first (kept in `assign`). `quantizer` is a flat L2 index.
void assign_for_add(const faiss::Index& quantizer, const GaussianMixture& mixture, MultiAssignParams& assign,
                    faiss::Index::idx_t n, const float* x, std::uint64_t seed,
                    const std::function<void(faiss::Index::idx_t, faiss::Index::idx_t, const faiss::Index::idx_t*)>&
                        take_batch);

/// Adds rows to their multi-assignment lists (assign_lists with ivf.quantizer; each copy encoded
/// against its own list), ids `ids` or book.next_id.. when null. A soar rule with
/// spill_threshold 0 is first calibrated on (a sample of) these rows and kept in `assign`. The
/// neighbors rule treats the n rows as one batch, or as equal batches of at most
/// neighbor_batch_rows(assign, n, d, nlist) rows. Returns the list entries written.
std::int64_t add_multi(faiss::IndexIVF& ivf, const GaussianMixture& mixture, MultiAssignParams& assign,
                       IvfBookkeeping& book, faiss::Index::idx_t n, const float* x, const faiss::Index::idx_t* ids,
                       std::uint64_t seed = 1234);

/// What one search() did, summed over its queries.
struct SearchStats {
  std::int64_t nq = 0;
  std::int64_t ndis = 0;         ///< list entries scanned (copies included): distance computations
  std::int64_t lists_probed = 0;
  std::int64_t duplicates_removed = 0;  ///< copies of an id already in the results
  double seconds = 0.0;
};

/// Lists a search visits: nprobe, or ivf.nprobe when nprobe ≤ 0, at most nlist.
inline faiss::Index::idx_t probe_count(const faiss::IndexIVF& ivf, std::int64_t nprobe) {
  const auto np = static_cast<faiss::Index::idx_t>(nprobe > 0 ? nprobe : static_cast<std::int64_t>(ivf.nprobe));
  return std::min<faiss::Index::idx_t>(np, static_cast<faiss::Index::idx_t>(ivf.nlist));
}

/// k nearest distinct ids per query on any L2 IndexIVF whose lists hold each id at most
/// `max_copies` times: routes with ivf.quantizer (nprobe lists, ≤ 0 = ivf.nprobe; −1 keys are
/// skipped), fetches the best k·max_copies entries and keeps each id's best copy. Rows with
/// fewer than k distinct candidates end with label −1. Adds to *stats (may be null).
void search_distinct(const faiss::IndexIVF& ivf, faiss::Index::idx_t n, const float* x, faiss::Index::idx_t k,
                     int nprobe, int max_copies, float* distances, faiss::Index::idx_t* labels,
                     SearchStats* stats = nullptr);

/// The de-duplication of search_distinct: from kf sorted candidates per row (labels −1 at the
/// end), the first k distinct ids with their distances (−1 / FLT_MAX where fewer). Returns the
/// copies dropped. Works on any search output (the Python layer's over-fetching FAISS search).
std::int64_t keep_distinct_topk(faiss::Index::idx_t n, faiss::Index::idx_t kf, const float* d_in,
                                const faiss::Index::idx_t* i_in, faiss::Index::idx_t k, float* distances,
                                faiss::Index::idx_t* labels);

/// The de-duplication of range_search_distinct, in place on FAISS's range-search layout
/// (lims[n + 1], labels, distances): each id once per query at its nearest copy, sorted by
/// (distance, id), slices moved down and lims rewritten. Returns the entries dropped.
std::int64_t keep_distinct_ranges(faiss::Index::idx_t n, size_t* lims, faiss::Index::idx_t* labels, float* distances);

/// Range search over distinct ids: every id with a stored copy closer than `radius` (squared
/// L2, strictly less, as FAISS) in the nprobe lists routed by ivf.quantizer (≤ 0 = ivf.nprobe),
/// each id once at its nearest copy (copies differ under PQ/SQ codes), each query's results
/// sorted by distance then id. `result` must have been made for n queries (FAISS's
/// RangeSearchResult(n)); it is filled and compacted in place. Adds to *stats (may be null).
void range_search_distinct(const faiss::IndexIVF& ivf, faiss::Index::idx_t n, const float* x, float radius,
                           int nprobe, faiss::RangeSearchResult* result, SearchStats* stats = nullptr);

}  // namespace flashgmm::ivf
