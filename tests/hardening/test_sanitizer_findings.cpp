// Regression tests for what the sanitizer build (ASan + UBSan) found in flashgmm's own code.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "cpu/fast_exp.hpp"
#include "flashgmm/flashgmm.hpp"

using flashgmm::cpu::fast_exp;

// UBSan: "left shift of negative value -2147483521" in fast_exp, reached from the CPU E-step on
// 1e30-scaled data (a row whose log-likelihoods are all -inf gives -inf - (-inf) = NaN). NaN was
// converted to int32 (undefined) and shifted. NaN must give NaN, defined, and the limits must hold.
TEST(SanitizerFindings, FastExpIsDefinedForNaNAndInfinities) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  volatile float in[] = {nan, -nan, inf, -inf, -87.0f, 88.0f, -1e30f, 1e30f, 0.0f};
  EXPECT_TRUE(std::isnan(fast_exp(in[0])));
  EXPECT_TRUE(std::isnan(fast_exp(in[1])));
  EXPECT_TRUE(std::isfinite(fast_exp(in[2])));  // clamped at e^88
  EXPECT_EQ(fast_exp(in[3]), 0.0f);
  EXPECT_NEAR(fast_exp(in[4]) / std::exp(-87.0f), 1.0f, 1e-6f);
  EXPECT_NEAR(fast_exp(in[5]) / std::exp(88.0f), 1.0f, 1e-6f);
  EXPECT_EQ(fast_exp(in[6]), 0.0f);
  EXPECT_TRUE(std::isfinite(fast_exp(in[7])));
  EXPECT_EQ(fast_exp(in[8]), 1.0f);
  // The vectorised form (what the E-step runs) agrees with the scalar one.
  std::vector<float> v(64), out(64);
  for (int i = 0; i < 64; ++i) v[i] = i % 3 == 0 ? nan : -100.0f + 3.0f * i;
#pragma omp simd
  for (int i = 0; i < 64; ++i) out[i] = fast_exp(v[i]);
  for (int i = 0; i < 64; ++i) {
    if (i % 3 == 0) {
      EXPECT_TRUE(std::isnan(out[i])) << i;
    } else {
      EXPECT_EQ(out[i], fast_exp(v[i])) << i;
    }
  }
}

// The same finding end to end: an E-step over rows whose log-likelihoods overflow gives a clear
// error or a finite model (never a model built from undefined arithmetic).
TEST(SanitizerFindings, HugeRowsInTheEStepAreDefined) {
  std::vector<float> x(200 * 3);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 101) * 1e30f;
  for (auto t : {flashgmm::CovarianceType::spherical, flashgmm::CovarianceType::diag,
                 flashgmm::CovarianceType::full, flashgmm::CovarianceType::tied}) {
    flashgmm::Params p;
    p.n_components = 3;
    p.covariance_type = t;
    flashgmm::GaussianMixture g(p);
    try {
      g.fit(x.data(), 200, 3);
      EXPECT_NO_THROW(g.model().validate());
      EXPECT_TRUE(std::isfinite(g.lower_bound()));
    } catch (const flashgmm::Error& e) {
      EXPECT_FALSE(std::string(e.what()).empty());
    }
  }
}
