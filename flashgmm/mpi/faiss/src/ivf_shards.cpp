#include "flashgmm_mpi/ivf_shards.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>

#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>

#include "flashgmm/error.hpp"
#include "flashgmm_mpi/collective_errors.hpp"

namespace flashgmm::mpi {

std::string ivf_shard_path(const std::string& path, int rank) { return path + ".shard-" + std::to_string(rank); }

namespace {

bool same_model(const Model& a, const Model& b) {
  return a.covariance_type == b.covariance_type && a.n_components == b.n_components && a.dim == b.dim &&
         a.weights == b.weights && a.means == b.means && a.covariances == b.covariances;
}

std::unique_ptr<faiss::IndexIVF> read_ivf(const std::string& path) {
  std::unique_ptr<faiss::Index> idx;
  try {
    idx.reset(faiss::read_index(path.c_str()));
  } catch (const faiss::FaissException& e) {
    FLASHGMM_THROW("cannot read the IVF shard '" << path << "': " << e.what());
  }
  auto* ivf = dynamic_cast<faiss::IndexIVF*>(idx.get());
  FLASHGMM_CHECK(ivf != nullptr, "'" << path << "' is not an IVF index");
  idx.release();
  return std::unique_ptr<faiss::IndexIVF>(ivf);
}

void remove_files(const std::string& path) {
  std::remove(path.c_str());
  std::remove(ivf::GmmIvfIndex::sidecar_path(path).c_str());
}

}  // namespace

ivf::GmmIvfIndex merge_ivf_shards(const std::vector<std::string>& shard_paths) {
  FLASHGMM_CHECK(!shard_paths.empty(), "merge_ivf_shards: no shard files");
  // The first shard's mixture, parameters and bookkeeping, then its lists as the base.
  std::int64_t n_vectors = 0, next_id = 0;
  std::unique_ptr<GaussianMixture> mixture;
  ivf::GmmIvfParams params;
  {
    const ivf::GmmIvfIndex first = ivf::GmmIvfIndex::load(shard_paths[0]);
    params = first.params();
    mixture = std::make_unique<GaussianMixture>(params.gmm);
    mixture->set_model(first.mixture().model());
    n_vectors = first.n_vectors();
    next_id = first.n_added();
  }
  std::unique_ptr<faiss::IndexIVF> base = read_ivf(shard_paths[0]);
  for (size_t s = 1; s < shard_paths.size(); ++s) {
    ivf::GmmIvfIndex shard = ivf::GmmIvfIndex::load(shard_paths[s]);
    FLASHGMM_CHECK(same_model(shard.mixture().model(), mixture->model()),
                   "IVF shard '" << shard_paths[s] << "' was built with another mixture than '" << shard_paths[0]
                                 << "': every shard must start from the same trained index");
    FLASHGMM_CHECK(shard.params().assign.max_copies == params.assign.max_copies &&
                       shard.params().assign.min_posterior == params.assign.min_posterior,
                   "IVF shard '" << shard_paths[s] << "' used another multi-assignment rule than '" << shard_paths[0]
                                 << "'");
    // Counted before merge_from empties the shard's lists (the counts follow the lists).
    n_vectors += shard.n_vectors();
    next_id = std::max(next_id, shard.n_added());
    try {
      base->merge_from(shard.ivf(), 0);  // ids are global already: no shift
    } catch (const faiss::FaissException& e) {
      FLASHGMM_THROW("cannot merge IVF shard '" << shard_paths[s] << "': " << e.what());
    }
  }
  return ivf::GmmIvfIndex(std::move(base), std::move(*mixture), params, n_vectors, next_id);
}

void add_shards_and_merge(ivf::GmmIvfIndex& index, const DataSource& local, MpiCommunicator& comm,
                          const std::string& out_path, std::int64_t chunk_rows) {
  const int R = comm.size(), me = comm.rank();
  // Global ids: rank-order offsets from every rank's row count.
  std::vector<std::int64_t> rows(R, 0);
  rows[me] = local.rows();
  comm.allreduce_sum(rows.data(), rows.size());
  std::int64_t offset = 0;
  for (int r = 0; r < me; ++r) offset += rows[r];

  std::string err;
  const std::string mine = ivf_shard_path(out_path, me);
  try {
    FLASHGMM_CHECK(index.is_trained(), "the IVF index is not trained");
    FLASHGMM_CHECK(index.n_entries() == 0, "the IVF index already holds " << index.n_entries()
                                                                          << " entries; start from an empty one");
    FLASHGMM_CHECK(local.dim() == index.dim(), "the shard has " << local.dim() << " dimensions, the index "
                                                                 << index.dim() << " (" << local.describe() << ")");
    FLASHGMM_CHECK(chunk_rows >= 1, "chunk_rows must be >= 1, got " << chunk_rows);
    std::vector<float> buf;
    std::vector<faiss::Index::idx_t> ids;
    for (std::int64_t b = 0; b < local.rows(); b += chunk_rows) {
      const std::int64_t c = std::min(chunk_rows, local.rows() - b);
      const float* x = local.contiguous() ? local.contiguous() + (size_t)b * local.dim() : nullptr;
      if (!x) {
        buf.resize((size_t)c * local.dim());
        local.read(b, c, buf.data());
        x = buf.data();
      }
      ids.resize((size_t)c);
      for (std::int64_t i = 0; i < c; ++i) ids[(size_t)i] = offset + b + i;
      index.add_with_ids(c, x, ids.data());
    }
    index.save(mine);
  } catch (const std::exception& e) {
    err = e.what();
  }
  try {
    agree_or_throw(comm.comm(), err, "adding the shards to the IVF index");
  } catch (const CollectiveError&) {
    remove_files(mine);
    throw;
  }
  err.clear();
  if (me == 0) {
    std::vector<std::string> paths;
    for (int r = 0; r < R; ++r) paths.push_back(ivf_shard_path(out_path, r));
    try {
      merge_ivf_shards(paths).save(out_path);
      for (const auto& p : paths) remove_files(p);
    } catch (const std::exception& e) {
      err = e.what();
    }
  }
  agree_or_throw(comm.comm(), err, "merging the IVF shards");
}

}  // namespace flashgmm::mpi
