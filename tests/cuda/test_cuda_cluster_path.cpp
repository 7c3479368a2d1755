// The single-pass cluster kernels (sm_90, cluster_path.cu): spherical fast-precision E-steps for
// every cluster size (1 to 16 CTAs, K up to 2048), many tiles per cluster with a partial last
// tile, weighted and unweighted, log Z output; against the float64 reference and against the
// two-kernel fused path (the default). The path is opt-in (FLASHGMM_CUDA_FUSED=cluster).
// Skipped (with the reason) without an sm_90 device.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <limits>

#include "cuda_test_support.hpp"

namespace flashgmm::cuda_test {
namespace {

bool same_bits(const SuffStats& a, const SuffStats& b) {
  auto eq = [](const std::vector<double>& x, const std::vector<double>& y) {
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0;
  };
  return eq(a.nk, b.nk) && eq(a.sx, b.sx) && eq(a.sxx, b.sxx) &&
         std::memcmp(&a.log_likelihood, &b.log_likelihood, sizeof(double)) == 0;
}

struct Shape {
  int n, k, d;
  bool weighted;
};

class CudaClusterPath : public testing::TestWithParam<Shape> {};

TEST_P(CudaClusterPath, MatchesReferenceAndTwoKernelPath) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  int major = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0), cudaSuccess);
  if (major < 9) GTEST_SKIP() << "cluster kernels need compute capability 9.x; this device is " << major << ".x";
  const Shape s = GetParam();
  const Problem p = make_problem(CovarianceType::spherical, s.n, s.k, s.d, 4321 + s.k, s.weighted);
  const Reference ref = reference_estep(p);
  const float* w = p.w.empty() ? nullptr : p.w.data();
  Params prm;
  prm.backend = BackendKind::cuda;
  prm.precision = Precision::fast;
  prm.covariance_type = CovarianceType::spherical;
  prm.n_components = s.k;
  const double tol = s.n >= 32 * s.k ? 2e-3 : 6e-3;

  setenv("FLASHGMM_CUDA_FUSED", "cluster", 1);  // the cluster path is opt-in
  auto be = cuda::make_backend(prm, s.d);
  be->set_params(p.params);
  unsetenv("FLASHGMM_CUDA_FUSED");
  ASSERT_NE(be->info().name.find("cluster kernels"), std::string::npos) << be->info().name;

  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> log_z(s.n, nan);
  RowOutputs ro;
  ro.log_z = log_z.data();
  SuffStats a(CovarianceType::spherical, s.k, s.d), b(CovarianceType::spherical, s.k, s.d);
  be->estep(p.x.data(), s.n, w, &a, ro);
  be->estep(p.x.data(), s.n, w, &b, RowOutputs{});
  EXPECT_LE(rel_error(a.nk, ref.stats.nk), tol) << "N_k";
  EXPECT_LE(rel_error(a.sx, ref.stats.sx), tol) << "sum r x";
  EXPECT_LE(rel_error(a.sxx, ref.stats.sxx), tol) << "sum r |y|^2";
  EXPECT_LE(std::abs(a.log_likelihood - ref.stats.log_likelihood),
            2e-3 * std::abs(ref.stats.log_likelihood))
      << a.log_likelihood << " vs " << ref.stats.log_likelihood;
  EXPECT_TRUE(same_bits(a, b)) << "cluster path must repeat bitwise";
  double worst = 0;
  for (int i = 0; i < s.n; ++i)
    worst = std::max(worst, std::isfinite(log_z[i]) ? std::abs(log_z[i] - ref.log_z[i]) /
                                                          std::max(1.0, std::abs(ref.log_z[i]))
                                                    : INFINITY);
  EXPECT_LE(worst, 2e-3) << "log Z";

  auto two = cuda::make_backend(prm, s.d);  // the default: two-kernel fused path
  two->set_params(p.params);
  ASSERT_NE(two->info().name.find("fused kernels"), std::string::npos) << two->info().name;
  SuffStats c(CovarianceType::spherical, s.k, s.d);
  two->estep(p.x.data(), s.n, w, &c, RowOutputs{});
  EXPECT_LE(rel_error(a.nk, c.nk), tol) << "N_k vs the two-kernel path";
  EXPECT_LE(rel_error(a.sx, c.sx), tol) << "sum r x vs the two-kernel path";
  std::printf("[ cluster ] n=%d k=%d d=%d: N_k error %.2e (two-kernel %.2e), sum r x %.2e (%.2e)\n",
              s.n, s.k, s.d, rel_error(a.nk, ref.stats.nk), rel_error(c.nk, ref.stats.nk),
              rel_error(a.sx, ref.stats.sx), rel_error(c.sx, ref.stats.sx));
}

// Cluster sizes 1, 2, 4, 8, 16 (K = 1, 129, 500, 1024, 2048); D = 4, 32, 96, 128, 100 (padded).
INSTANTIATE_TEST_SUITE_P(
    Sizes, CudaClusterPath,
    testing::Values(Shape{70001, 1, 4, false}, Shape{100003, 129, 32, true},
                    Shape{65536, 500, 96, false}, Shape{30011, 1024, 128, true},
                    Shape{20011, 2048, 100, false}, Shape{63, 7, 8, true}),
    [](const testing::TestParamInfo<Shape>& i) {
      return "n" + std::to_string(i.param.n) + "_k" + std::to_string(i.param.k) + "_d" +
             std::to_string(i.param.d) + (i.param.weighted ? "_weighted" : "");
    });

}  // namespace
}  // namespace flashgmm::cuda_test
