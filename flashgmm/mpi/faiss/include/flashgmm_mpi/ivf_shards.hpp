// flashgmm over MPI + FAISS: each rank multi-assigns its own shard into the inverted lists of a
// shared trained GmmIvfIndex and writes them; the shard files merge into one index.
#pragma once

#include <string>
#include <vector>

#include "flashgmm/data_source.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"
#include "flashgmm_mpi/mpi_communicator.hpp"

namespace flashgmm::mpi {

/// `path` + ".shard-<rank>" (its mixture sidecar is that + ".gmm", as for every GmmIvfIndex).
std::string ivf_shard_path(const std::string& path, int rank);

/// Collective. `index` is this rank's copy of the same trained, empty GmmIvfIndex (e.g. every
/// rank loads one file). Each rank adds its rows of `local` with their global row ids (rank-order
/// offsets, as in the distributed fit) in chunks of `chunk_rows`, each row to its
/// multi-assignment lists, and writes its index to ivf_shard_path(out_path, rank). Then rank 0
/// merges the shards in rank order into `out_path` (merge_ivf_shards) and removes them. Every
/// rank learns any rank's failure (CollectiveError); the index on disk is complete or absent.
void add_shards_and_merge(ivf::GmmIvfIndex& index, const DataSource& local, MpiCommunicator& comm,
                          const std::string& out_path, std::int64_t chunk_rows = 65536);

/// Not collective: loads the shard indexes (written by GmmIvfIndex::save), checks that they share
/// one mixture, list count and codec, moves every list entry into the first with
/// faiss::IndexIVF::merge_from (ids kept), and returns the merged index (n_vectors = Σ, next
/// id = max). Memory: the merged index plus one shard.
ivf::GmmIvfIndex merge_ivf_shards(const std::vector<std::string>& shard_paths);

}  // namespace flashgmm::mpi
