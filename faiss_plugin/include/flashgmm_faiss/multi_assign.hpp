// flashgmm FAISS plugin: which inverted lists each database vector goes to.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include <faiss/Index.h>

#include "flashgmm/gaussian_mixture.hpp"

namespace flashgmm::ivf {

/// How the lists after the primary one are chosen.
enum class SpillRule {
  /// Further lists in posterior order while p(k|x) ≥ min_posterior (the mixture decides).
  posterior,
  /// SOAR-style (spilling with orthogonality-amplified residuals, Sun et al. 2023): among the
  /// `candidates` nearest centroids, the extra list minimises
  ///   ‖x − c‖² + λ·⟨r, x − c⟩² / ‖r‖²,   r = x − c_primary,
  /// so that a query that misses the primary list because it lies along r still finds x; only
  /// the `spill_fraction` of rows whose best score is smallest relative to ‖r‖² get copies.
  soar,
  /// Reverse-neighbour assignment (the default): the rows of one add() call are their own
  /// pseudo-queries. For each row y, its `neighbors` nearest rows x (exact among the rows of the
  /// `search_nprobe` lists y probes first, each row in its nearest list) are the vectors a query
  /// at y needs; y probes lists in L2 order. Each row x then takes the set of one or two lists
  /// (three with max_copies ≥ 3, from its 8 nearest), among its `candidates` nearest, that maximises
  ///   B/neighbors − cost_weight · Σ π_l / (P̄/nlist),
  /// B = Σ over the rows y that have x among their neighbours of the fraction of probe depths
  /// P ∈ probe_depth·{½, ¾, 1, 3/2} at which y reaches one of the set's lists, π_l = the fraction of
  /// rows that probe list l at those depths (the expected cost of one more entry in l) and P̄ their
  /// mean. The primary list need not be the nearest one; a row no other row needs goes to its
  /// cheapest candidate list. Needs add() calls of ≥ 32·nlist rows (smaller ones fall back to soar).
  neighbors,
};
std::string to_string(SpillRule r);
SpillRule parse_spill_rule(const std::string& s);  // "posterior", "soar", "neighbors"

/// Multi-assignment rule: with the soar and posterior rules every vector goes to its primary list
/// (the quantizer's first choice) and to at most max_copies − 1 further lists; the neighbors rule
/// picks one to min(max_copies, 3) lists, the primary one included. Default chosen by experiment
/// (bench/RESULTS.md): the neighbors rule with up to three lists, fewest distance computations at
/// recall@10 = 0.90 on GloVe (see RESULTS; 1.29× k-means for SOAR) within 1.5·N entries, and at
/// or above k-means above one probe on clustered synthetic data. The soar defaults (two lists,
/// λ = 1, at most half of the rows spilled, only those with key ≤ 1.6) are the previous default.
struct MultiAssignParams {
  /// m ≥ 1 (1 = no multi-assignment); the neighbors rule uses at most 3 (3 was better than 2 on
  /// held-out GloVe rows: 1.77× vs 1.66× k-means at R@10 0.9, 1.35 vs 1.28·N entries), and its
  /// soar fallback for small adds at most 2.
  int max_copies = 3;
  SpillRule rule = SpillRule::neighbors;
  float min_posterior = 0.25f;  ///< posterior rule: τ in (0, 1]
  float soar_lambda = 1.0f;     ///< soar rule: λ ≥ 0 (0 = nearest other list)
  int candidates = 8;           ///< neighbors / soar rules: nearest lists considered, ≥ max_copies (≤ 64: neighbors)
  /// soar rule: at most this fraction in [0, 1] of the vectors get the extra copies: entries ≤
  /// N·(1 + f·(m − 1)) (a budget, turned into spill_threshold once: calibrate_spill_threshold).
  float spill_fraction = 0.5f;
  /// soar rule: and only rows whose key — best extra-list score / ‖r‖², ≥ 1 with L2 routing —
  /// is ≤ spill_ratio spill, so that vectors deep inside their cell (where a second list rarely
  /// pays) stay single on clustered data; +inf = the fraction alone decides. 1.6 ≈ the median key
  /// on GloVe (≈ 45 % spill there) but the 5 % quantile on the synthetic clusters.
  float spill_ratio = 1.6f;
  /// soar rule: a row gets its extra copies when its key ≤ this.
  /// 0 = not calibrated: assign_lists then uses min(spill_ratio, the spill_fraction quantile of the
  /// keys of the rows it is given); GmmIvfIndex calibrates it once on a sample of its training data (or of its first
  /// add) and keeps it, so that every later add follows the same rule whatever the batch size.
  float spill_threshold = 0.0f;
  /// neighbors rule: neighbours per pseudo-query, in [1, 4096].
  int neighbors = 50;
  /// neighbors rule: weight of the scan cost against the recall benefit (≥ 0); 0.07 was the
  /// best on held-out GloVe training rows with up to three lists and search_nprobe 4·P
  /// (bench/RESULTS.md), and is dimensionless.
  float cost_weight = 0.07f;
  /// neighbors rule: at most this many entries per row on average (0 = no bound): when
  /// cost_weight would store more, the rule raises the weight until the batch fits. 1.5 keeps
  /// the index within the memory that the quality target allows (isotropic Gaussian test data
  /// took 1.7·N at the default weight; GloVe 1.44·N, unbounded).
  float max_entries_ratio = 1.5f;
  /// neighbors rule: central probe depth P (lists), ≥ 2; 0 = calibrated on the batch: ¾ of the
  /// depth at which L2 probing reaches the nearest list of 90 % of the 10 nearest rows of 1,000
  /// sample rows (≈ where the index works at recall@10 0.9; GloVe, 1,024 lists: ≈ 16).
  int probe_depth = 0;
  /// neighbors rule: share of the rows used as pseudo-queries, in (0, 1] (every round(1/f)-th
  /// row): the neighbour search — most of the build time — shrinks by the same factor.
  float pseudo_query_fraction = 1.0f;
  /// neighbors rule: lists probed by the neighbour search over the batch; 0 = 4·probe depth
  /// (neighbours in lists a row probes late are the ones that need a copy near it: 4·P beat 2·P
  /// by 4 % on held-out GloVe rows, 8·P added 1 % more at twice the search).
  int search_nprobe = 0;
  /// neighbors rule: rows assigned together (one another's pseudo-queries) at most; larger adds
  /// are cut into equal batches. 0 = automatic: as many rows as fit in 2 GiB of work memory (the
  /// rule copies its batch into a temporary index), at least 32·nlist — GloVe-sized data is one
  /// batch, and adding 10⁹ vectors stays possible.
  std::int64_t neighbors_batch_rows = 0;
  std::int64_t chunk_rows = 16384;  ///< rows per posterior call: memory O(chunk·m), never N·K
  void validate() const;
};

/// lists[i·m + j], j < m = p.max_copies: the lists of row i, primary first, −1 where unused.
/// neighbors rule: the n rows form one batch (see SpillRule::neighbors).
/// posterior rule: posteriors come from GaussianMixture::predict_topk (top m+1 components per
/// row), computed chunk by chunk. soar rule: distances from the quantizer's centroids (it must
/// be a faiss::IndexFlat, as every GmmIvfIndex quantizer is); the spill fraction is applied over
/// the n rows of this call.
void assign_lists(const GaussianMixture& mixture, const faiss::Index& quantizer, const float* x,
                  std::int64_t n, const MultiAssignParams& p, faiss::Index::idx_t* lists);

/// The soar rule's spill_threshold: min(p.spill_ratio, the p.spill_fraction quantile of the rows'
/// keys) (+inf when every row may spill, a tiny positive value when none may).
float calibrate_spill_threshold(const faiss::Index& quantizer, const float* x, std::int64_t n,
                                const MultiAssignParams& p);

/// The soar rule without a mixture: for any flat L2 quantizer (e.g. FAISS k-means centroids).
/// p.rule must be SpillRule::soar.
void assign_lists_soar(const faiss::Index& quantizer, const float* x, std::int64_t n, const MultiAssignParams& p,
                       faiss::Index::idx_t* lists);

/// The neighbors rule on any flat L2 quantizer: the n rows are one batch (their own
/// pseudo-queries); falls back to soar (threshold as given, else calibrated on these rows) when
/// n < 32·nlist. Memory O(n·(candidates + neighbors)), never n·nlist.
void assign_lists_neighbors(const faiss::Index& quantizer, const float* x, std::int64_t n,
                            const MultiAssignParams& p, faiss::Index::idx_t* lists);

/// The batch-size floor of the neighbors rule: 32 rows per list.
inline std::int64_t min_neighbor_batch(std::int64_t nlist) { return 32 * nlist; }

/// Rows per neighbors-rule batch for n rows of dimension d (equal batches, none larger than
/// p.neighbors_batch_rows or its automatic value).
std::int64_t neighbor_batch_rows(const MultiAssignParams& p, std::int64_t n, std::int64_t d,
                                 std::int64_t nlist);

}  // namespace flashgmm::ivf
