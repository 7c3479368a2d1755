// Run under mpirun with 1, 2 or 3 ranks: the distributed fit equals the single-process fit,
// the reduction is bitwise rank-ordered, and bad input stops every rank with the same error.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "flashgmm/flashgmm.hpp"
#include "flashgmm_mpi/distributed_fit.hpp"
#include "flashgmm_mpi/row_range_source.hpp"
#include "mpi_test_data.hpp"

namespace flashgmm::mpi {
namespace {

int world_rank() {
  int r;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int s;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// Values whose sum depends on the order of addition (magnitudes 1e-3 .. 1e12).
double value(int rank, std::size_t i) {
  const double m = std::pow(10.0, (double)((i * 7 + rank * 5) % 16) - 3.0);
  return m * std::sin(0.37 * (double)i + 1.3 * rank + 0.1);
}

TEST(MpiAllreduce, RankOrderIsTheSerialSumBitwiseOnEveryRank) {
  MpiCommunicator comm;
  const int R = comm.size(), me = comm.rank();
  for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(2), (std::size_t)R + 1, std::size_t(1000),
                        std::size_t(100003)}) {
    std::vector<double> got(n), want(n);
    std::vector<std::int64_t> got_i(n), want_i(n);
    for (std::size_t i = 0; i < n; ++i) {
      got[i] = value(me, i);
      got_i[i] = (std::int64_t)(i * 1000003) * (me + 1) - 77 * me;
      want[i] = value(0, i);
      want_i[i] = (std::int64_t)(i * 1000003);
      for (int r = 1; r < R; ++r) {
        want[i] += value(r, i);
        want_i[i] += (std::int64_t)(i * 1000003) * (r + 1) - 77 * r;
      }
    }
    comm.reset_stats();
    comm.allreduce_sum(got.data(), n);
    comm.allreduce_sum(got_i.data(), n);
    EXPECT_EQ(0, n ? std::memcmp(got.data(), want.data(), n * sizeof(double)) : 0) << "n=" << n;
    EXPECT_EQ(got_i, want_i) << "n=" << n;
    // Traffic: each rank sends all but its piece, then its piece to R−1 ranks: ≈ 2·n·(R−1)/R.
    const std::int64_t mine = (std::int64_t)(n * (me + 1) / R - n * me / R);
    EXPECT_EQ(comm.stats().bytes_sent, 2 * (((std::int64_t)n - mine) + mine * (R - 1)) * 8) << "n=" << n;
    EXPECT_EQ(comm.stats().payload_bytes, (std::int64_t)(2 * n * 8));
  }
}

TEST(MpiAllreduce, MpiAlgorithmAgreesToRounding) {
  MpiCommunicator comm(MPI_COMM_WORLD, ReduceAlgorithm::mpi_allreduce);
  const std::size_t n = 5000;
  std::vector<double> got(n), want(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    got[i] = value(comm.rank(), i);
    for (int r = 0; r < comm.size(); ++r) want[i] += value(r, i);
  }
  comm.allreduce_sum(got.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    double scale = 0;
    for (int r = 0; r < comm.size(); ++r) scale += std::fabs(value(r, i));
    EXPECT_NEAR(got[i], want[i], 1e-15 * scale * comm.size()) << i;
  }
}

TEST(RowSplit, ContiguousBalancedAndCovering) {
  for (std::int64_t n : {0, 1, 5, 1000, 1001}) {
    for (int R : {1, 2, 3, 7}) {
      std::int64_t next = 0;
      for (int r = 0; r < R; ++r) {
        const RowSplit s = split_rows(n, R, r);
        EXPECT_EQ(s.first, next);
        EXPECT_LE(std::abs(s.count - n / R), 1);
        next = s.first + s.count;
      }
      EXPECT_EQ(next, n);
    }
  }
}

// The global data set and this rank's shard of it.
struct Shards {
  std::int64_t n;
  int d;
  std::vector<float> all;
  std::vector<std::int64_t> off;
  MatrixSource local() const {
    const int me = world_rank();
    const std::int64_t rows = off[me + 1] - off[me];
    return MatrixSource(rows ? all.data() + off[me] * d : nullptr, rows, d);
  }
};

Shards make_shards(std::int64_t n, int d, int k, int empty_rank, std::int64_t granule = 1) {
  Shards s{n, d, mpi_test::clustered(n, d, k, 42), {}};
  s.off = mpi_test::uneven_offsets(n, world_size(), empty_rank, granule);
  return s;
}

// Every rank must hold rank 0's model, bit for bit.
void expect_same_on_every_rank(const Model& m, MPI_Comm comm) {
  for (const std::vector<double>* v : {&m.weights, &m.means, &m.covariances, &m.precisions_cholesky}) {
    std::vector<double> root(*v);
    MPI_Bcast(root.data(), (int)root.size(), MPI_DOUBLE, 0, comm);
    EXPECT_EQ(0, std::memcmp(root.data(), v->data(), v->size() * sizeof(double)));
  }
}

// rel: tolerance on the lower bound; prel: on weights, means and covariances (relative to 1 + |v|).
void expect_close_models(const GaussianMixture& a, const GaussianMixture& b, double rel, double prel) {
  EXPECT_NEAR(a.lower_bound(), b.lower_bound(), rel * std::fabs(b.lower_bound()));
  EXPECT_EQ(a.n_iter(), b.n_iter());
  const Model &x = a.model(), &y = b.model();
  ASSERT_EQ(x.means.size(), y.means.size());
  for (const auto& [u, v] : {std::pair{&x.weights, &y.weights}, std::pair{&x.means, &y.means},
                             std::pair{&x.covariances, &y.covariances}})
    for (size_t i = 0; i < v->size(); ++i) EXPECT_NEAR((*u)[i], (*v)[i], prel * (1 + std::fabs((*v)[i])));
}

// Tiles (and so the float32 partial sums of the CPU E-step) of this many rows; shard
// boundaries on multiples of it make the distributed and single-process passes add the same
// partial sums, in another order only.
constexpr std::int64_t kTile = 100;

Params test_params(CovarianceType t) {
  Params p;
  p.n_components = 4;
  p.covariance_type = t;
  p.max_iter = 30;
  p.tol = 1e-5;
  p.seed = 7;
  p.init_sample_size = 700;  // a true subsample: the gathered sample must match too
  p.chunk_rows = kTile;      // several chunks per shard
  p.tile_rows = kTile;
  return p;
}

class DistributedFit : public ::testing::TestWithParam<CovarianceType> {};

TEST_P(DistributedFit, EqualsTheSingleProcessFitOnTheConcatenatedShards) {
  for (int empty : {-1, 0, 1}) {  // no empty shard, rank 0 empty, rank 1 empty
    if (empty >= world_size() || (empty >= 0 && world_size() == 1)) continue;
    SCOPED_TRACE("empty rank " + std::to_string(empty));
    const Shards s = make_shards(2400, 5, 4, empty, kTile);
    GaussianMixture single(test_params(GetParam()));
    single.fit(s.all.data(), s.n, s.d);
    MpiCommunicator comm;
    GaussianMixture dist(test_params(GetParam()));
    const MatrixSource local = s.local();
    fit_distributed(dist, local, nullptr, comm);
    // Same partial sums, different order of the float64 additions: equal to rounding.
    expect_close_models(dist, single, 1e-12, 1e-9);
    expect_same_on_every_rank(dist.model(), comm.comm());
    if (comm.size() > 1) EXPECT_GT(comm.stats().calls, dist.n_iter());  // one reduction per iteration
  }
}

TEST_P(DistributedFit, ShardsAtAnyRowsMatchWithinTheIssueTolerance) {
  // Shard boundaries anywhere and default tiles: the float32 tile sums now differ, by as much
  // as a different chunk_rows changes a single-process fit.
  const Shards s = make_shards(2437, 5, 4, world_size() > 2 ? 2 : -1);
  Params p = test_params(GetParam());
  p.chunk_rows = 0;
  p.tile_rows = 0;
  GaussianMixture single(p), dist(p);
  single.fit(s.all.data(), s.n, s.d);
  MpiCommunicator comm;
  const MatrixSource local = s.local();
  fit_distributed(dist, local, nullptr, comm);
  expect_close_models(dist, single, 1e-6, 1e-3);
  expect_same_on_every_rank(dist.model(), comm.comm());
}

TEST_P(DistributedFit, IsBitwiseRepeatable) {
  const Shards s = make_shards(1500, 4, 3, -1);
  const MatrixSource local = s.local();
  MpiCommunicator comm;
  GaussianMixture a(test_params(GetParam())), b(test_params(GetParam()));
  fit_distributed(a, local, nullptr, comm);
  fit_distributed(b, local, nullptr, comm);
  EXPECT_EQ(a.model().means, b.model().means);
  EXPECT_EQ(a.model().covariances, b.model().covariances);
  EXPECT_EQ(a.lower_bound(), b.lower_bound());
}

INSTANTIATE_TEST_SUITE_P(AllCovarianceTypes, DistributedFit,
                         ::testing::Values(CovarianceType::spherical, CovarianceType::diag, CovarianceType::full,
                                           CovarianceType::tied),
                         [](const auto& info) { return to_string(info.param); });

TEST(DistributedFitWeights, EqualSingleProcessWeightedFitWithAnEmptyRankPassingNull) {
  const int empty = world_size() > 1 ? 1 : -1;
  const Shards s = make_shards(2000, 3, 3, empty, kTile);
  std::vector<float> w(s.n);
  for (std::int64_t i = 0; i < s.n; ++i) w[i] = 0.25f + (float)((i * 13) % 7);
  Params p = test_params(CovarianceType::diag);
  p.n_components = 3;
  GaussianMixture single(p), dist(p);
  single.fit(s.all.data(), s.n, s.d, w.data());
  const int me = world_rank();
  const MatrixSource local = s.local();
  const float* lw = local.rows() ? w.data() + s.off[me] : nullptr;  // as an empty vector's data()
  MpiCommunicator comm;
  fit_distributed(dist, local, lw, comm);
  expect_close_models(dist, single, 1e-12, 1e-9);
}

// Runs fit_distributed and expects the same CollectiveError on every rank.
void expect_collective_error(GaussianMixture& g, const DataSource& local, const float* w, const char* needle) {
  MpiCommunicator comm;
  std::string what;
  try {
    fit_distributed(g, local, w, comm);
  } catch (const CollectiveError& e) {
    what = e.what();
  }
  EXPECT_NE(what.find(needle), std::string::npos) << "message: '" << what << "'";
  const std::vector<std::string> all = allgather_strings(comm.comm(), what);
  for (const auto& m : all) EXPECT_EQ(m, all[0]) << "ranks report different errors";
}

TEST(DistributedFitErrors, MismatchedDimensionStopsEveryRank) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  const int me = world_rank();
  const int d = me == 1 ? 6 : 5;
  const std::vector<float> x = mpi_test::clustered(300, d, 2, me);
  const MatrixSource local(x.data(), 300, d);
  GaussianMixture g(test_params(CovarianceType::diag));
  expect_collective_error(g, local, nullptr, "ranks disagree on the data dimension: rank 0 has 5");
  // The core's own check (without fit_distributed) also throws on every rank.
  MpiCommunicator comm;
  std::string what;
  try {
    g.fit(local, nullptr, comm);
  } catch (const Error& e) {
    what = e.what();
  }
  EXPECT_NE(what.find("disagree on the data dimension"), std::string::npos) << what;
}

TEST(DistributedFitErrors, MismatchedParametersStopEveryRank) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  const Shards s = make_shards(600, 3, 2, -1);
  const MatrixSource local = s.local();
  Params p = test_params(CovarianceType::full);
  if (world_rank() == world_size() - 1) p.n_components = 5;
  GaussianMixture g(p);
  expect_collective_error(g, local, nullptr, "ranks disagree on parameter n_components: rank 0 has 4");
}

TEST(DistributedFitErrors, DifferentBackendsStopEveryRank) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  const Shards s = make_shards(600, 3, 2, -1);
  const MatrixSource local = s.local();
  Params p = test_params(CovarianceType::diag);
  if (world_rank() == 1) {
    p.backend = BackendKind::cuda;  // checked before any backend is created: no GPU needed
    p.precision = Precision::fast;
  }
  GaussianMixture g(p);
  expect_collective_error(g, local, nullptr, "ranks disagree on parameter backend: rank 0 has cpu, rank 1 has cuda (fast)");
}

TEST(DistributedFitErrors, NanOnOneRankStopsEveryRankNamingIt) {
  Shards s = make_shards(900, 3, 2, -1);
  const int last = world_size() - 1;
  s.all[(size_t)(s.off[last] + 3) * s.d + 1] = std::numeric_limits<float>::quiet_NaN();
  const MatrixSource local = s.local();
  GaussianMixture g(test_params(CovarianceType::diag));
  const std::string needle = "rank " + std::to_string(last) + ": input contains NaN or infinity: row " +
                             std::to_string(s.off[last] + 3);
  expect_collective_error(g, local, nullptr, needle.c_str());
}

TEST(DistributedFitErrors, TooFewRowsOverallStopsEveryRank) {
  const Shards s = make_shards(3, 2, 1, -1);
  const MatrixSource local = s.local();
  GaussianMixture g(test_params(CovarianceType::diag));  // K = 4 > 3 rows
  expect_collective_error(g, local, nullptr, "n_samples = 3");
}

TEST(DistributedFitErrors, WeightsOnSomeRanksOnlyStopEveryRank) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  const Shards s = make_shards(600, 3, 2, -1);
  const MatrixSource local = s.local();
  std::vector<float> w(s.n, 1.0f);
  GaussianMixture g(test_params(CovarianceType::diag));
  expect_collective_error(g, local, world_rank() == 0 ? w.data() : nullptr,
                          "ranks disagree on sample weights: rank 0 passes them, rank 1 does not");
}

}  // namespace
}  // namespace flashgmm::mpi

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  // Rank 0 prints the full report; other ranks print only failures.
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    struct FailurePrinter : ::testing::EmptyTestEventListener {
      int rank;
      explicit FailurePrinter(int r) : rank(r) {}
      void OnTestPartResult(const ::testing::TestPartResult& r) override {
        if (r.failed()) std::fprintf(stderr, "[rank %d] %s:%d: %s\n", rank, r.file_name(), r.line_number(), r.summary());
      }
    };
    listeners.Append(new FailurePrinter(rank));
  }
  const int rc = RUN_ALL_TESTS();
  MPI_Finalize();
  return rc;
}
