// `flashgmm-mpi ivf-add`: every rank multi-assigns its shard into a copy of one trained
// GmmIvfIndex; rank 0 merges the shard indexes into --out.
#include <chrono>
#include <limits>
#include <cstdio>
#include <memory>

#include "fit_mpi_command.hpp"
#include "flashgmm/flashgmm.hpp"
#include "flashgmm_mpi/collective_errors.hpp"
#include "flashgmm_mpi/ivf_shards.hpp"
#include "flashgmm_mpi/row_range_source.hpp"

namespace flashgmm::mpi::cli {

namespace {

struct IvfAddOptions {
  std::string index, data, out;
  bool split = false, drop_lists = false;
  long long chunk = 65536;
};

std::string expand_rank(std::string s, int rank) {
  for (size_t at; (at = s.find("{rank}")) != std::string::npos;) s.replace(at, 6, std::to_string(rank));
  return s;
}

int run_ivf_add(const IvfAddOptions& o) {
  MpiCommunicator comm;
  const int me = comm.rank();
  std::unique_ptr<ivf::GmmIvfIndex> index;
  std::shared_ptr<const DataSource> local;
  std::string err;
  try {
    const std::string path = expand_rank(o.data, me);
    FLASHGMM_CHECK((path != o.data) != o.split,
                   "give a per-rank --data path with '{rank}' or one file with --split (not both, not neither)");
    index = std::make_unique<ivf::GmmIvfIndex>(ivf::GmmIvfIndex::load(o.index));
    if (o.drop_lists && index->n_entries() > 0)
      index->remove_ids(faiss::IDSelectorRange(0, std::numeric_limits<faiss::Index::idx_t>::max()));
    FLASHGMM_CHECK(index->n_entries() == 0, "'" << o.index << "' already holds " << index->n_entries()
                                                << " list entries: pass --drop-lists to keep only its quantizer and codec");
    std::shared_ptr<const DataSource> file = open_data(path);
    if (o.split) {
      const RowSplit s = split_rows(file->rows(), comm.size(), me);
      local = std::make_shared<RowRangeSource>(file, s.first, s.count);
    } else {
      local = file;
    }
  } catch (const Error& e) {
    err = e.what();
  }
  agree_or_throw(comm.comm(), err);
  const auto t0 = std::chrono::steady_clock::now();
  add_shards_and_merge(*index, *local, comm, o.out, o.chunk);
  if (me == 0) {
    const ivf::GmmIvfIndex merged = ivf::GmmIvfIndex::load(o.out);
    std::printf("%lld vectors from %d ranks in %lld list entries (%.3f per vector), imbalance %.3f, %.2f s; "
                "index written to %s\n", (long long)merged.n_vectors(), comm.size(), (long long)merged.n_entries(),
                (double)merged.n_entries() / std::max<std::int64_t>(1, merged.n_vectors()), merged.imbalance_factor(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), o.out.c_str());
  }
  return 0;
}

}  // namespace

void add_ivf_add(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<IvfAddOptions>();
  CLI::App* c = app.add_subcommand(
      "ivf-add", "Multi-assign every rank's shard into one trained GmmIvfIndex (flashgmm-ivf build/train output)");
  c->add_option("--index", o->index, "Trained, empty GmmIvfIndex file (its .gmm sidecar beside it)")->required();
  c->add_option("--data", o->data, "Rows: a per-rank path with {rank}, or one file with --split")->required();
  c->add_flag("--split", o->split, "Every rank adds its contiguous row range of the one --data file");
  c->add_flag("--drop-lists", o->drop_lists,
              "Start from --index's quantizer and codec with its lists emptied (e.g. a flashgmm-ivf build on a sample)");
  c->add_option("--out", o->out, "Merged index to write (by rank 0), with its sidecar")->required();
  c->add_option("--chunk-rows", o->chunk, "Rows added at a time per rank")->capture_default_str();
  c->callback([o, &exit_code] { exit_code = run_ivf_add(*o); });
}

}  // namespace flashgmm::mpi::cli
