// CUDA E-step against a float64 reference: every covariance type, both precisions, shapes that
// are not multiples of any tile, D from 1 to 256 and K from 1 to 4096; outputs poisoned before
// each run; deterministic mode bitwise repeatable; resident and streamed passes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "cuda_test_support.hpp"
#include "flashgmm/error.hpp"

namespace flashgmm::cuda_test {
namespace {

struct Case {
  CovarianceType type;
  int n, k, d;
  Precision precision;
  bool weighted;
};

std::string case_name(const testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return to_string(c.type) + "_n" + std::to_string(c.n) + "_k" + std::to_string(c.k) + "_d" +
         std::to_string(c.d) + "_" + to_string(c.precision) + (c.weighted ? "_weighted" : "");
}

struct Tolerance {
  double stats, loglik, proba;
};
/// fast: bf16 operands (relative rounding 2^-9 per operand) — 2e-3 on the statistics, as the
/// issue asks, once components average over enough rows; with fewer than 32 rows per
/// component the rounding of single rows does not average out and 6e-3 applies.
/// precise: float32 accuracy, 1e-5.
Tolerance tolerance(Precision p, int n = 1 << 30, int k = 1) {
  if (p == Precision::precise) return {1e-5, 1e-5, 1e-4};
  return {n >= 32 * k ? 2e-3 : 6e-3, 2e-3, 3e-2};
}

Params cuda_params(const Case& c) {
  Params prm;
  prm.backend = BackendKind::cuda;
  prm.precision = c.precision;
  prm.n_components = c.k;
  prm.covariance_type = c.type;
  return prm;
}

void expect_stats_near(const SuffStats& got, const SuffStats& ref, const Tolerance& tol,
                       const char* what) {
  EXPECT_LE(rel_error(got.nk, ref.nk), tol.stats) << what << ": N_k";
  EXPECT_LE(rel_error(got.sx, ref.sx), tol.stats) << what << ": sum r x";
  EXPECT_LE(rel_error(got.sxx, ref.sxx), tol.stats) << what << ": second moments";
  EXPECT_LE(std::abs(got.log_likelihood - ref.log_likelihood),
            tol.loglik * std::abs(ref.log_likelihood) + 1e-9)
      << what << ": log-likelihood " << got.log_likelihood << " vs " << ref.log_likelihood;
  EXPECT_NEAR(got.weight_sum, ref.weight_sum, 1e-6 * ref.weight_sum) << what;
  EXPECT_EQ(got.n_rows, ref.n_rows) << what;
}

bool bitwise_equal(const SuffStats& a, const SuffStats& b) {
  auto same = [](const std::vector<double>& x, const std::vector<double>& y) {
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0;
  };
  return same(a.nk, b.nk) && same(a.sx, b.sx) && same(a.sxx, b.sxx) &&
         std::memcmp(&a.log_likelihood, &b.log_likelihood, sizeof(double)) == 0;
}

class CudaEstep : public testing::TestWithParam<Case> {};

TEST_P(CudaEstep, MatchesFloat64Reference) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  const Case c = GetParam();
  const Problem p = make_problem(c.type, c.n, c.k, c.d, 1234 + c.n * 7 + c.k * 13 + c.d,
                                 c.weighted);
  const Reference ref = reference_estep(p);
  const Tolerance tol = tolerance(c.precision, c.n, c.k);
  const float* w = p.w.empty() ? nullptr : p.w.data();
  auto be = cuda::make_backend(cuda_params(c), c.d);
  be->set_params(p.params);

  // 1. Every per-row output at once, poisoned first.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const int m = std::min(3, c.k);
  std::vector<double> log_z(c.n, nan);
  std::vector<std::int32_t> ids(std::size_t(c.n) * m, -7);
  std::vector<float> probs(std::size_t(c.n) * m, float(nan));
  std::vector<float> proba(std::size_t(c.n) * c.k, float(nan));
  RowOutputs ro;
  ro.log_z = log_z.data();
  ro.top_m = m;
  ro.top_ids = ids.data();
  ro.top_probs = probs.data();
  ro.proba = proba.data();
  SuffStats st(c.type, c.k, c.d);
  be->estep(p.x.data(), c.n, w, &st, ro);
  expect_stats_near(st, ref.stats, tol, "with row outputs");

  double worst_lz = 0, worst_proba = 0, worst_top = 0;
  std::vector<double> sorted(c.k);
  for (int i = 0; i < c.n; ++i) {
    const double e = std::abs(log_z[i] - ref.log_z[i]) / std::max(1.0, std::abs(ref.log_z[i]));
    worst_lz = std::max(worst_lz, std::isfinite(log_z[i]) ? e : INFINITY);
    const double* post = ref.post.data() + std::size_t(i) * c.k;
    for (int j = 0; j < c.k; ++j) {
      const float v = proba[std::size_t(i) * c.k + j];
      worst_proba = std::max(worst_proba, std::isfinite(v) ? std::abs(v - post[j]) : INFINITY);
    }
    std::copy(post, post + c.k, sorted.begin());
    std::partial_sort(sorted.begin(), sorted.begin() + m, sorted.end(), std::greater<double>());
    for (int j = 0; j < m; ++j) {
      const std::int32_t id = ids[std::size_t(i) * m + j];
      const float pr = probs[std::size_t(i) * m + j];
      if (id < 0 || id >= c.k || !std::isfinite(pr)) {
        worst_top = INFINITY;
        continue;
      }
      // The j-th id must carry the j-th largest posterior (ties and near-ties may swap ids).
      worst_top = std::max({worst_top, std::abs(post[id] - sorted[j]), std::abs(pr - post[id])});
    }
  }
  EXPECT_LE(worst_lz, c.precision == Precision::fast ? 2e-3 : 1e-5) << "log Z";
  EXPECT_LE(worst_proba, tol.proba) << "predict_proba";
  EXPECT_LE(worst_top, tol.proba) << "top-m posteriors";

  // 2. Statistics only (the fused path where it applies), twice: bitwise identical.
  SuffStats a(c.type, c.k, c.d), b(c.type, c.k, c.d);
  be->estep(p.x.data(), c.n, w, &a, RowOutputs{});
  be->estep(p.x.data(), c.n, w, &b, RowOutputs{});
  expect_stats_near(a, ref.stats, tol, "statistics only");
  EXPECT_TRUE(bitwise_equal(a, b)) << "deterministic mode must repeat bitwise";

  // 3. log Z only, through a data source (resident on the device), twice.
  MatrixSource src(p.x.data(), c.n, c.d);
  std::fill(log_z.begin(), log_z.end(), nan);
  RowOutputs lz;
  lz.log_z = log_z.data();
  SuffStats r1(c.type, c.k, c.d), r2(c.type, c.k, c.d);
  be->estep_source(src, w, &r1, lz, 0);
  be->estep_source(src, w, &r2, RowOutputs{}, 0);
  expect_stats_near(r1, ref.stats, tol, "resident source");
  EXPECT_TRUE(bitwise_equal(r1, r2)) << "resident passes must repeat bitwise";
  double worst = 0;
  for (int i = 0; i < c.n; ++i)
    worst = std::max(worst, std::isfinite(log_z[i]) ? std::abs(log_z[i] - ref.log_z[i]) /
                                                          std::max(1.0, std::abs(ref.log_z[i]))
                                                    : INFINITY);
  EXPECT_LE(worst, c.precision == Precision::fast ? 2e-3 : 1e-5) << "log Z from a source";
  EXPECT_GT(be->info().peak_device_bytes, 0);
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  const std::vector<std::array<int, 3>> diagonal_shapes = {
      {1000, 1, 1},   {777, 5, 3},     {1500, 17, 50},  {2049, 64, 96},   {1000, 100, 100},
      {1203, 257, 128}, {500, 33, 256}, {300, 4096, 96}, {2000, 1024, 64}};
  const std::vector<std::array<int, 3>> full_shapes = {
      {777, 5, 3}, {1000, 17, 50}, {600, 9, 96}, {500, 10, 128}, {150, 6, 256}, {333, 130, 16},
      {700, 150, 40}};
  for (Precision pr : {Precision::fast, Precision::precise}) {
    for (CovarianceType t : {CovarianceType::spherical, CovarianceType::diag}) {
      int i = 0;
      for (const auto& s : diagonal_shapes) out.push_back({t, s[0], s[1], s[2], pr, (i++ % 3) == 1});
    }
    for (CovarianceType t : {CovarianceType::full, CovarianceType::tied}) {
      int i = 0;
      for (const auto& s : full_shapes) out.push_back({t, s[0], s[1], s[2], pr, (i++ % 3) == 1});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaEstep, testing::ValuesIn(all_cases()), case_name);

// Data larger than the memory budget allows to keep resident: streamed in chunks through pinned
// buffers; the statistics must equal the reference like the resident pass.
TEST(CudaEstepStreaming, SmallBudgetStreamsChunks) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  for (Precision pr : {Precision::fast, Precision::precise}) {
    const Case c{CovarianceType::diag, 200003, 16, 32, pr, false};
    const Problem p = make_problem(c.type, c.n, c.k, c.d, 99);
    const Reference ref = reference_estep(p);
    Params prm = cuda_params(c);
    prm.gpu_memory_budget = std::int64_t(56) << 20;  // data alone is 25.6 MB; work buffers more
    auto be = cuda::make_backend(prm, c.d);
    be->set_params(p.params);
    MatrixSource src(p.x.data(), c.n, c.d);
    std::vector<double> log_z(c.n, std::numeric_limits<double>::quiet_NaN());
    RowOutputs ro;
    ro.log_z = log_z.data();
    SuffStats st(c.type, c.k, c.d), again(c.type, c.k, c.d);
    be->estep_source(src, nullptr, &st, ro, 7777);
    be->estep_source(src, nullptr, &again, RowOutputs{}, 7777);
    expect_stats_near(st, ref.stats, tolerance(pr), "streamed");
    EXPECT_TRUE(bitwise_equal(st, again));
    for (int i = 0; i < c.n; ++i) ASSERT_TRUE(std::isfinite(log_z[i])) << "row " << i;
    EXPECT_LE(be->info().peak_device_bytes, prm.gpu_memory_budget);
  }
}

TEST(CudaEstepErrors, UnsupportedDimension) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  Params prm;
  prm.backend = BackendKind::cuda;
  for (int d : {0, -3, 5000}) {
    try {
      cuda::make_backend(prm, d);
      ADD_FAILURE() << "D=" << d << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("unsupported dimension"), std::string::npos) << e.what();
    }
  }
}

TEST(CudaEstepErrors, OutOfMemoryNamesTheSize) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  Params prm;
  prm.backend = BackendKind::cuda;
  prm.covariance_type = CovarianceType::full;
  prm.n_components = 64;
  prm.gpu_memory_budget = std::int64_t(40) << 20;
  auto be = cuda::make_backend(prm, 256);
  const Problem p = make_problem(CovarianceType::full, 10, 64, 256, 5);
  try {
    be->set_params(p.params);
    ADD_FAILURE() << "64 full 256×256 factors fitted in a 40 MiB budget";
  } catch (const Error& e) {
    const std::string msg = e.what();
    // The message names what was asked, in bytes, and the budget.
    EXPECT_NE(msg.find("out of GPU memory"), std::string::npos) << msg;
    EXPECT_NE(msg.find(" bytes)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("budget"), std::string::npos) << msg;
  }
}

TEST(CudaEstepErrors, RejectsBadCalls) {
  FLASHGMM_REQUIRE_CUDA_DEVICE();
  Params prm;
  prm.backend = BackendKind::cuda;
  auto be = cuda::make_backend(prm, 4);
  std::vector<float> x(8, 1.0f);
  SuffStats st(CovarianceType::full, 1, 4);
  EXPECT_THROW(be->estep(x.data(), 2, nullptr, &st, RowOutputs{}), Error);  // no set_params
  const Problem p = make_problem(CovarianceType::full, 2, 3, 5, 1);
  EXPECT_THROW(be->set_params(p.params), Error);  // dimension 5 ≠ 4
}

}  // namespace
}  // namespace flashgmm::cuda_test
