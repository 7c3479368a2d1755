// The CPU E-step: rows in L2-sized tiles, x·μᵀ products by sgemm, log-sum-exp over K per row,
// responsibilities alive only for the tile, statistics by sgemm (rᵀx); OpenMP over tiles with
// per-thread float64 partial statistics reduced in a fixed order.
#pragma once

#include <memory>

#include "flashgmm/backend.hpp"

namespace flashgmm::cpu {

/// Extra memory: O(threads·tile·(K + D)) floats + O(threads·K·D) doubles (·D for full).
std::unique_ptr<Backend> make_backend(const Params& p, int dim);

/// Rows per tile for K components of dimension D: about `l2_bytes` of tile data, 16..1024.
std::int64_t tile_rows_for(int k, int d, CovarianceType t, std::int64_t l2_bytes);

}  // namespace flashgmm::cpu
