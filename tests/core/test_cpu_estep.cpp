// The CPU backend's statistics and per-row outputs against the float64 reference, over shapes
// that make N and K miss the tile sizes and cover every covariance path.
#include <gtest/gtest.h>

#include <tuple>

#include "cpu/cpu_backend.hpp"
#include "reference_gmm.hpp"
#include "src/em_math.hpp"

using namespace flashgmm;
using namespace flashgmm::testing;

namespace {

struct Shape {
  std::int64_t n;
  int k, d;
  std::int64_t tile;  // 0 = automatic
};

class CpuEStep : public ::testing::TestWithParam<std::tuple<CovarianceType, Shape>> {};

std::vector<float> data_for(const Model& m, std::int64_t n, std::uint64_t seed) {
  // Rows near the components, offset far from the origin to exercise the centring.
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<float> x((size_t)n * m.dim);
  for (std::int64_t i = 0; i < n; ++i)
    for (int j = 0; j < m.dim; ++j)
      x[(size_t)i * m.dim + j] = (float)(m.means[(size_t)(i % m.n_components) * m.dim + j] + 1.2 * nd(rng));
  return x;
}

Model shifted(Model m, double offset) {
  for (double& v : m.means) v += offset;
  return m;
}

}  // namespace

TEST_P(CpuEStep, StatisticsMatchFloat64Reference) {
  const auto [type, s] = GetParam();
  const Model m = shifted(random_model(type, s.k, s.d, 17 + s.k * 31 + s.d), 50.0);
  const std::vector<float> x = data_for(m, s.n, 5 + s.n);
  std::vector<float> w(s.n);
  std::mt19937 rng(3);
  for (auto& v : w) v = std::uniform_real_distribution<float>(0.2f, 2.0f)(rng);
  for (bool weighted : {false, true}) {
    Params p;
    p.n_components = s.k;
    p.covariance_type = type;
    p.tile_rows = s.tile;
    auto backend = cpu::make_backend(p, s.d);
    const std::vector<double> c = em::mixture_mean(m);
    backend->set_params(em::make_component_params(m, c));
    SuffStats got(type, s.k, s.d);
    // Two calls into the same statistics: accumulation across chunks.
    const std::int64_t half = s.n / 2;
    backend->estep(x.data(), half, weighted ? w.data() : nullptr, &got, {});
    backend->estep(x.data() + half * s.d, s.n - half, weighted ? w.data() + half : nullptr, &got, {});
    const SuffStats ref = reference_stats(m, x.data(), s.n, c, weighted ? w.data() : nullptr);
    SCOPED_TRACE(weighted ? "weighted" : "unweighted");
    EXPECT_LT(rel_error(got.nk, ref.nk), 1e-5);
    EXPECT_LT(rel_error(got.sx, ref.sx), 1e-5);
    EXPECT_LT(rel_error(got.sxx, ref.sxx), 1e-5);
    EXPECT_NEAR(got.log_likelihood, ref.log_likelihood, 1e-6 * std::fabs(ref.log_likelihood));
    EXPECT_NEAR(got.weight_sum, ref.weight_sum, 1e-9 * ref.weight_sum);
    EXPECT_EQ(got.n_rows, s.n);
  }
}

TEST_P(CpuEStep, RowOutputsMatchFloat64Reference) {
  const auto [type, s] = GetParam();
  const Model m = random_model(type, s.k, s.d, 99 + s.k);
  const std::vector<float> x = data_for(m, s.n, 11);
  Params p;
  p.n_components = s.k;
  p.covariance_type = type;
  p.tile_rows = s.tile;
  auto backend = cpu::make_backend(p, s.d);
  backend->set_params(em::make_component_params(m, em::mixture_mean(m)));
  const int top = std::min(3, s.k);
  const float poison = std::numeric_limits<float>::quiet_NaN();
  std::vector<double> lz(s.n, std::numeric_limits<double>::quiet_NaN());
  std::vector<std::int32_t> ids((size_t)s.n * top, -7);
  std::vector<float> tp((size_t)s.n * top, poison), proba((size_t)s.n * s.k, poison);
  RowOutputs r;
  r.log_z = lz.data();
  r.top_m = top;
  r.top_ids = ids.data();
  r.top_probs = tp.data();
  r.proba = proba.data();
  backend->estep(x.data(), s.n, nullptr, nullptr, r);
  const ReferenceEStep ref = reference_estep(m, x.data(), s.n);
  for (std::int64_t i = 0; i < s.n; ++i) {
    ASSERT_NEAR(lz[i], ref.log_z[i], 1e-5 * std::max(1.0, std::fabs(ref.log_z[i]))) << "row " << i;
    double sum = 0;
    for (int k = 0; k < s.k; ++k) {
      ASSERT_NEAR(proba[(size_t)i * s.k + k], ref.resp[(size_t)i * s.k + k], 2e-5) << "row " << i;
      sum += proba[(size_t)i * s.k + k];
    }
    ASSERT_NEAR(sum, 1.0, 1e-5);
    for (int j = 0; j < top; ++j) {
      const int id = ids[(size_t)i * top + j];
      ASSERT_GE(id, 0);
      ASSERT_LT(id, s.k);
      ASSERT_FLOAT_EQ(tp[(size_t)i * top + j], proba[(size_t)i * s.k + id]);
      if (j > 0) ASSERT_GE(tp[(size_t)i * top + j - 1], tp[(size_t)i * top + j]);
    }
    // The best id really is the arg-max of the reference posterior (up to ties at 1e-6).
    double best = 0;
    for (int k = 0; k < s.k; ++k) best = std::max(best, ref.resp[(size_t)i * s.k + k]);
    ASSERT_NEAR(ref.resp[(size_t)i * s.k + ids[(size_t)i * top]], best, 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CpuEStep,
    ::testing::Combine(::testing::Values(CovarianceType::spherical, CovarianceType::diag,
                                         CovarianceType::full, CovarianceType::tied),
                       ::testing::Values(Shape{1, 1, 1, 0}, Shape{1003, 7, 5, 16}, Shape{517, 37, 13, 0},
                                         Shape{300, 64, 3, 48}, Shape{250, 5, 40, 0}, Shape{97, 97, 2, 16})),
    [](const auto& info) {
      const Shape s = std::get<1>(info.param);
      return to_string(std::get<0>(info.param)) + "_n" + std::to_string(s.n) + "_k" + std::to_string(s.k) +
             "_d" + std::to_string(s.d) + "_t" + std::to_string(s.tile);
    });
