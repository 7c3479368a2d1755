// fit_multi_gpu: one participant equals the plain CUDA fit bit for bit; 2 and all GPUs reach
// the one-GPU model within the precision mode's tolerance (identical models on every
// participant, which fit_multi_gpu itself checks); bad data and a throwing participant stop
// every participant with one Error within seconds, and the GPUs stay usable.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "flashgmm/gaussian_mixture.hpp"
#include "flashgmm_nccl/multi_gpu_fit.hpp"
#include "nccl_test_support.hpp"

namespace flashgmm::nccl {
namespace {

using nccl_test::clustered;
using nccl_test::gpu_count;
using nccl_test::max_rel_diff;
using nccl_test::same_bits;

std::vector<int> first_gpus(int n) {
  std::vector<int> d(n);
  std::iota(d.begin(), d.end(), 0);
  return d;
}

Params fit_params(CovarianceType type, Precision precision, int k) {
  Params p;
  p.n_components = k;
  p.covariance_type = type;
  p.precision = precision;
  p.backend = BackendKind::cuda;
  p.max_iter = 30;
  p.tol = 0;  // a fixed number of iterations: the comparison does not hinge on a stopping test
  p.seed = 7;
  return p;
}

// Needs no GPU: with none, the error says so (and nothing hangs).
TEST(MultiGpuFit, NoDeviceIsAClearError) {
  if (gpu_count() > 0) GTEST_SKIP() << "this machine has CUDA devices; the error needs none";
  const std::vector<float> x = clustered(100, 4, 2, 1);
  GaussianMixture gm(fit_params(CovarianceType::diag, Precision::precise, 2));
  try {
    fit_multi_gpu(gm, MatrixSource(x.data(), 100, 4), nullptr, std::vector<int>{});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(gm.fitted());
}

TEST(MultiGpuFit, OneParticipantEqualsThePlainCudaFit) {
  FLASHGMM_REQUIRE_GPUS(1);
  const std::int64_t n = 30011;
  const int d = 12, k = 6;
  const std::vector<float> x = clustered(n, d, k, 3);
  const MatrixSource src(x.data(), n, d);
  const Params p = fit_params(CovarianceType::full, Precision::precise, k);
  GaussianMixture plain(p);
  plain.fit(src);
  GaussianMixture multi(p);
  const MultiGpuReport rep = fit_multi_gpu(multi, src, nullptr, std::vector<int>{0});
  ASSERT_TRUE(multi.fitted());
  EXPECT_EQ(multi.n_iter(), plain.n_iter());
  EXPECT_EQ(multi.lower_bound(), plain.lower_bound());
  EXPECT_TRUE(same_bits(multi.means(), plain.means()));
  EXPECT_TRUE(same_bits(multi.covariances(), plain.covariances()));
  EXPECT_TRUE(same_bits(multi.weights(), plain.weights()));
  ASSERT_EQ(rep.participants.size(), 1u);
  EXPECT_EQ(rep.participants[0].rows, n);
  EXPECT_GT(rep.participants[0].comm.calls, 0);
  EXPECT_EQ(multi.params().backend, p.backend);
}

struct Case {
  CovarianceType type;
  Precision precision;
  NcclReduce reduce;
  bool weighted;
  bool all_gpus;  // else 2
};

class MultiGpuMatchesOneGpu : public testing::TestWithParam<Case> {};

TEST_P(MultiGpuMatchesOneGpu, SameModelWithinTolerance) {
  FLASHGMM_REQUIRE_GPUS(2);
  const Case c = GetParam();
  const int P = c.all_gpus ? gpu_count() : 2;
  const std::int64_t n = 40009;  // not a multiple of P: uneven ranges
  const int d = 16, k = 8;
  const std::vector<float> x = clustered(n, d, k, 11);
  std::vector<float> w;
  if (c.weighted) {
    w.resize(n);
    for (std::int64_t i = 0; i < n; ++i) w[i] = 0.25f + (float)((i * 37) % 8) / 4.0f;
  }
  const MatrixSource src(x.data(), n, d);
  const Params p = fit_params(c.type, c.precision, k);
  GaussianMixture one(p);
  MultiGpuOptions o1;
  o1.devices = {0};
  fit_multi_gpu(one, src, c.weighted ? w.data() : nullptr, o1);
  GaussianMixture many(p);
  MultiGpuOptions o;
  o.devices = first_gpus(P);
  o.reduce = c.reduce;
  const auto t0 = std::chrono::steady_clock::now();
  const MultiGpuReport rep = fit_multi_gpu(many, src, c.weighted ? w.data() : nullptr, o);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ((int)rep.participants.size(), P);
  std::int64_t rows = 0;
  for (int i = 0; i < P; ++i) {
    EXPECT_EQ(rep.participants[i].device, i);
    EXPECT_EQ(rep.participants[i].first_row, rows);
    rows += rep.participants[i].rows;
    EXPECT_EQ(rep.participants[i].info.n_iter, p.max_iter) << "participant " << i;
    EXPECT_EQ(rep.participants[i].info.lower_bound, many.lower_bound()) << "participant " << i;
  }
  EXPECT_EQ(rows, n);
  const double lb_tol = c.precision == Precision::precise ? 1e-6 : 1e-3;
  const double par_tol = c.precision == Precision::precise ? 1e-5 : 1e-2;
  EXPECT_LE(std::fabs(many.lower_bound() - one.lower_bound()), lb_tol * std::fabs(one.lower_bound()))
      << P << " GPUs " << many.lower_bound() << ", one GPU " << one.lower_bound();
  EXPECT_LE(max_rel_diff(many.means(), one.means()), par_tol);
  // Covariances come from second moments minus squared means (float32 statistics summed in
  // another order on each GPU), so their elements move more than the means: measured on two
  // H100s up to 1.8e-4 (full), 1.1e-4 (diag), 2e-5 (spherical/tied) at equal lower bounds
  // (within 1e-6), the same size as changing only the chunk size on one CPU (6.7e-5 diag,
  // 1.4e-4 full).
  const double cov_tol = c.precision == Precision::precise ? 5e-4 : 2e-2;
  EXPECT_LE(max_rel_diff(many.covariances(), one.covariances()), cov_tol);
  EXPECT_LE(max_rel_diff(many.weights(), one.weights()), par_tol);
  std::printf("[ info ] %d GPUs: lower bound %.12f (one GPU %.12f), %.2f s, %lld reductions, %.3f s in them\n", P,
              many.lower_bound(), one.lower_bound(), secs, (long long)rep.participants[0].comm.calls,
              rep.participants[0].comm.seconds);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MultiGpuMatchesOneGpu,
    testing::Values(Case{CovarianceType::diag, Precision::precise, NcclReduce::allreduce, false, false},
                    Case{CovarianceType::diag, Precision::precise, NcclReduce::allreduce, false, true},
                    Case{CovarianceType::full, Precision::precise, NcclReduce::allreduce, true, true},
                    Case{CovarianceType::spherical, Precision::precise, NcclReduce::rank_order, true, true},
                    Case{CovarianceType::diag, Precision::fast, NcclReduce::allreduce, false, true},
                    Case{CovarianceType::tied, Precision::precise, NcclReduce::rank_order, false, false}),
    [](const testing::TestParamInfo<Case>& i) {
      return to_string(i.param.type) + "_" + to_string(i.param.precision) + "_" +
             (i.param.reduce == NcclReduce::allreduce ? "allreduce" : "rankorder") + (i.param.weighted ? "_weighted" : "") +
             (i.param.all_gpus ? "_allgpus" : "_2gpus");
    });

// A run on all GPUs, to show the devices still work after a failed fit.
void expect_a_fit_works() {
  const std::vector<float> x = clustered(5000, 8, 4, 5);
  GaussianMixture gm(fit_params(CovarianceType::diag, Precision::precise, 4));
  EXPECT_NO_THROW(fit_multi_gpu(gm, MatrixSource(x.data(), 5000, 8), nullptr, first_gpus(gpu_count())));
  EXPECT_TRUE(gm.fitted());
}

TEST(MultiGpuFailure, ThrowingParticipantStopsAllWithinSeconds) {
  FLASHGMM_REQUIRE_GPUS(2);
  const int P = gpu_count();
  const std::int64_t n = 200000;
  const std::vector<float> x = clustered(n, 32, 16, 9);
  Params p = fit_params(CovarianceType::diag, Precision::precise, 16);
  p.max_iter = 100000;  // would run for minutes if the failure did not stop it
  GaussianMixture gm(p);
  MultiGpuOptions o;
  o.devices = first_gpus(P);
  o.on_iteration = [P](int participant, const IterationStats& s) {
    if (participant == P - 1 && s.iteration == 3) throw std::runtime_error("injected failure on the last participant");
    return true;
  };
  const auto t0 = std::chrono::steady_clock::now();
  try {
    fit_multi_gpu(gm, MatrixSource(x.data(), n, 32), nullptr, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("injected failure on the last participant"), std::string::npos) << m;
    EXPECT_NE(m.find("participant " + std::to_string(P - 1)), std::string::npos) << m;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 20.0) << "the other participants were not stopped promptly";
  EXPECT_FALSE(gm.fitted());
  expect_a_fit_works();
}

TEST(MultiGpuFailure, CallbackStopIsFitInterrupted) {
  FLASHGMM_REQUIRE_GPUS(2);
  const std::vector<float> x = clustered(20000, 8, 4, 2);
  Params p = fit_params(CovarianceType::diag, Precision::precise, 4);
  p.max_iter = 100000;
  GaussianMixture gm(p);
  MultiGpuOptions o;
  o.devices = {0, 1};
  o.on_iteration = [](int participant, const IterationStats& s) { return !(participant == 0 && s.iteration == 2); };
  try {
    fit_multi_gpu(gm, MatrixSource(x.data(), 20000, 8), nullptr, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fit interrupted"), std::string::npos) << e.what();
  }
  expect_a_fit_works();
}

TEST(MultiGpuFailure, NanInOneParticipantsRowsIsOneError) {
  FLASHGMM_REQUIRE_GPUS(2);
  const int P = gpu_count();
  const std::int64_t n = 10000;
  std::vector<float> x = clustered(n, 8, 4, 4);
  x[(size_t)(n - 3) * 8 + 5] = std::numeric_limits<float>::quiet_NaN();  // the last participant's rows
  GaussianMixture gm(fit_params(CovarianceType::diag, Precision::precise, 4));
  const auto t0 = std::chrono::steady_clock::now();
  try {
    fit_multi_gpu(gm, MatrixSource(x.data(), n, 8), nullptr, first_gpus(P));
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_TRUE(m.find("NaN") != std::string::npos || m.find("nan") != std::string::npos) << m;
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20.0);
  expect_a_fit_works();
}

TEST(MultiGpuFailure, BadParametersFailBeforeNcclStarts) {
  FLASHGMM_REQUIRE_GPUS(1);
  const std::vector<float> x = clustered(100, 4, 2, 1);
  Params p = fit_params(CovarianceType::diag, Precision::precise, 2);
  p.max_iter = 0;
  GaussianMixture gm(p);
  EXPECT_THROW(fit_multi_gpu(gm, MatrixSource(x.data(), 100, 4), nullptr, std::vector<int>{0}), Error);
  GaussianMixture gm2(fit_params(CovarianceType::diag, Precision::precise, 2));
  EXPECT_THROW(fit_multi_gpu(gm2, MatrixSource(x.data(), 100, 4), nullptr, std::vector<int>{gpu_count()}), Error);
}

TEST(MultiGpuFit, WarmStartContinuesFromTheModel) {
  FLASHGMM_REQUIRE_GPUS(1);
  const int P = gpu_count();
  const std::vector<float> x = clustered(20000, 8, 4, 6);
  const MatrixSource src(x.data(), 20000, 8);
  Params p = fit_params(CovarianceType::diag, Precision::precise, 4);
  p.max_iter = 5;
  GaussianMixture gm(p);
  fit_multi_gpu(gm, src, nullptr, first_gpus(P));
  const double lb5 = gm.lower_bound();
  p.warm_start = true;
  gm.set_params(p);
  fit_multi_gpu(gm, src, nullptr, first_gpus(P));
  EXPECT_GE(gm.lower_bound(), lb5 - 1e-9 * std::fabs(lb5));
  EXPECT_TRUE(gm.params().warm_start);
}

}  // namespace
}  // namespace flashgmm::nccl
