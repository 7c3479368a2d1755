// flashgmm dedup: near-duplicate detection for embeddings by GMM blocking.
//
// A Gaussian mixture is fitted on a sample; every vector goes to its most probable components
// (at most m, posterior ≥ τ, from GaussianMixture::predict_topk in chunks: memory O(N·m), never
// N×K); pairs are compared exactly only inside the components two vectors share, each pair once;
// pairs within the threshold are merged into groups (union-find). Vectors are read from the
// DataSource on demand, so a memory-mapped file larger than RAM works: only the assignments,
// buckets and group labels (O(N·m)) live in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "flashgmm/data_source.hpp"
#include "flashgmm/params.hpp"

namespace flashgmm::dedup {

/// What "near duplicate" means.
enum class Metric {
  cosine,  ///< cosine similarity ≥ threshold, threshold in (0, 1]; zero vectors are an error
  l2,      ///< Euclidean distance ≤ threshold (a radius ≥ 0; 0 = identical vectors only)
};
std::string to_string(Metric m);
Metric parse_metric(const std::string& s);  // "cosine", "l2"

/// Everything that controls a run. Defaults were chosen on the benchmarks of bench/RESULTS.md
/// ("## Dedup"): pair recall ≥ 0.99 there.
struct DedupParams {
  Metric metric = Metric::cosine;
  double threshold = 0.95;

  /// Mixture components = buckets. 0 = automatic: ⌊√N⌋ capped at 4096 and at N/32 (≥ 1).
  /// Pairs compared ≈ N²·a²/(2K) for a mean of a assignments per vector.
  int n_components = 0;
  /// m: each vector goes to at most this many components (its most probable first), ≥ 1.
  int max_assign = 3;
  /// τ in (0, 1]: a component beyond the first is used only when its posterior is ≥ τ.
  /// Lower τ / higher m: more pairs compared, fewer near duplicates split across components.
  double min_posterior = 0.01;
  /// T ≥ 1: assignments use the mixture's posteriors at temperature T, p_k ∝ (w_k·N(x|k))^(1/T)
  /// (computed exactly, by a mixture with T·Σ_k and adjusted weights). A fitted mixture is
  /// over-confident near its component borders in high dimension; T > 1 spreads border rows over
  /// their neighbouring components, so near duplicates on either side still share one.
  double temperature = 2.0;
  /// tied (one shared covariance) gives linear borders and balanced buckets; with diag or
  /// spherical a broad component can absorb the outskirts of the data into one huge bucket
  /// (bench/RESULTS.md: largest bucket 78k of 200k rows with diag, 4.6k with tied).
  CovarianceType covariance_type = CovarianceType::tied;
  /// Rows the mixture is fitted on, drawn at random. 0 = automatic: min(N, max(65536, 64·K)).
  std::int64_t fit_sample = 0;
  int max_iter = 30;       ///< EM iterations of the blocking mixture (it only needs to cut space)
  double tol = 1e-3;       ///< EM convergence tolerance
  std::uint64_t seed = 0;  ///< fit sample, initialisation and quality sample
  BackendKind backend = BackendKind::automatic;  ///< where the mixture is fitted and evaluated
  int n_threads = 0;       ///< CPU threads for comparisons; 0 = OpenMP's default
  std::int64_t chunk_rows = 16384;  ///< rows per posterior call: memory O(chunk·(D + m))

  /// Quality report: this many random rows ("anchors") are compared by brute force against all
  /// N rows and the pairs they take part in are checked. 0 = no report; ≥ N = all rows (full
  /// brute force, only sensible for small N).
  std::int64_t check_sample = 0;

  /// Throws Error naming the first invalid field.
  void validate() const;
};

/// Brute-force check on a random sample of rows (DedupParams::check_sample).
struct QualityReport {
  std::int64_t anchors = 0;
  std::int64_t true_pairs = 0;     ///< pairs within the threshold (brute force) involving an anchor
  std::int64_t found_pairs = 0;    ///< pairs the blocking run found similar involving an anchor
  std::int64_t matched_pairs = 0;  ///< pairs in both sets
  std::int64_t grouped_pairs = 0;  ///< true pairs whose rows ended in the same group
  double pair_recall = 1.0;        ///< matched / true (1 when there are none)
  double pair_precision = 1.0;     ///< matched / found (1 when there are none)
  double group_recall = 1.0;       ///< grouped / true
  std::int64_t brute_force_comparisons = 0;
  double seconds = 0.0;
};

/// What a run did.
struct DedupSummary {
  std::int64_t n = 0;
  int dim = 0;
  int n_components = 0;
  std::string backend;
  double mean_assignments = 0.0;    ///< components per vector (1 ≤ a ≤ m)
  std::int64_t max_bucket = 0;      ///< rows in the largest component
  std::int64_t candidate_pairs = 0; ///< Σ over components of b(b−1)/2 (pairs shared by two
                                    ///< components counted twice)
  std::int64_t pairs_compared = 0;  ///< distinct pairs whose exact similarity was computed
  double brute_force_pairs = 0.0;   ///< N(N−1)/2
  double reduction = 0.0;           ///< brute_force_pairs / pairs_compared
  std::int64_t duplicate_pairs = 0; ///< compared pairs within the threshold
  std::int64_t groups = 0;          ///< groups of ≥ 2 rows
  std::int64_t rows_in_groups = 0;  ///< rows in those groups
  std::int64_t rows_kept = 0;       ///< N − rows_in_groups + groups (the keep-list's length)
  double fit_seconds = 0.0, assign_seconds = 0.0, compare_seconds = 0.0, check_seconds = 0.0,
         total_seconds = 0.0;
  std::int64_t index_bytes = 0;     ///< assignments + buckets + union-find (the O(N·m) part)
  std::int64_t peak_rss_bytes = 0;  ///< the process's peak resident set (mapped pages included)
  bool has_quality = false;
  QualityReport quality;
};

struct DedupResult {
  /// Per row, the representative of its group: the smallest row index in the group (a row
  /// without duplicates is its own representative).
  std::vector<std::int64_t> representative;
  DedupSummary summary;
};

/// A step of a long run. Return false from the callback to stop (deduplicate then throws
/// Error "dedup interrupted").
struct Progress {
  const char* stage;  ///< "fit", "assign", "compare", "check"
  std::int64_t done;
  std::int64_t total;
};
using ProgressCallback = std::function<bool(const Progress&)>;

/// Finds near-duplicate groups among the rows of `data`. Throws Error for invalid parameters,
/// an empty input, non-finite rows (the first is named) and, with the cosine metric, zero rows.
DedupResult deduplicate(const DataSource& data, const DedupParams& params,
                        const ProgressCallback& progress = {});

/// Groups of ≥ 2 rows as a compact listing: members of group g are
/// members[offsets[g] .. offsets[g+1]), ascending, the representative first.
struct GroupList {
  std::vector<std::int64_t> offsets;
  std::vector<std::int64_t> members;
  std::int64_t size() const { return offsets.empty() ? 0 : static_cast<std::int64_t>(offsets.size()) - 1; }
};
/// Groups ordered by representative.
GroupList list_groups(const std::vector<std::int64_t>& representative);

/// Rows to keep: each row whose representative is itself, ascending.
std::vector<std::int64_t> keep_list(const std::vector<std::int64_t>& representative);

/// Peak resident set size of this process in bytes (0 where it cannot be read).
std::int64_t peak_rss_bytes();

}  // namespace flashgmm::dedup
