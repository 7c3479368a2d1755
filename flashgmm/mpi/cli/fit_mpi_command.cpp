// `flashgmm-mpi fit`: one EM over every rank of the job; rank 0 prints and writes the model.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "fit_mpi_command.hpp"
#include "flashgmm/flashgmm.hpp"
#include "flashgmm_mpi/distributed_fit.hpp"
#include "flashgmm_mpi/row_range_source.hpp"
#include "json.hpp"

namespace flashgmm::mpi::cli {

namespace {

// 'shard-{rank}.npy' → 'shard-2.npy'; also {size}.
std::string expand(std::string s, int rank, int size) {
  for (const auto& [key, val] : {std::pair<std::string, int>{"{rank}", rank}, {"{size}", size}}) {
    for (size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, key.size(), std::to_string(val));
  }
  return s;
}

// With --gpu-per-rank, rank i of a node sees only the i-th visible GPU (mod their count).
void pick_gpu_for_local_rank(MPI_Comm comm) {
  MPI_Comm node;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int local = 0;
  MPI_Comm_rank(node, &local);
  MPI_Comm_free(&node);
  const char* vis = std::getenv("CUDA_VISIBLE_DEVICES");
  std::string pick = std::to_string(local);
  if (vis && *vis) {
    std::vector<std::string> ids;
    std::string cur;
    for (const char* c = vis;; ++c) {
      if (*c == ',' || *c == '\0') {
        if (!cur.empty()) ids.push_back(cur);
        cur.clear();
        if (!*c) break;
      } else {
        cur += *c;
      }
    }
    if (!ids.empty()) pick = ids[(size_t)local % ids.size()];
  }
  setenv("CUDA_VISIBLE_DEVICES", pick.c_str(), 1);
}

int run_fit(const FitMpiOptions& o) {
  // Parse and open locally; exchange the verdicts so that a bad option or a missing shard
  // stops every rank with the same message.
  MpiCommunicator comm(MPI_COMM_WORLD, parse_reduce_algorithm(o.reduce.c_str()));
  const int R = comm.size(), me = comm.rank();
  const bool lead = me == 0;
  Params p;
  std::shared_ptr<const DataSource> local;
  std::string err;
  try {
    p = o.to_params();
    p.validate();
    const std::string path = expand(o.data, me, R);
    const bool templated = path != o.data;
    FLASHGMM_CHECK(!(templated && o.split),
                   "--split with a per-rank path ('{rank}' in --data): give one or the other");
    FLASHGMM_CHECK(templated || o.split, "--data '" << o.data << "' names one file for every rank: put '{rank}' "
                                         "in the path (one shard per rank) or pass --split (a row range each)");
    if (o.gpu_per_rank) pick_gpu_for_local_rank(comm.comm());
    std::shared_ptr<const DataSource> file = open_data(path);
    if (o.split) {
      const RowSplit s = split_rows(file->rows(), R, me);
      local = std::make_shared<RowRangeSource>(file, s.first, s.count);
    } else {
      local = file;
    }
  } catch (const Error& e) {
    err = e.what();
  }
  agree_or_throw(comm.comm(), err);

  GaussianMixture g(p);
  // Per-iteration communication: the counters' difference between consecutive callbacks.
  CommStats last = comm.stats();
  std::vector<CommStats> per_iter;
  g.set_iteration_callback([&](const IterationStats& s) {
    const CommStats now = comm.stats();
    per_iter.push_back({now.calls - last.calls, now.payload_bytes - last.payload_bytes,
                        now.bytes_sent - last.bytes_sent, now.seconds - last.seconds});
    last = now;
    if (lead && !o.quiet) {
      std::printf("%5d %5d %20.8f %12.4e %9.3f %11.4f %9d\n", s.init, s.iteration, s.lower_bound, s.change,
                  s.seconds, per_iter.back().seconds, s.reseeded);
      std::fflush(stdout);
    }
    return true;
  });
  std::vector<long long> rows_of(R, 0);
  {
    std::vector<std::int64_t> r(R, 0);
    r[me] = local->rows();
    comm.allreduce_sum(r.data(), r.size());
    std::copy(r.begin(), r.end(), rows_of.begin());
  }
  long long n_total = 0;
  for (long long n : rows_of) n_total += n;
  if (lead && !o.quiet) {
    std::printf("data: %lld rows x %d dims over %d ranks (rank 0: %s); K=%d, covariance=%s, device=%s, "
                "reduction=%s\n", n_total, local->dim(), R, local->describe().c_str(), o.k, o.covariance.c_str(),
                o.device.c_str(), o.reduce.c_str());
    std::printf("%5s %5s %20s %12s %9s %11s %9s\n", "init", "iter", "log-likelihood", "change", "seconds",
                "allreduce s", "reseeded");
  }
  comm.reset_stats();
  last = comm.stats();
  const auto t0 = std::chrono::steady_clock::now();
  fit_distributed(g, *local, nullptr, comm);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Rank 0 writes; its success or failure is every rank's exit status.
  err.clear();
  if (lead) {
    try {
      save_model(g.model(), o.out);
    } catch (const Error& e) {
      err = e.what();
    }
  }
  agree_or_throw(comm.comm(), err, "writing the model");
  if (!lead) return 0;
  const FitInfo& fi = g.fit_info();
  if (!o.quiet)
    std::printf("\nmodel: K=%d, D=%d, converged=%s after %d iterations, lower bound %.8f; backend %s, "
                "%.3f s; model written to %s\n", g.model().n_components, g.model().dim,
                fi.converged ? "yes" : "no", fi.n_iter, fi.lower_bound, fi.backend.c_str(), secs, o.out.c_str());
  if (o.json) {
    // Medians over iterations after the first (the first also carries the init sample).
    auto median = [&](auto field) {
      std::vector<double> v;
      for (size_t i = per_iter.size() > 1 ? 1 : 0; i < per_iter.size(); ++i) v.push_back(field(per_iter[i]));
      if (v.empty()) return 0.0;
      std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
      return v[v.size() / 2];
    };
    std::vector<double> it_secs;
    for (const auto& h : fi.history) it_secs.push_back(h.seconds);
    std::sort(it_secs.begin(), it_secs.end());
    ::flashgmm::cli::JsonLine()
        .add("n_ranks", R)
        .add("n_rows", n_total)
        .add("dim", g.model().dim)
        .add("n_components", o.k)
        .add("covariance_type", o.covariance)
        .add("reduction", o.reduce)
        .add("n_iter", fi.n_iter)
        .add("converged", fi.converged)
        .add("lower_bound", fi.lower_bound)
        .add("seconds", secs)
        .add("seconds_per_iteration", it_secs.empty() ? 0.0 : it_secs[it_secs.size() / 2])
        .add("allreduce_seconds_per_iteration", median([](const CommStats& c) { return c.seconds; }))
        .add("allreduce_payload_bytes_per_iteration",
             (long long)median([](const CommStats& c) { return (double)c.payload_bytes; }))
        .add("bytes_sent_per_iteration_rank0", (long long)median([](const CommStats& c) { return (double)c.bytes_sent; }))
        .add("backend", fi.backend)
        .add("model", o.out)
        .print();
  }
  return 0;
}

}  // namespace

void add_fit(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<FitMpiOptions>();
  CLI::App* c = app.add_subcommand("fit", "Fit one Gaussian mixture over the shards of every rank");
  c->add_option("--data", o->data,
                "Input rows: a per-rank path with {rank} (e.g. 'shard-{rank}.npy'), or one file with --split")
      ->required();
  c->add_flag("--split", o->split, "Every rank reads its contiguous row range of the one --data file");
  c->add_option("--k", o->k, "Number of components")->required();
  c->add_option("--out", o->out, "Model file to write (by rank 0)")->required();
  flashgmm::cli::add_em_options(c, *o);  // per rank: --device, --threads, --gpu-memory-mb
  c->add_flag("--gpu-per-rank", o->gpu_per_rank,
              "Rank i of a node uses the i-th visible GPU (sets CUDA_VISIBLE_DEVICES)");
  c->add_option("--reduce", o->reduce,
                "rank-order (bitwise repeatable, MPI-independent) | mpi (MPI_Allreduce)")->capture_default_str();
  c->add_flag("--json", o->json, "Rank 0 prints a JSON object as the last line");
  c->add_flag("--quiet", o->quiet, "No progress lines or summary");
  c->callback([o, &exit_code] { exit_code = run_fit(*o); });
}

}  // namespace flashgmm::mpi::cli
