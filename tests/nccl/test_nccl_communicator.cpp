// NcclCommunicator on every visible GPU: sums, bit-identical results on every participant,
// rank-order reduction equal to the serial sum, a stopped peer ending a wait within seconds;
// plus the parts that need no GPU (row splitting, names, NCCL_NVLS_ENABLE).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <numeric>
#include <thread>

#include "flashgmm/data_source.hpp"
#include "flashgmm_nccl/nccl_communicator.hpp"
#include "flashgmm_nccl/row_range_view.hpp"
#include "nccl_test_support.hpp"

namespace flashgmm::nccl {
namespace {

// Values whose sum depends on the order of addition (magnitudes 1e-3 .. 1e12).
double value(int rank, std::size_t i) {
  const double m = std::pow(10.0, (double)((i * 7 + rank * 5) % 16) - 3.0);
  return m * std::sin(0.37 * (double)i + 1.3 * rank + 0.1);
}
std::int64_t ivalue(int rank, std::size_t i) { return (std::int64_t)(i * 1000003) * (rank + 1) - 77 * rank; }

TEST(RowSplit, ContiguousBalancedAndCovering) {
  for (std::int64_t n : {0, 1, 5, 1000, 1001}) {
    for (int P : {1, 2, 3, 8}) {
      const std::vector<std::int64_t> f = split_rows(n, P);
      ASSERT_EQ(f.size(), (size_t)P + 1);
      EXPECT_EQ(f.front(), 0);
      EXPECT_EQ(f.back(), n);
      for (int p = 0; p < P; ++p) {
        EXPECT_LE(f[p], f[p + 1]);
        EXPECT_LE(std::abs((f[p + 1] - f[p]) - n / P), 1) << "n=" << n << " P=" << P;
      }
    }
  }
  EXPECT_THROW(split_rows(10, 0), Error);
}

TEST(RowRangeView, ReadsItsRowsAndRejectsOthers) {
  std::vector<float> x(10 * 3);
  std::iota(x.begin(), x.end(), 0.0f);
  const MatrixSource base(x.data(), 10, 3);
  const RowRangeView v(base, 4, 5);
  EXPECT_EQ(v.rows(), 5);
  EXPECT_EQ(v.dim(), 3);
  EXPECT_EQ(v.contiguous(), x.data() + 12);
  std::vector<float> out(2 * 3);
  v.read(3, 2, out.data());
  EXPECT_EQ(out, std::vector<float>(x.begin() + 21, x.begin() + 27));
  EXPECT_THROW(v.read(4, 2, out.data()), Error);
  EXPECT_THROW(RowRangeView(base, 8, 3), Error);
  EXPECT_NE(v.describe().find("rows [4, 9)"), std::string::npos) << v.describe();
}

TEST(NcclReduceNames, RoundTripAndBadValue) {
  for (NcclReduce a : {NcclReduce::allreduce, NcclReduce::rank_order}) EXPECT_EQ(parse_nccl_reduce(to_string(a)), a);
  try {
    parse_nccl_reduce("ring");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'ring'"), std::string::npos) << e.what();
  }
}

TEST(NvlsSetting, OffUnlessTheUserSetIt) {
  const char* before = std::getenv("NCCL_NVLS_ENABLE");
  const std::string saved = before ? before : "";
  unsetenv("NCCL_NVLS_ENABLE");
  EXPECT_STREQ(disable_nvls_unless_set(), "0");
  EXPECT_STREQ(std::getenv("NCCL_NVLS_ENABLE"), "0");
  setenv("NCCL_NVLS_ENABLE", "1", 1);
  EXPECT_STREQ(disable_nvls_unless_set(), "1");
  if (before) setenv("NCCL_NVLS_ENABLE", saved.c_str(), 1); else unsetenv("NCCL_NVLS_ENABLE");
}

TEST(LocalCommunicators, BadDeviceListsAreErrors) {
  FLASHGMM_REQUIRE_GPUS(1);
  const int n = nccl_test::gpu_count();
  EXPECT_THROW(make_local_communicators({}), Error);
  try {
    make_local_communicators({n});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  try {
    make_local_communicators({0, 0});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("listed twice"), std::string::npos) << e.what();
  }
}

// Every participant reduces the same lengths; returns what each one received.
struct Received {
  std::vector<std::vector<double>> d;
  std::vector<std::vector<std::int64_t>> i;
};
Received reduce_on_all(std::vector<std::unique_ptr<NcclCommunicator>>& comms, std::size_t n) {
  const int P = (int)comms.size();
  Received got{std::vector<std::vector<double>>(P), std::vector<std::vector<std::int64_t>>(P)};
  std::vector<std::string> errors(P);
  std::vector<std::thread> threads;
  for (int r = 0; r < P; ++r)
    threads.emplace_back([&, r] {
      try {
        got.d[r].resize(n);
        got.i[r].resize(n);
        for (std::size_t k = 0; k < n; ++k) got.d[r][k] = value(r, k), got.i[r][k] = ivalue(r, k);
        comms[r]->allreduce_sum(got.d[r].data(), n);
        comms[r]->allreduce_sum(got.i[r].data(), n);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < P; ++r) EXPECT_EQ(errors[r], "") << "participant " << r;
  return got;
}

void destroy_all(std::vector<std::unique_ptr<NcclCommunicator>>& comms) {
  // ncclCommDestroy is collective: every participant's destructor at once.
  std::vector<std::thread> threads;
  for (auto& c : comms) threads.emplace_back([&c] { c.reset(); });
  for (auto& t : threads) t.join();
}

class AllGpus : public testing::TestWithParam<NcclReduce> {};

TEST_P(AllGpus, SumIsTheSameOnEveryParticipant) {
  FLASHGMM_REQUIRE_GPUS(1);
  const int P = nccl_test::gpu_count();
  std::vector<int> devices(P);
  std::iota(devices.begin(), devices.end(), 0);
  auto comms = make_local_communicators(devices, nullptr, GetParam());
  ASSERT_EQ((int)comms.size(), P);
  for (int r = 0; r < P; ++r) {
    EXPECT_EQ(comms[r]->rank(), r);
    EXPECT_EQ(comms[r]->size(), P);
    EXPECT_EQ(comms[r]->device(), r);
  }
  for (std::size_t n : {std::size_t(0), std::size_t(1), (std::size_t)P + 1, std::size_t(100003), std::size_t(1) << 20}) {
    const Received got = reduce_on_all(comms, n);
    for (std::size_t k = 0; k < n; ++k) {
      double want = value(0, k), scale = std::fabs(value(0, k));
      std::int64_t want_i = ivalue(0, k);
      for (int r = 1; r < P; ++r) want += value(r, k), scale += std::fabs(value(r, k)), want_i += ivalue(r, k);
      ASSERT_EQ(got.i[0][k], want_i) << "n=" << n << " k=" << k;
      if (GetParam() == NcclReduce::rank_order)
        ASSERT_EQ(got.d[0][k], want) << "rank order must be the serial sum, n=" << n << " k=" << k;
      else
        ASSERT_NEAR(got.d[0][k], want, 1e-15 * scale * P) << "n=" << n << " k=" << k;
    }
    for (int r = 1; r < P; ++r) {
      EXPECT_TRUE(nccl_test::same_bits(got.d[r], got.d[0])) << "participant " << r << " differs, n=" << n;
      EXPECT_EQ(got.i[r], got.i[0]) << "participant " << r << ", n=" << n;
    }
  }
  EXPECT_EQ(comms[0]->stats().calls, 10);
  destroy_all(comms);
}

INSTANTIATE_TEST_SUITE_P(Reductions, AllGpus, testing::Values(NcclReduce::allreduce, NcclReduce::rank_order),
                         [](const testing::TestParamInfo<NcclReduce>& i) {
                           return std::string(i.param == NcclReduce::allreduce ? "allreduce" : "rank_order");
                         });

// Participant 1 never arrives; participant 0 waits in ncclAllReduce until the stop flag is set,
// then must abort and throw ParticipantStopped quickly (not hang on the GPU).
TEST(TwoGpus, StopFlagEndsAWaitForAMissingPeer) {
  FLASHGMM_REQUIRE_GPUS(2);
  auto stop = std::make_shared<std::atomic<bool>>(false);
  auto comms = make_local_communicators({0, 1}, stop);
  std::vector<double> v(1000, 1.0);
  std::string error;
  bool stopped = false;
  const auto t0 = std::chrono::steady_clock::now();
  std::thread waiter([&] {
    try {
      comms[0]->allreduce_sum(v.data(), v.size());
    } catch (const ParticipantStopped& e) {
      stopped = true;
      error = e.what();
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop->store(true);
  waiter.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(stopped) << error;
  EXPECT_NE(error.find("another participant failed"), std::string::npos) << error;
  EXPECT_LT(s, 10.0);
  EXPECT_TRUE(comms[0]->aborted());
  EXPECT_THROW(comms[0]->allreduce_sum(v.data(), v.size()), Error);
  comms[1]->abort();  // its peer is gone: abort, never the collective destroy
  comms.clear();
  // The GPUs stay usable: a fresh pair of communicators reduces correctly.
  auto again = make_local_communicators({0, 1});
  const Received got = reduce_on_all(again, 5);
  EXPECT_EQ(got.i[0][3], ivalue(0, 3) + ivalue(1, 3));
  destroy_all(again);
}

}  // namespace
}  // namespace flashgmm::nccl
