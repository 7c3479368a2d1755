// The mixture sidecar written next to a FAISS index file: versioned, checksummed binary.
//   "FGMMIVF\0" | u32 version | u32 0 | u64 payload bytes | payload | u64 FNV-1a-64 of all before
// payload: i32 dim, i64 nlist, i64 ntotal, i64 n_vectors, i64 next_id, i32 max_copies_stored,
//   i32 assign.max_copies, f32 assign.min_posterior, i64 assign.chunk_rows,
//   [version ≥ 2: i32 assign.rule, f32 soar_lambda, i32 candidates, f32 spill_fraction,
//    f32 spill_threshold (spill_ratio is folded into it: not stored)]
//   [version ≥ 3: i32 neighbors, f32 cost_weight, i32 probe_depth, i32 search_nprobe,
//    f32 pseudo_query_fraction]
//   [version ≥ 4: i64 neighbors_batch_rows] [version ≥ 5: f32 max_entries_ratio]
//   i32 routing.order, f64 probe_mass, f64 temperature, i32 min_probes,
//   u64 centroid fingerprint (FNV-1a-64 of the quantizer's float centroids),
//   u64 model bytes, serialize_model(model)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flashgmm/model.hpp"
#include "flashgmm_faiss/gmm_quantizer.hpp"
#include "flashgmm_faiss/multi_assign.hpp"

namespace flashgmm::ivf {

// 1 (posterior rule), 2 (no neighbors rule), 3 (no neighbors batch bound), 4 (no entry budget:
// read as max_entries_ratio 0, the rule they were built with) are still read
constexpr std::uint32_t kSidecarVersion = 5;

struct Sidecar {
  std::int32_t dim = 0;
  std::int64_t nlist = 0;
  std::int64_t ntotal = 0;
  std::int64_t n_vectors = 0;
  std::int64_t next_id = 0;
  std::int32_t max_copies_stored = 1;
  MultiAssignParams assign;
  RoutingParams routing;
  std::uint64_t centroid_fingerprint = 0;
  Model model;
};

std::uint64_t fnv1a64(const void* data, std::size_t bytes, std::uint64_t h = 1469598103934665603ULL);

std::vector<std::uint8_t> encode_sidecar(const Sidecar& s);
/// Throws Error naming `what` (the file) when the bytes are not a valid sidecar.
Sidecar decode_sidecar(const std::uint8_t* data, std::size_t size, const std::string& what);

/// Atomic write (temporary name, then rename) and checked read.
void write_sidecar(const std::string& path, const Sidecar& s);
Sidecar read_sidecar(const std::string& path);

/// What the sidecar records of the quantizer: FNV-1a-64 of its nlist × d float centroids.
std::uint64_t centroid_fingerprint(const float* centroids, std::int64_t nlist, std::int64_t d);

/// The index a sidecar is checked against when the pair is read: its dimension, lists, list
/// entries (FAISS's ntotal, copies included), centroids held by the quantizer and their fingerprint.
struct SidecarTarget {
  std::int64_t d = 0;
  std::int64_t nlist = 0;
  std::int64_t ntotal = 0;
  std::int64_t quantizer_ntotal = 0;
  std::uint64_t centroid_fingerprint = 0;
};

/// Throws Error "GMM sidecar 'sidecar_path' does not match 'index_path': ..." naming the first
/// difference (C++ GmmIvfIndex::load and the Python layer's read_index share it).
void check_sidecar_matches(const Sidecar& s, const SidecarTarget& index, const std::string& sidecar_path,
                           const std::string& index_path);

}  // namespace flashgmm::ivf
