// End to end: a GaussianMixture fit with the CUDA backend reaches the CPU fit's lower bound
// (within 1e-3 relative) for every covariance type and both precisions.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cuda_test_support.hpp"
#include "flashgmm/gaussian_mixture.hpp"

namespace flashgmm::cuda_test {
namespace {

std::vector<float> clustered_rows(int n, int d, int k, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> centres(std::size_t(k) * d), x(std::size_t(n) * d);
  for (auto& v : centres) v = 4.0f * nd(rng);
  for (int i = 0; i < n; ++i) {
    const int c = int(rng() % k);
    const float scale = 0.5f + 0.1f * c;
    for (int t = 0; t < d; ++t) x[std::size_t(i) * d + t] = centres[std::size_t(c) * d + t] + scale * nd(rng);
  }
  return x;
}

struct FitCase {
  CovarianceType type;
  Precision precision;
};

class CudaFit : public testing::TestWithParam<FitCase> {};

TEST_P(CudaFit, ReachesTheCpuLowerBound) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  const FitCase c = GetParam();
  const int n = 20000, d = 16, k = 8;
  const std::vector<float> x = clustered_rows(n, d, k, 42);
  Params p;
  p.n_components = k;
  p.covariance_type = c.type;
  p.max_iter = 200;
  p.tol = 1e-6;
  p.seed = 3;
  p.backend = BackendKind::cpu;
  GaussianMixture cpu(p);
  cpu.fit(x.data(), n, d);
  p.backend = BackendKind::cuda;
  p.precision = c.precision;
  GaussianMixture gpu(p);
  gpu.fit(x.data(), n, d);
  EXPECT_NE(gpu.fit_info().backend.find("cuda"), std::string::npos) << gpu.fit_info().backend;
  const double lc = cpu.lower_bound(), lg = gpu.lower_bound();
  EXPECT_TRUE(std::isfinite(lg));
  EXPECT_LE(std::abs(lg - lc), 1e-3 * std::abs(lc)) << "CPU " << lc << ", CUDA " << lg;
  EXPECT_GT(gpu.fit_info().history.back().peak_device_bytes, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Types, CudaFit,
    testing::Values(FitCase{CovarianceType::spherical, Precision::fast},
                    FitCase{CovarianceType::spherical, Precision::precise},
                    FitCase{CovarianceType::diag, Precision::fast},
                    FitCase{CovarianceType::diag, Precision::precise},
                    FitCase{CovarianceType::full, Precision::fast},
                    FitCase{CovarianceType::full, Precision::precise},
                    FitCase{CovarianceType::tied, Precision::precise}),
    [](const testing::TestParamInfo<FitCase>& i) {
      return to_string(i.param.type) + "_" + to_string(i.param.precision);
    });

}  // namespace
}  // namespace flashgmm::cuda_test
