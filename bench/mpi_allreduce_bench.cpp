// The EM statistics reduction under MPI: flashgmm's rank-order (deterministic) allreduce vs
// MPI_Allreduce, at the sizes a fit sends each iteration. Run under mpirun:
//   mpirun -np R mpi_allreduce_bench [--reps 20]
// Prints, per covariance type and (K, D): doubles per call, bytes sent per rank, median time of
// both algorithms and their ratio, and whether all ranks hold bitwise-identical results.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "flashgmm/model.hpp"
#include "flashgmm_mpi/mpi_communicator.hpp"

using namespace flashgmm;
using flashgmm::mpi::MpiCommunicator;
using flashgmm::mpi::ReduceAlgorithm;

namespace {

// Doubles per iteration: N_k, Σr·x, second moments, log-likelihood, weight sum, rows.
std::size_t stats_doubles(CovarianceType t, int k, int d) {
  return (std::size_t)k + (std::size_t)k * d + covariance_size(t, k, d) + 3;
}

double median_seconds(MpiCommunicator& comm, std::vector<double>& buf, const std::vector<double>& fill, int reps) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    std::copy(fill.begin(), fill.end(), buf.begin());
    MPI_Barrier(comm.comm());
    const auto t0 = std::chrono::steady_clock::now();
    comm.allreduce_sum(buf.data(), buf.size());
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MPI_Allreduce(MPI_IN_PLACE, &s, 1, MPI_DOUBLE, MPI_MAX, comm.comm());  // the slowest rank
    t.push_back(s);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

bool same_on_all_ranks(MPI_Comm c, const std::vector<double>& v) {
  std::vector<double> root(v);
  MPI_Bcast(root.data(), (int)root.size(), MPI_DOUBLE, 0, c);
  int same = std::memcmp(root.data(), v.data(), v.size() * sizeof(double)) == 0, all = 0;
  MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, c);
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int reps = 20;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
  MpiCommunicator ro(MPI_COMM_WORLD, ReduceAlgorithm::rank_order), ma(MPI_COMM_WORLD, ReduceAlgorithm::mpi_allreduce);
  const int R = ro.size(), me = ro.rank();
  struct Case { CovarianceType t; int k, d; };
  const Case cases[] = {{CovarianceType::spherical, 1024, 96}, {CovarianceType::diag, 256, 32},
                        {CovarianceType::diag, 1024, 96},      {CovarianceType::diag, 4096, 128},
                        {CovarianceType::tied, 1024, 96},      {CovarianceType::full, 256, 64},
                        {CovarianceType::full, 1024, 96}};
  if (me == 0)
    std::printf("ranks %d, %d repetitions, median of the slowest rank\n%-9s %5s %4s %12s %14s %12s %12s %7s %9s\n", R,
                reps, "cov", "K", "D", "doubles", "sent/rank (B)", "rank-order", "MPI_Allred.", "ratio", "bitwise=");
  for (const Case& c : cases) {
    const std::size_t n = stats_doubles(c.t, c.k, c.d);
    std::vector<double> fill(n), buf(n);
    for (std::size_t i = 0; i < n; ++i) fill[i] = 1e3 * std::sin(0.1 * (double)i + me) + 1e-3 * (double)(i % 97);
    ro.reset_stats();
    const double t_ro = median_seconds(ro, buf, fill, reps);
    const bool det_ro = same_on_all_ranks(ro.comm(), buf);
    const std::int64_t sent = ro.stats().bytes_sent / reps;
    const double t_ma = median_seconds(ma, buf, fill, reps);
    const bool det_ma = same_on_all_ranks(ma.comm(), buf);
    if (me == 0)
      std::printf("%-9s %5d %4d %12zu %14lld %10.3f ms %10.3f ms %7.2f %4s/%-4s\n", to_string(c.t).c_str(), c.k, c.d, n,
                  (long long)sent, 1e3 * t_ro, 1e3 * t_ma, t_ro / std::max(t_ma, 1e-12), det_ro ? "yes" : "NO",
                  det_ma ? "yes" : "NO");
  }
  MPI_Finalize();
  return 0;
}
