// The bad-input matrix of the C++ API: every case throws flashgmm::Error whose message names
// the problem; none crashes, hangs or yields a NaN model.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <limits>

#include "flashgmm/flashgmm.hpp"
#include "reference_gmm.hpp"

using namespace flashgmm;
using namespace flashgmm::testing;

namespace {

struct BadCase {
  const char* name;
  std::function<void()> run;
  const char* expected;  // substring of the message
};

void expect_error(const BadCase& c) {
  try {
    c.run();
    ADD_FAILURE() << c.name << ": no error thrown";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos)
        << c.name << ": message '" << e.what() << "' lacks '" << c.expected << "'";
  } catch (const std::exception& e) {
    ADD_FAILURE() << c.name << ": threw a non-flashgmm exception: " << e.what();
  }
}

Params kparams(int k, CovarianceType t = CovarianceType::diag) {
  Params p;
  p.n_components = k;
  p.covariance_type = t;
  return p;
}

}  // namespace

TEST(BadInput, Matrix) {
  const Blobs b = make_blobs(200, 3, 4, 5.0, 1);
  std::vector<float> nan_rows = b.x, inf_rows = b.x, huge = b.x;
  nan_rows[17 * 4 + 2] = std::numeric_limits<float>::quiet_NaN();
  inf_rows[33 * 4] = -std::numeric_limits<float>::infinity();
  std::vector<float> w(200, 1.0f), neg_w = w, zero_w(200, 0.0f);
  neg_w[5] = -1.0f;
  GaussianMixture fitted(kparams(3));
  fitted.fit(b.x.data(), 200, 4);
  const std::string missing = ::testing::TempDir() + "/does_not_exist.npy";

  const std::vector<BadCase> cases = {
      {"NaN row", [&] { GaussianMixture(kparams(3)).fit(nan_rows.data(), 200, 4); }, "row 17"},
      {"Inf row", [&] { GaussianMixture(kparams(3)).fit(inf_rows.data(), 200, 4); }, "row 33"},
      {"n < K", [&] { GaussianMixture(kparams(10)).fit(b.x.data(), 5, 4); }, "n_samples = 5"},
      {"K = 0", [&] { GaussianMixture(kparams(0)).fit(b.x.data(), 200, 4); }, "n_components must be >= 1"},
      {"D = 0", [&] { GaussianMixture(kparams(3)).fit(b.x.data(), 200, 0); }, "empty data"},
      {"N = 0", [&] { GaussianMixture(kparams(3)).fit(b.x.data(), 0, 4); }, "empty data"},
      {"null data", [&] { GaussianMixture(kparams(3)).fit(nullptr, 200, 4); }, "null"},
      {"max_iter = -1", [&] { Params p = kparams(3); p.max_iter = -1; GaussianMixture(p).fit(b.x.data(), 200, 4); }, "max_iter"},
      {"negative tol", [&] { Params p = kparams(3); p.tol = -1; GaussianMixture(p).fit(b.x.data(), 200, 4); }, "tol"},
      {"NaN reg_covar", [&] { Params p = kparams(3); p.reg_covar = NAN; GaussianMixture(p).fit(b.x.data(), 200, 4); }, "reg_covar"},
      {"n_init = 0", [&] { Params p = kparams(3); p.n_init = 0; GaussianMixture(p).fit(b.x.data(), 200, 4); }, "n_init"},
      {"means_init shape", [&] { Params p = kparams(3); p.means_init = {1, 2, 3}; GaussianMixture(p).fit(b.x.data(), 200, 4); }, "means_init has 3 values, expected 12"},
      {"weights_init sum", [&] { Params p = kparams(3); p.weights_init = {0.5, 0.5, 0.5}; GaussianMixture(p).fit(b.x.data(), 200, 4); }, "sum to 1"},
      {"precisions_init shape", [&] { Params p = kparams(3, CovarianceType::full); p.precisions_init = {1, 2}; GaussianMixture(p).fit(b.x.data(), 200, 4); }, "precisions_init has 2 values"},
      {"precisions_init not PD", [&] {
         Params p = kparams(1, CovarianceType::full);
         p.precisions_init = {1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
         GaussianMixture(p).fit(b.x.data(), 200, 4); }, "not symmetric positive definite"},
      {"negative weight", [&] { GaussianMixture(kparams(3)).fit(b.x.data(), 200, 4, neg_w.data()); }, "sample_weight[5]"},
      {"zero weights", [&] { GaussianMixture(kparams(3)).fit(b.x.data(), 200, 4, zero_w.data()); }, "sums to zero"},
      {"unfitted predict", [&] { std::int32_t l; GaussianMixture(kparams(3)).predict(b.x.data(), 1, &l); }, "not fitted"},
      {"predict NaN row", [&] { std::vector<std::int32_t> l(200); fitted.predict(nan_rows.data(), 200, l.data()); }, "row 17"},
      {"top-m too large", [&] { std::vector<std::int32_t> l(200 * 4); fitted.predict_topk(b.x.data(), 200, 4, l.data(), nullptr); }, "top-m must be between 1 and n_components = 3"},
      {"score dimension mismatch", [&] { MatrixSource s(b.x.data(), 100, 8); fitted.score(s); }, "X has 8 features, but the model was fitted with 4"},
      {"missing file", [&] { open_data(missing); }, "does_not_exist.npy"},
      {"bad covariance name", [&] { parse_covariance_type("diagonal"); }, "'diagonal'"},
      {"bad init name", [&] { parse_init_method("kmeans--"); }, "'kmeans--'"},
      {"bad device name", [&] { parse_backend("tpu"); }, "'tpu'"},
      {"sample n = 0", [&] { fitted.sample(0, nullptr, nullptr, 1); }, "n must be >= 1"},
      {"warm start with other K", [&] {
         GaussianMixture g(kparams(3));
         g.fit(b.x.data(), 200, 4);
         Params p = kparams(4);
         p.warm_start = true;
         g.set_params(p);
         g.fit(b.x.data(), 200, 4); }, "warm_start"},
      {"tied covariance ill-defined without regularisation", [&] {
         std::vector<float> same(50 * 3, 1.0f);
         Params p = kparams(2, CovarianceType::tied);
         p.reg_covar = 0;
         GaussianMixture(p).fit(same.data(), 50, 3); }, "increase reg_covar"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    expect_error(c);
  }
}

TEST(BadInput, CudaRequestedWithoutDeviceIsAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present; this case needs none";
  Params p = kparams(2);
  p.backend = BackendKind::cuda;
  const Blobs b = make_blobs(100, 2, 3, 5.0, 2);
  try {
    GaussianMixture(p).fit(b.x.data(), 100, 3);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA backend was requested but is not available"), std::string::npos)
        << e.what();
  }
  // automatic falls back to the CPU.
  p.backend = BackendKind::automatic;
  GaussianMixture g(p);
  g.fit(b.x.data(), 100, 3);
  EXPECT_EQ(g.fit_info().backend, "cpu");
}

TEST(BadInput, ExtremeMagnitudesGiveAFiniteModelOrAClearError) {
  // 1e30-scaled data: squared norms overflow float32; must not produce NaN silently.
  Blobs b = make_blobs(300, 3, 4, 5.0, 3);
  for (auto& v : b.x) v *= 1e30f;
  GaussianMixture g(kparams(3));
  try {
    g.fit(b.x.data(), 300, 4);
    ASSERT_NO_THROW(g.model().validate());
    EXPECT_TRUE(std::isfinite(g.lower_bound()));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("magnitudes"), std::string::npos) << e.what();
  }
}
