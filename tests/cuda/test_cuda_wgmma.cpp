// The wgmma statistics kernel (sm_90; the default there for feature widths up to 128) against
// the mma.sync kernel (FLASHGMM_CUDA_WGMMA=1 vs 0): the same statistics for spherical and
// diagonal fast E-steps, feature widths 32..256 (both row-tile sizes), partial tiles and
// weights, and both within the fast tolerance of the float64 reference. Skipped (with the
// reason) without an sm_90 device.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstdlib>

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

}  // namespace
}  // namespace flashgmm::cuda_test
