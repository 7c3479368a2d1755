// flashgmm FAISS plugin: which inverted lists each database vector goes to.
#pragma once

#include <cstdint>

#include <faiss/Index.h>

#include "flashgmm/gaussian_mixture.hpp"

namespace flashgmm::ivf {

/// Multi-assignment rule: every vector goes to its primary list (the quantizer's first choice,
/// so queries routed the same way always find it there), and to further lists in posterior
/// order while p(k|x) ≥ min_posterior, at most max_copies lists in all. Defaults chosen by
/// experiment (bench/RESULTS.md): they keep index entries ≤ 1.5·N on the data sets measured.
struct MultiAssignParams {
  int max_copies = 2;           ///< m ≥ 1 (1 = no multi-assignment)
  float min_posterior = 0.25f;  ///< τ in (0, 1]
  std::int64_t chunk_rows = 16384;  ///< rows per posterior call: memory O(chunk·m), never N·K
  void validate() const;
};

/// lists[i·m + j], j < m = p.max_copies: the lists of row i, primary first, −1 where unused.
/// Posteriors come from GaussianMixture::predict_topk (top m+1 components per row), computed
/// chunk by chunk.
void assign_lists(const GaussianMixture& mixture, const faiss::Index& quantizer, const float* x,
                  std::int64_t n, const MultiAssignParams& p, faiss::Index::idx_t* lists);

}  // namespace flashgmm::ivf
