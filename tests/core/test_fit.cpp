// Whole fits: agreement with the float64 reference EM, recovery of separated blobs, restarts,
// every init method, degenerate data, and the estimator's inference methods.
#include <gtest/gtest.h>

#include <set>

#include "flashgmm/flashgmm.hpp"
#include "reference_gmm.hpp"

using namespace flashgmm;
using namespace flashgmm::testing;

namespace {
const CovarianceType kTypes[] = {CovarianceType::spherical, CovarianceType::diag, CovarianceType::full,
                                 CovarianceType::tied};

Params params_for(CovarianceType t, int k) {
  Params p;
  p.n_components = k;
  p.covariance_type = t;
  return p;
}
}  // namespace

class FitByType : public ::testing::TestWithParam<CovarianceType> {};

TEST_P(FitByType, SameInitReachesReferenceLogLikelihood) {
  const CovarianceType t = GetParam();
  const int K = 5, D = 4;
  const std::int64_t N = 1500;
  const Blobs b = make_blobs(N, K, D, 2.0, 42, 1.0, 20.0);  // overlapping, far from the origin
  const Model start = random_model(t, K, D, 7, 2.0);
  Model init = start;
  for (int k = 0; k < K; ++k)  // start near the data
    for (int j = 0; j < D; ++j) init.means[(size_t)k * D + j] = b.x[(size_t)k * D + j];
  init.update_precisions_cholesky();
  Params p = params_for(t, K);
  p.max_iter = 30;
  p.tol = 1e-6;
  p.weights_init = init.weights;
  p.means_init = init.means;
  p.precisions_init = init.precisions();
  GaussianMixture g(p);
  g.fit(b.x.data(), N, D);
  const ReferenceFit ref = reference_fit(init, b.x.data(), N, p.max_iter, p.tol, p.reg_covar);
  EXPECT_NEAR(g.lower_bound(), ref.lower_bound, 1e-4 * std::fabs(ref.lower_bound));
  EXPECT_EQ(g.converged(), ref.converged);
  EXPECT_NEAR(g.n_iter(), ref.n_iter, 1);  // the stopping step may differ by rounding at 1e-6
  EXPECT_LT(rel_error(g.means(), ref.model.means), 1e-3);
  EXPECT_LT(rel_error(g.covariances(), ref.model.covariances), 1e-3);
  EXPECT_EQ(g.fit_info().total_reseeded, 0);
}

TEST_P(FitByType, RecoversSeparatedBlobs) {
  const CovarianceType t = GetParam();
  const int K = 8, D = 6;
  const std::int64_t N = 4000;
  const Blobs b = make_blobs(N, K, D, 12.0, 3);
  Params p = params_for(t, K);
  p.n_init = 2;
  GaussianMixture g(p);
  g.fit(b.x.data(), N, D);
  std::vector<std::int32_t> labels(N);
  g.predict(b.x.data(), N, labels.data());
  const double ari = adjusted_rand_index(std::vector<int>(labels.begin(), labels.end()), b.labels);
  EXPECT_GE(ari, 0.95);
  EXPECT_TRUE(g.converged());
  // The mixture's own score equals the last lower bound up to one EM step's gain.
  EXPECT_NEAR(g.score(b.x.data(), N), g.lower_bound(), 1e-2 * std::fabs(g.lower_bound()) + p.tol);
}

INSTANTIATE_TEST_SUITE_P(Types, FitByType, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return to_string(info.param); });

TEST(Fit, EachInitMethodFits) {
  const Blobs b = make_blobs(3000, 6, 5, 10.0, 11);
  for (InitMethod m : {InitMethod::kmeans, InitMethod::kmeans_plusplus, InitMethod::random_from_data,
                       InitMethod::random}) {
    Params p = params_for(CovarianceType::diag, 6);
    p.init = m;
    p.n_init = 3;
    p.max_iter = 300;
    GaussianMixture g(p);
    g.fit(b.x.data(), 3000, 5);
    SCOPED_TRACE(to_string(m));
    EXPECT_TRUE(std::isfinite(g.lower_bound()));
    std::vector<std::int32_t> labels(3000);
    g.predict(b.x.data(), 3000, labels.data());
    // k-means style inits find the blobs; K random rows may seed two components in one blob
    // (scikit-learn's method shares that weakness); random responsibilities start from the
    // data mean and must still fit a finite model.
    const double ari = adjusted_rand_index(std::vector<int>(labels.begin(), labels.end()), b.labels);
    if (m == InitMethod::kmeans || m == InitMethod::kmeans_plusplus) EXPECT_GE(ari, 0.95);
    if (m == InitMethod::random_from_data) EXPECT_GE(ari, 0.7);
  }
}

TEST(Fit, NInitKeepsTheBestRestart) {
  const Blobs b = make_blobs(2000, 10, 3, 4.0, 5);
  Params p = params_for(CovarianceType::full, 10);
  p.init = InitMethod::random_from_data;
  p.n_init = 5;
  GaussianMixture g(p);
  g.fit(b.x.data(), 2000, 3);
  const FitInfo& fi = g.fit_info();
  // Last lower bound of every restart: the kept one is the maximum.
  std::vector<double> last(p.n_init, -INFINITY);
  for (const auto& it : fi.history) last[it.init] = it.lower_bound;
  double best = -INFINITY;
  int arg = -1;
  for (int i = 0; i < p.n_init; ++i)
    if (last[i] > best) best = last[i], arg = i;
  EXPECT_EQ(fi.best_init, arg);
  EXPECT_DOUBLE_EQ(g.lower_bound(), best);
  std::set<double> distinct(last.begin(), last.end());
  EXPECT_GT(distinct.size(), 1u) << "restarts should differ";
  // Each restart alone reaches at most the kept bound.
  for (int i = 0; i < p.n_init; ++i) EXPECT_LE(last[i], g.lower_bound());
}

TEST(Fit, SameSeedSameModel) {
  const Blobs b = make_blobs(2500, 7, 4, 5.0, 8);
  Params p = params_for(CovarianceType::full, 7);
  p.seed = 123;
  GaussianMixture a(p), c(p);
  a.fit(b.x.data(), 2500, 4);
  c.fit(b.x.data(), 2500, 4);
  EXPECT_EQ(a.means(), c.means());
  EXPECT_EQ(a.lower_bound(), c.lower_bound());
}

TEST(Fit, SampleWeightsEqualRepeatedRows) {
  // Weight 2 on a row must equal that row appearing twice.
  const Blobs b = make_blobs(600, 3, 2, 6.0, 21);
  std::vector<float> w(600, 1.0f), doubled = b.x;
  for (int i = 0; i < 600; i += 3) {
    w[i] = 2.0f;
    doubled.insert(doubled.end(), b.x.begin() + i * 2, b.x.begin() + i * 2 + 2);
  }
  const Model init = random_model(CovarianceType::diag, 3, 2, 4, 6.0);
  Params p = params_for(CovarianceType::diag, 3);
  p.weights_init = init.weights;
  p.means_init = init.means;
  p.precisions_init = init.precisions();
  p.tol = 1e-8;
  GaussianMixture gw(p), gd(p);
  gw.fit(b.x.data(), 600, 2, w.data());
  gd.fit(doubled.data(), (std::int64_t)doubled.size() / 2, 2);
  // Float32 tiles sum the rows in a different order: agreement to float32 accuracy.
  EXPECT_LT(rel_error(gw.means(), gd.means()), 1e-5);
  EXPECT_LT(rel_error(gw.covariances(), gd.covariances()), 1e-4);
  EXPECT_NEAR(gw.lower_bound(), gd.lower_bound(), 1e-5 * std::fabs(gd.lower_bound()));
}

TEST(Fit, StreamedSourceEqualsInMemory) {
  // A source that is not contiguous goes through chunked reads.
  class Chunked final : public DataSource {
   public:
    explicit Chunked(const std::vector<float>& x, int d) : x_(x), d_(d) {}
    std::int64_t rows() const override { return (std::int64_t)x_.size() / d_; }
    int dim() const override { return d_; }
    void read(std::int64_t b, std::int64_t c, float* out) const override {
      std::copy_n(x_.data() + b * d_, c * d_, out);
    }
    std::string describe() const override { return "chunked"; }

   private:
    const std::vector<float>& x_;
    int d_;
  };
  const Blobs b = make_blobs(3001, 4, 3, 6.0, 2);
  Params p = params_for(CovarianceType::full, 4);
  p.chunk_rows = 700;
  GaussianMixture a(p), c(p);
  a.fit(b.x.data(), 3001, 3);
  c.fit(Chunked(b.x, 3));
  EXPECT_LT(rel_error(a.means(), c.means()), 1e-5);
  EXPECT_NEAR(a.lower_bound(), c.lower_bound(), 1e-6 * std::fabs(a.lower_bound()));
}

TEST(Fit, WarmStartContinuesFromTheModel) {
  const Blobs b = make_blobs(2000, 4, 3, 5.0, 9);
  Params p = params_for(CovarianceType::diag, 4);
  p.max_iter = 2;
  GaussianMixture g(p);
  g.fit(b.x.data(), 2000, 3);
  const double first = g.lower_bound();
  p.warm_start = true;
  p.max_iter = 100;
  g.set_params(p);
  g.fit(b.x.data(), 2000, 3);
  EXPECT_GE(g.lower_bound(), first - 1e-6 * std::fabs(first));  // EM never loses ground (up to rounding)
  EXPECT_TRUE(g.converged());
}

// ---- degenerate data: a finite model, never NaN ----------------------------------------------

void expect_finite_model(const GaussianMixture& g) {
  const Model& m = g.model();
  ASSERT_NO_THROW(m.validate());
  EXPECT_TRUE(std::isfinite(g.lower_bound()));
}

TEST(Degenerate, DuplicatedPoints) {
  std::vector<float> x;
  for (int i = 0; i < 500; ++i) {
    const float v = (float)(i % 5);
    x.insert(x.end(), {v, 2 * v, -v});
  }
  for (CovarianceType t : kTypes) {
    GaussianMixture g(params_for(t, 8));
    g.fit(x.data(), 500, 3);
    SCOPED_TRACE(to_string(t));
    expect_finite_model(g);
  }
}

TEST(Degenerate, AllIdenticalRows) {
  std::vector<float> x(300 * 4, 3.5f);
  for (CovarianceType t : kTypes) {
    GaussianMixture g(params_for(t, 3));
    g.fit(x.data(), 300, 4);
    SCOPED_TRACE(to_string(t));
    expect_finite_model(g);
  }
}

TEST(Degenerate, OneFarOutlier) {
  Blobs b = make_blobs(1000, 3, 4, 5.0, 4);
  for (int j = 0; j < 4; ++j) b.x[j] = 1e6f;
  for (CovarianceType t : kTypes) {
    GaussianMixture g(params_for(t, 4));
    g.fit(b.x.data(), 1000, 4);
    SCOPED_TRACE(to_string(t));
    expect_finite_model(g);
  }
}

TEST(Degenerate, StarvedComponentIsReseeded) {
  // Means initialised with one component far from all data: it explains nothing, must be
  // re-seeded (counted) and the fit must still find the 3 blobs.
  const Blobs b = make_blobs(3000, 3, 2, 8.0, 6, 0.5);
  Params p = params_for(CovarianceType::full, 3);
  p.means_init = {b.x[0], b.x[1], b.x[2], b.x[3], 1e4, 1e4};
  GaussianMixture g(p);
  g.fit(b.x.data(), 3000, 2);
  expect_finite_model(g);
  EXPECT_GE(g.fit_info().total_reseeded, 1);
  int counted = 0;
  for (const auto& it : g.fit_info().history) counted += it.reseeded;
  EXPECT_EQ(counted, g.fit_info().total_reseeded);
  std::vector<std::int32_t> labels(3000);
  g.predict(b.x.data(), 3000, labels.data());
  EXPECT_GE(adjusted_rand_index(std::vector<int>(labels.begin(), labels.end()), b.labels), 0.95);
}

TEST(Degenerate, KCloseToN) {
  const Blobs b = make_blobs(40, 5, 3, 3.0, 12);
  for (CovarianceType t : kTypes) {
    GaussianMixture g(params_for(t, 38));
    g.fit(b.x.data(), 40, 3);
    SCOPED_TRACE(to_string(t));
    expect_finite_model(g);
  }
}

TEST(Degenerate, WellSeparatedBlobsManyComponentsDiag) {
  // scikit-learn raises "ill-defined empirical covariance" on this kind of data (K=256 blobs);
  // a smaller instance of the same shape must fit.
  const Blobs b = make_blobs(20000, 200, 16, 30.0, 13, 0.05);
  Params p = params_for(CovarianceType::diag, 256);
  p.max_iter = 30;
  GaussianMixture g(p);
  g.fit(b.x.data(), 20000, 16);
  expect_finite_model(g);
}

// ---- inference methods -------------------------------------------------------------------------

TEST(Inference, ProbaTopkPredictScoreAgree) {
  const Blobs b = make_blobs(1200, 5, 3, 3.0, 14);
  GaussianMixture g(params_for(CovarianceType::full, 5));
  g.fit(b.x.data(), 1200, 3);
  const std::int64_t n = 1200;
  std::vector<float> proba(n * 5);
  g.predict_proba(b.x.data(), n, proba.data());
  std::vector<std::int32_t> labels(n), ids(n * 2);
  std::vector<float> tp(n * 2);
  g.predict(b.x.data(), n, labels.data());
  g.predict_topk(b.x.data(), n, 2, ids.data(), tp.data());
  std::vector<double> ls(n);
  g.score_samples(b.x.data(), n, ls.data());
  const ReferenceEStep ref = reference_estep(g.model(), b.x.data(), n);
  double mean = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    double s = 0;
    int arg = 0;
    for (int k = 0; k < 5; ++k) {
      s += proba[i * 5 + k];
      if (proba[i * 5 + k] > proba[i * 5 + arg]) arg = k;
    }
    EXPECT_NEAR(s, 1.0, 1e-5);
    EXPECT_EQ(labels[i], arg);
    EXPECT_EQ(ids[i * 2], arg);
    EXPECT_FLOAT_EQ(tp[i * 2], proba[i * 5 + arg]);
    EXPECT_NEAR(ls[i], ref.log_z[i], 1e-5 * std::fabs(ref.log_z[i]) + 1e-6);
    mean += ls[i];
  }
  EXPECT_NEAR(g.score(b.x.data(), n), mean / n, 1e-9 * std::fabs(mean / n));
  const double ll = g.score(b.x.data(), n) * n;
  EXPECT_NEAR(g.bic(b.x.data(), n), -2 * ll + g.model().n_parameters() * std::log((double)n), 1e-6 * std::fabs(ll));
  EXPECT_NEAR(g.aic(b.x.data(), n), -2 * ll + 2 * g.model().n_parameters(), 1e-6 * std::fabs(ll));
  EXPECT_EQ(g.model().n_parameters(), 5 * 6 + 5 * 3 + 4);  // full: K·D(D+1)/2 + K·D + K−1
}

TEST(Inference, SampleFollowsTheModel) {
  const Blobs b = make_blobs(3000, 3, 2, 6.0, 15);
  for (CovarianceType t : kTypes) {
    GaussianMixture g(params_for(t, 3));
    g.fit(b.x.data(), 3000, 2);
    const std::int64_t n = 60000;
    std::vector<float> s(n * 2);
    std::vector<std::int32_t> lab(n);
    g.sample(n, s.data(), lab.data(), 7);
    std::vector<double> cnt(3, 0), mean(6, 0);
    for (std::int64_t i = 0; i < n; ++i) {
      cnt[lab[i]] += 1;
      mean[lab[i] * 2] += s[i * 2];
      mean[lab[i] * 2 + 1] += s[i * 2 + 1];
    }
    SCOPED_TRACE(to_string(t));
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(cnt[k] / n, g.weights()[k], 0.01);
      for (int j = 0; j < 2; ++j) EXPECT_NEAR(mean[k * 2 + j] / cnt[k], g.means()[k * 2 + j], 0.1);
    }
    // Samples from the model score about the same as the model's training data.
    EXPECT_NEAR(g.score(s.data(), n), g.score(b.x.data(), 3000), 0.1);
  }
}

TEST(Inference, SaveLoadPredictsTheSame) {
  const Blobs b = make_blobs(800, 4, 3, 5.0, 16);
  GaussianMixture g(params_for(CovarianceType::tied, 4));
  g.fit(b.x.data(), 800, 3);
  const std::string path = ::testing::TempDir() + "/fit_roundtrip.fgmm";
  g.save(path);
  GaussianMixture h = GaussianMixture::load(path);
  EXPECT_EQ(h.model().means, g.model().means);
  EXPECT_DOUBLE_EQ(h.score(b.x.data(), 800), g.score(b.x.data(), 800));
}
