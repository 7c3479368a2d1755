// The wgmma statistics kernel (sm_90; the default there for feature widths up to 128) against
// the mma.sync kernel (FLASHGMM_CUDA_WGMMA=1 vs 0): the same statistics for spherical and
// diagonal fast E-steps, feature widths 32..256 (both row-tile sizes), partial tiles and
// weights, and both within the fast tolerance of the float64 reference. Skipped (with the
// reason) without an sm_90 device.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "cuda_test_support.hpp"

namespace flashgmm::cuda_test {
namespace {

struct Shape {
  CovarianceType type;
  int n, k, d;
  bool weighted;
};

class CudaWgmma : public testing::TestWithParam<Shape> {};

TEST_P(CudaWgmma, EqualsMmaSyncKernels) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  int major = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0), cudaSuccess);
  if (major != 9) GTEST_SKIP() << "wgmma kernels need compute capability 9.x; this device is " << major << ".x";
  const Shape s = GetParam();
  const Problem p = make_problem(s.type, s.n, s.k, s.d, 99 + s.d, s.weighted);
  const Reference ref = reference_estep(p);
  const float* w = p.w.empty() ? nullptr : p.w.data();
  Params prm;
  prm.backend = BackendKind::cuda;
  prm.precision = Precision::fast;
  prm.covariance_type = s.type;
  prm.n_components = s.k;
  SuffStats a(s.type, s.k, s.d), b(s.type, s.k, s.d);
  setenv("FLASHGMM_CUDA_WGMMA", "0", 1);
  {
    auto be = cuda::make_backend(prm, s.d);
    be->set_params(p.params);
    ASSERT_NE(be->info().name.find("fused kernels"), std::string::npos) << be->info().name;
    be->estep(p.x.data(), s.n, w, &a, RowOutputs{});
  }
  setenv("FLASHGMM_CUDA_WGMMA", "1", 1);
  {
    auto be = cuda::make_backend(prm, s.d);
    be->set_params(p.params);
    be->estep(p.x.data(), s.n, w, &b, RowOutputs{});
  }
  unsetenv("FLASHGMM_CUDA_WGMMA");
  EXPECT_LE(rel_error(b.nk, a.nk), 1e-6);
  EXPECT_LE(rel_error(b.sx, a.sx), 1e-6);
  EXPECT_LE(rel_error(b.sxx, a.sxx), 1e-6);
  EXPECT_NEAR(b.log_likelihood, a.log_likelihood, 1e-9 * std::abs(a.log_likelihood));
  const double tol = s.n >= 32 * s.k ? 2e-3 : 6e-3;
  EXPECT_LE(rel_error(b.nk, ref.stats.nk), tol);
  EXPECT_LE(rel_error(b.sx, ref.stats.sx), tol);
  EXPECT_LE(rel_error(b.sxx, ref.stats.sxx), tol);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaWgmma,
    testing::Values(Shape{CovarianceType::spherical, 20011, 129, 32, true},
                    Shape{CovarianceType::spherical, 9001, 300, 96, false},
                    Shape{CovarianceType::spherical, 8191, 256, 128, true},
                    Shape{CovarianceType::spherical, 3001, 40, 200, false},
                    Shape{CovarianceType::diag, 10007, 64, 48, false},
                    Shape{CovarianceType::diag, 6007, 130, 128, true}),
    [](const testing::TestParamInfo<Shape>& i) {
      return to_string(i.param.type) + "_n" + std::to_string(i.param.n) + "_k" +
             std::to_string(i.param.k) + "_d" + std::to_string(i.param.d) +
             (i.param.weighted ? "_weighted" : "");
    });


// Kernels for features wider than 128 columns (diagonal D = 68..128, spherical D > 128): the two
// wgmma log Z shapes (FLASHGMM_CUDA_LOGZ_WIDE = wg4, wg2) and the 64-row statistics tiles
// (FLASHGMM_CUDA_STATS_WIDE = br64) against the mma.sync log Z kernel with 32-row statistics
// tiles, on widths 160..256, partial row blocks and component tiles, weights; each within the
// fast tolerance of the float64 reference.
class CudaWideLogz : public testing::TestWithParam<Shape> {};

TEST_P(CudaWideLogz, VariantsAgree) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  int major = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0), cudaSuccess);
  if (major != 9) GTEST_SKIP() << "wgmma kernels need compute capability 9.x; this device is " << major << ".x";
  const Shape s = GetParam();
  const Problem p = make_problem(s.type, s.n, s.k, s.d, 7 + s.d, s.weighted);
  const Reference ref = reference_estep(p);
  const float* w = p.w.empty() ? nullptr : p.w.data();
  Params prm;
  prm.backend = BackendKind::cuda;
  prm.precision = Precision::fast;
  prm.covariance_type = s.type;
  prm.n_components = s.k;
  // variant: "logz_choice" or "logz_choice+br64" (64-row statistics tiles, FLASHGMM_CUDA_STATS_WIDE).
  auto run = [&](const std::string& variant) {
    const auto plus = variant.find('+');
    setenv("FLASHGMM_CUDA_LOGZ_WIDE", variant.substr(0, plus).c_str(), 1);
    setenv("FLASHGMM_CUDA_STATS_WIDE", plus == std::string::npos ? "br32" : "br64", 1);
    SuffStats st(s.type, s.k, s.d);
    std::vector<double> lz(s.n, 12345.0);
    RowOutputs rows;
    rows.log_z = lz.data();
    auto be = cuda::make_backend(prm, s.d);
    be->set_params(p.params);
    EXPECT_NE(be->info().name.find("fused kernels"), std::string::npos) << be->info().name;
    be->estep(p.x.data(), s.n, w, &st, RowOutputs{});
    be->estep(p.x.data(), s.n, w, nullptr, rows);  // per-row log Z through the same kernel
    unsetenv("FLASHGMM_CUDA_LOGZ_WIDE");
    unsetenv("FLASHGMM_CUDA_STATS_WIDE");
    return std::make_pair(st, lz);
  };
  const auto base = run("mma");
  const double tol = s.n >= 32 * s.k ? 2e-3 : 6e-3;
  for (const char* v : {"wg4", "wg2", "mma+br64", "wg4+br64"}) {
    SCOPED_TRACE(v);
    const auto got = run(v);
    const SuffStats& b = got.first;
    EXPECT_LE(rel_error(b.nk, base.first.nk), 1e-5);
    EXPECT_LE(rel_error(b.sx, base.first.sx), 1e-5);
    EXPECT_LE(rel_error(b.sxx, base.first.sxx), 1e-5);
    EXPECT_NEAR(b.log_likelihood, base.first.log_likelihood, 1e-6 * std::abs(base.first.log_likelihood));
    double worst = 0;
    for (int i = 0; i < s.n; ++i)
      worst = std::max(worst, std::abs(got.second[i] - ref.log_z[i]) / std::max(1.0, std::abs(ref.log_z[i])));
    EXPECT_LE(worst, 2e-3) << "log Z";
    EXPECT_LE(rel_error(b.nk, ref.stats.nk), tol);
    EXPECT_LE(rel_error(b.sx, ref.stats.sx), tol);
    EXPECT_LE(rel_error(b.sxx, ref.stats.sxx), tol);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaWideLogz,
    testing::Values(Shape{CovarianceType::diag, 5003, 200, 68, false},
                    Shape{CovarianceType::diag, 7001, 100, 96, true},
                    Shape{CovarianceType::diag, 4099, 64, 100, false},
                    Shape{CovarianceType::diag, 9001, 257, 128, true},
                    Shape{CovarianceType::spherical, 3001, 40, 200, false},
                    Shape{CovarianceType::spherical, 6007, 130, 256, true}),
    [](const testing::TestParamInfo<Shape>& i) {
      return to_string(i.param.type) + "_n" + std::to_string(i.param.n) + "_k" +
             std::to_string(i.param.k) + "_d" + std::to_string(i.param.d) +
             (i.param.weighted ? "_weighted" : "");
    });

}  // namespace
}  // namespace flashgmm::cuda_test
