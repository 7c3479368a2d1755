// Nearest-row search inside a batch whose rows are grouped by inverted list, for the neighbors
// rule: each query scans only the lists it names, like an IVFFlat search_preassigned, but the
// distances come from sgemm over (queries probing a list) × (that list's rows) instead of one
// scalar L2 loop per pair (Debian's FAISS build scans with its reference loop: ~5× slower).
#pragma once

#include <cstdint>
#include <vector>

namespace flashgmm::ivf {

/// The rows of a batch sorted by their list, with squared norms; row ids index the batch.
struct GroupedRows {
  std::int64_t d = 0;
  std::vector<float> x;                  ///< rows in list order (n × d)
  std::vector<float> norms;              ///< ‖x‖² in that order
  std::vector<std::int64_t> row;         ///< batch row of each sorted row
  std::vector<std::int64_t> start;       ///< list l holds sorted rows [start[l], start[l+1])
};

/// Groups n rows of dimension d by list[i] ∈ [0, nlist).
GroupedRows group_rows(const float* x, std::int64_t n, std::int64_t d, std::int64_t nlist, const std::int64_t* list);

/// For each of the nq queries q (nq × g.d), its k nearest rows among the lists
/// probes[i·stride + j], j < nprobe (−1 entries skipped): batch row ids into labels[i·k ..]
/// (ascending distance, −1 where fewer rows were scanned) and squared L2 distances into
/// distances[i·k ..]. Exact over the rows scanned; OpenMP over query tiles, single-threaded BLAS.
void search_grouped(const GroupedRows& g, std::int64_t nq, const float* q, const std::int32_t* probes, int stride,
                    int nprobe, int k, std::int64_t* labels, float* distances);

}  // namespace flashgmm::ivf
