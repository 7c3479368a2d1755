// Precision::fast must never give a silently wrong answer: bf16 row features cannot resolve
// components much narrower than the rows' distance from the centre (a variance floored at
// reg_covar on a constant column, a cluster of duplicate rows), and such parameters must run
// with float32 products (fast_precision_guard.hpp). Whole fits at D = 96, K = 1024 in fast mode
// reach precise mode's lower bound within 1e-3 relative, with and without collapsing components.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <stdexcept>

#include "cuda/fast_precision_guard.hpp"
#include "cuda_test_support.hpp"
#include "flashgmm/gaussian_mixture.hpp"
#include "src/em_math.hpp"

namespace flashgmm::cuda_test {
namespace {

using cuda::fast_logit_error_estimate;
using cuda::kFastMaxLogitError;

// Parameters like the E-step benchmark's: centres ~ N(0, 1) per dimension, σ = 0.5.
ComponentParams spread_params(CovarianceType type, int k, int d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  ComponentParams p;
  p.covariance_type = type;
  p.n_components = k;
  p.dim = d;
  p.center.assign(d, 0.0);
  p.means.resize(std::size_t(k) * d);
  for (auto& v : p.means) v = nd(rng);
  p.prec.assign(covariance_size(type, k, d), 0.0);
  if (type == CovarianceType::full || type == CovarianceType::tied) {
    for (std::size_t b = 0; b < p.prec.size(); b += std::size_t(d) * d)
      for (int t = 0; t < d; ++t) p.prec[b + std::size_t(t) * d + t] = 2.0;
  } else {
    std::fill(p.prec.begin(), p.prec.end(), 4.0);
  }
  p.log_norm.assign(k, -std::log(double(k)));
  return p;
}

TEST(FastPrecisionGuard, WellSpreadComponentsKeepBf16) {
  for (CovarianceType t : {CovarianceType::spherical, CovarianceType::diag, CovarianceType::full,
                           CovarianceType::tied}) {
    const ComponentParams p = spread_params(t, 64, t == CovarianceType::full ? 64 : 128, 1);
    const double s = fast_logit_error_estimate(p);
    EXPECT_GT(s, 0.0) << to_string(t);
    EXPECT_LT(s, 0.5 * kFastMaxLogitError) << to_string(t);
  }
}

TEST(FastPrecisionGuard, FlooredVarianceNeedsFloat32) {
  ComponentParams p = spread_params(CovarianceType::diag, 64, 96, 2);
  p.prec[5 * 96 + 3] = 1e6;  // one column of one component floored at reg_covar = 1e-6
  EXPECT_GT(fast_logit_error_estimate(p), 100 * kFastMaxLogitError);
  // ... unless that component has weight 0 (re-seeding evaluates the healthy ones only).
  p.log_norm[5] = -INFINITY;
  EXPECT_LT(fast_logit_error_estimate(p), kFastMaxLogitError);

  ComponentParams s = spread_params(CovarianceType::spherical, 64, 96, 3);
  s.prec[7] = 1e6;  // duplicate rows
  EXPECT_GT(fast_logit_error_estimate(s), 100 * kFastMaxLogitError);
  s.prec[7] = std::nan("");
  EXPECT_EQ(fast_logit_error_estimate(s), INFINITY);
}

// E-step with one component collapsed on 8 columns (precision 1e6) and rows that sit exactly
// on it: fast mode must match the float64 reference (bf16 features would be off by hundreds
// of nats), and say that it computed in float32.
TEST(FastPrecisionGuard, CollapsedComponentMatchesReference) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  const int n = 3000, k = 16, d = 96;
  Problem pr = make_problem(CovarianceType::diag, n, k, d, 11);
  ComponentParams& cp = pr.params;
  for (int t = 0; t < 8; ++t) {
    const double old = cp.prec[t];
    cp.means[t] = 0.3;  // not a bf16 value (0.5 would round exactly)
    cp.prec[t] = 1e6;
    cp.log_norm[0] += 0.5 * std::log(1e6 / old);
  }
  for (int i = 0; i < n; i += 7)
    for (int t = 0; t < 8; ++t) pr.x[std::size_t(i) * d + t] = float(cp.center[t] + 0.3);
  ASSERT_GT(fast_logit_error_estimate(cp), kFastMaxLogitError);
  const Reference ref = reference_estep(pr);

  Params prm;
  prm.backend = BackendKind::cuda;
  prm.precision = Precision::fast;
  prm.n_components = k;
  prm.covariance_type = CovarianceType::diag;
  auto be = cuda::make_backend(prm, d);
  be->set_params(cp);
  SuffStats st(CovarianceType::diag, k, d);
  std::vector<double> lz(n, NAN);
  RowOutputs rows;
  rows.log_z = lz.data();
  be->estep(pr.x.data(), n, nullptr, &st, RowOutputs{});
  be->estep(pr.x.data(), n, nullptr, nullptr, rows);
  EXPECT_NE(be->info().name.find("float32 products"), std::string::npos) << be->info().name;
  // float32 products: the rows on the collapsed columns share one rounding of terms near
  // p·y² = 9e4, a fraction of a nat each, hence the fast-mode tolerances.
  EXPECT_LE(std::abs(st.log_likelihood - ref.stats.log_likelihood),
            1e-3 * std::abs(ref.stats.log_likelihood))
      << st.log_likelihood << " vs " << ref.stats.log_likelihood;
  EXPECT_LE(rel_error(st.nk, ref.stats.nk), 2e-3);
  EXPECT_LE(rel_error(st.sx, ref.stats.sx), 2e-3);
  EXPECT_LE(rel_error(lz, ref.log_z), 2e-3);
  std::printf("[ guard ] collapsed component, fast (guarded): log-likelihood %.3f, reference %.3f\n",
              st.log_likelihood, ref.stats.log_likelihood);
  {  // What bf16 products give here (printed, the reason for the guard).
    cuda::set_fast_precision_guard(false);
    auto raw = cuda::make_backend(prm, d);
    raw->set_params(cp);
    SuffStats rs(CovarianceType::diag, k, d);
    raw->estep(pr.x.data(), n, nullptr, &rs, RowOutputs{});
    cuda::set_fast_precision_guard(true);
    std::printf("[ guard ] collapsed component, fast unguarded: log-likelihood %.3f, N_k error %.3g\n",
                rs.log_likelihood, rel_error(rs.nk, ref.stats.nk));
  }

  // The same backend goes back to bf16 products for well-spread parameters.
  Problem ok = make_problem(CovarianceType::diag, n, k, d, 12);
  be->set_params(ok.params);
  const std::string before = be->info().name;
  be->set_params(ok.params);
  EXPECT_EQ(be->info().name, before) << "well-spread parameters counted as a fallback";
}

// ---------------------------------------------------------------- whole fits at scale
// 256 clusters, centres N(0, 1) per dimension (as the benchmark), σ from 0.4 to 0.6. With
// `collapse`, every 8th cluster has 8 constant columns (diagonal variances floor at reg_covar)
// and one cluster is a single row repeated (every variance floors).
std::vector<float> scale_rows(std::int64_t n, int d, bool collapse) {
  const int clusters = 256;
  std::mt19937_64 rng(collapse ? 77 : 76);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> centres(std::size_t(clusters) * d), x(std::size_t(n) * d);
  for (auto& v : centres) v = nd(rng);
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = int(rng() % clusters);
    const float sigma = 0.4f + 0.2f * float(c % 5) / 4.0f;
    float* row = x.data() + std::size_t(i) * d;
    const float* cen = centres.data() + std::size_t(c) * d;
    for (int t = 0; t < d; ++t) {
      const bool fixed = collapse && (c == 3 || (c % 8 == 0 && t < 8));
      row[t] = fixed ? cen[t] : cen[t] + sigma * nd(rng);
    }
  }
  return x;
}

struct ScaleCase {
  CovarianceType type;
  bool collapse;
};

class FastFitAtScale : public testing::TestWithParam<ScaleCase> {};

TEST_P(FastFitAtScale, ReachesThePreciseLowerBound) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  const ScaleCase c = GetParam();
  const std::int64_t n = 2000000;
  const int d = 96, k = 1024;
  static std::vector<float> data[2];
  std::vector<float>& x = data[c.collapse];
  if (x.empty()) x = scale_rows(n, d, c.collapse);
  Params p;
  p.n_components = k;
  p.covariance_type = c.type;
  p.max_iter = 6;
  p.tol = 0;  // the same number of iterations in both precisions
  p.seed = 5;
  p.backend = BackendKind::cuda;
  double lb[3];
  int reseeded[3];
  // 0: precise, 1: fast, 2 (printed only): fast without the guard, as before it existed.
  for (int m = 0; m < 3; ++m) {
    p.precision = m == 0 ? Precision::precise : Precision::fast;
    cuda::set_fast_precision_guard(m != 2);
    const auto t0 = std::chrono::steady_clock::now();
    GaussianMixture g(p);
    try {
      g.fit(x.data(), n, d);
    } catch (const std::exception& e) {
      cuda::set_fast_precision_guard(true);
      if (m != 2) throw;
      std::printf("[ scale fit ] fast-unguarded fit failed: %s\n", e.what());
      continue;
    }
    cuda::set_fast_precision_guard(true);
    const double sec =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    lb[m] = g.lower_bound();
    reseeded[m] = g.fit_info().total_reseeded;
    const ComponentParams cp = em::make_component_params(g.model(), em::robust_center(g.model()));
    std::printf("[ scale fit ] %s %s n=%lld d=%d k=%d %s: lower bound %.6f, reseeded %d, "
                "%d iterations, %.2f s, bf16 error estimate of the final model %.3g nats\n",
                to_string(c.type).c_str(), c.collapse ? "collapsing" : "well-spread",
                (long long)n, d, k, m == 2 ? "fast-unguarded" : to_string(p.precision).c_str(), lb[m],
                reseeded[m],
                int(g.fit_info().history.size()), sec, fast_logit_error_estimate(cp));
    for (const auto& it : g.fit_info().history)
      std::printf("[ scale fit ]   iter %d lb %.6f reseeded %d E-step %.3f s\n", it.iteration,
                  it.lower_bound, it.reseeded, it.estep_seconds);
  }
  EXPECT_TRUE(std::isfinite(lb[1]));
  EXPECT_LE(std::abs(lb[1] - lb[0]), 1e-3 * std::abs(lb[0]))
      << "precise " << lb[0] << ", fast " << lb[1];
  EXPECT_LE(reseeded[1], reseeded[0] + k / 100) << "precise re-seeded " << reseeded[0];
}

INSTANTIATE_TEST_SUITE_P(Shapes, FastFitAtScale,
                         testing::Values(ScaleCase{CovarianceType::diag, false},
                                         ScaleCase{CovarianceType::spherical, false},
                                         ScaleCase{CovarianceType::diag, true},
                                         ScaleCase{CovarianceType::spherical, true}),
                         [](const testing::TestParamInfo<ScaleCase>& i) {
                           return to_string(i.param.type) +
                                  (i.param.collapse ? "_collapsing" : "_well_spread");
                         });

}  // namespace
}  // namespace flashgmm::cuda_test
