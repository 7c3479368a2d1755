// The fused full-covariance kernels (full_path.cu; the default for full covariance in fast
// precision with D ≤ 128) against the chunked cuBLAS path (FLASHGMM_CUDA_FULL=chunked) and a
// float64 reference: padded dimensions 16..128, row counts that are not multiples of the
// 256-row and 128-row tiles, K below the SM count (row splits, float partials) and above it
// (one block per component, float64 written directly), weights, far-off data; bitwise repeat.
// Skipped (with the reason) without a CUDA device.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "cuda_test_support.hpp"

namespace flashgmm::cuda_test {
namespace {

struct Shape {
  int n, k, d;
  bool weighted;
  bool reference;  ///< also against the float64 reference (small N·K·D² only)
};

Params full_fast(int k) {
  Params prm;
  prm.backend = BackendKind::cuda;
  prm.precision = Precision::fast;
  prm.covariance_type = CovarianceType::full;
  prm.n_components = k;
  return prm;
}

SuffStats run(const Problem& p, const char* full_env, std::string* name, SuffStats* again = nullptr) {
  if (full_env) setenv("FLASHGMM_CUDA_FULL", full_env, 1);
  else unsetenv("FLASHGMM_CUDA_FULL");
  auto be = cuda::make_backend(full_fast(p.k), p.d);
  be->set_params(p.params);
  if (name) *name = be->info().name;
  const float* w = p.w.empty() ? nullptr : p.w.data();
  SuffStats st(CovarianceType::full, p.k, p.d);
  be->estep(p.x.data(), p.n, w, &st, RowOutputs{});
  if (again) {
    *again = SuffStats(CovarianceType::full, p.k, p.d);
    be->estep(p.x.data(), p.n, w, again, RowOutputs{});
  }
  unsetenv("FLASHGMM_CUDA_FULL");
  return st;
}

class CudaFullFused : public testing::TestWithParam<Shape> {};

TEST_P(CudaFullFused, MatchesChunkedPathAndReference) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  const Shape s = GetParam();
  const Problem p = make_problem(CovarianceType::full, s.n, s.k, s.d, 4242 + s.d, s.weighted);
  std::string fused_name, chunk_name;
  SuffStats again;
  const SuffStats fused = run(p, nullptr, &fused_name, &again);
  const SuffStats chunked = run(p, "chunked", &chunk_name);
  ASSERT_NE(fused_name.find("fused kernels"), std::string::npos) << fused_name;
  ASSERT_NE(chunk_name.find("chunked kernels"), std::string::npos) << chunk_name;
  // Both are fast (16-bit operands), each within the fast tolerance of float64: within twice
  // that of each other.
  const double tol = s.n >= 32 * s.k ? 2e-3 : 6e-3;
  EXPECT_LE(rel_error(fused.nk, chunked.nk), 2 * tol);
  EXPECT_LE(rel_error(fused.sx, chunked.sx), 2 * tol);
  EXPECT_LE(rel_error(fused.sxx, chunked.sxx), 2 * tol);
  EXPECT_NEAR(fused.log_likelihood, chunked.log_likelihood, 2e-3 * std::abs(chunked.log_likelihood));
  EXPECT_EQ(std::memcmp(fused.sxx.data(), again.sxx.data(), fused.sxx.size() * 8), 0)
      << "repeat passes must be bitwise equal";
  EXPECT_EQ(std::memcmp(fused.nk.data(), again.nk.data(), fused.nk.size() * 8), 0);
  EXPECT_EQ(fused.log_likelihood, again.log_likelihood);
  // The second moments are exactly symmetric.
  double asym = 0;
  for (int j = 0; j < s.k; ++j)
    for (int a = 0; a < s.d; ++a)
      for (int b = 0; b < a; ++b) {
        const double* m = fused.sxx.data() + std::size_t(j) * s.d * s.d;
        asym = std::max(asym, std::abs(m[a * s.d + b] - m[b * s.d + a]));
      }
  EXPECT_EQ(asym, 0.0);
  if (s.reference) {
    const Reference ref = reference_estep(p);
    EXPECT_LE(rel_error(fused.nk, ref.stats.nk), tol) << "N_k vs float64";
    EXPECT_LE(rel_error(fused.sx, ref.stats.sx), tol) << "sum r x vs float64";
    EXPECT_LE(rel_error(fused.sxx, ref.stats.sxx), tol) << "second moments vs float64";
    EXPECT_NEAR(fused.log_likelihood, ref.stats.log_likelihood,
                2e-3 * std::abs(ref.stats.log_likelihood));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaFullFused,
    testing::Values(Shape{5003, 3, 8, false, true},       // DP 16, many splits
                    Shape{4099, 40, 32, true, true},      // DP 32, weighted
                    Shape{3001, 7, 45, false, true},      // DP 48, partial 16-block
                    Shape{2500, 140, 64, false, true},    // K > SMs: direct float64 output
                    Shape{1777, 33, 77, true, true},      // DP 80
                    Shape{2049, 150, 96, false, true},    // DP 96, direct
                    Shape{1025, 12, 100, false, true},    // DP 112
                    Shape{3000, 200, 128, true, false},   // DP 128, direct, weighted
                    Shape{600, 5, 128, false, true}),     // DP 128, one tile per split
    [](const testing::TestParamInfo<Shape>& i) {
      return "n" + std::to_string(i.param.n) + "_k" + std::to_string(i.param.k) + "_d" +
             std::to_string(i.param.d) + (i.param.weighted ? "_weighted" : "");
    });

// D > 128 keeps the chunked path; so do per-row posteriors (the fused kernels write log Z only).
TEST(CudaFullFusedScope, WideDimensionsUseChunkedPath) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  const Problem p = make_problem(CovarianceType::full, 300, 4, 129, 5);
  std::string name;
  run(p, nullptr, &name);
  EXPECT_NE(name.find("chunked kernels"), std::string::npos) << name;
}

}  // namespace
}  // namespace flashgmm::cuda_test
