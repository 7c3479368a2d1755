// The bad-input matrix, continued (tests/core/test_bad_input.cpp has the first part): awkward but
// legal data must give a correct finite model, malformed data a flashgmm::Error naming the
// problem, for every covariance type. Never a crash, a hang or a NaN model.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <string>

#include "flashgmm/flashgmm.hpp"
#include "reference_gmm.hpp"

using namespace flashgmm;
using namespace flashgmm::testing;

namespace {

const CovarianceType kAllTypes[] = {CovarianceType::spherical, CovarianceType::diag, CovarianceType::full,
                                    CovarianceType::tied};

Params params(int k, CovarianceType t) {
  Params p;
  p.n_components = k;
  p.covariance_type = t;
  p.max_iter = 50;
  p.seed = 7;
  return p;
}

// The fitted model is usable: valid, finite lower bound, finite scores of the training rows.
void expect_finite_model(const GaussianMixture& g, const float* x, std::int64_t n) {
  ASSERT_TRUE(g.fitted());
  ASSERT_NO_THROW(g.model().validate());
  EXPECT_TRUE(std::isfinite(g.lower_bound())) << g.lower_bound();
  std::vector<double> ll(static_cast<std::size_t>(n));
  g.score_samples(x, n, ll.data());
  for (std::int64_t i = 0; i < n; ++i) ASSERT_TRUE(std::isfinite(ll[i])) << "row " << i << ": " << ll[i];
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  g.predict(x, n, labels.data());
  for (auto l : labels) ASSERT_TRUE(l >= 0 && l < g.model().n_components);
}

// Either outcome is acceptable for the extreme cases; anything else (NaN, a crash) is not.
void expect_finite_model_or_error(const std::function<void()>& fit, const GaussianMixture& g,
                                  const float* x, std::int64_t n, const char* error_substring) {
  try {
    fit();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(error_substring), std::string::npos) << e.what();
    return;
  }
  expect_finite_model(g, x, n);
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/flashgmm_bad_input_extra_" + std::to_string(::getpid()) + "_" + name;
}

class BadInputExtra : public ::testing::TestWithParam<CovarianceType> {};

}  // namespace

TEST_P(BadInputExtra, DuplicatedPointsGiveAFiniteModel) {
  // 30 distinct points, each repeated 10 times.
  const Blobs b = make_blobs(30, 3, 4, 6.0, 11);
  std::vector<float> x;
  for (int r = 0; r < 10; ++r) x.insert(x.end(), b.x.begin(), b.x.end());
  GaussianMixture g(params(3, GetParam()));
  g.fit(x.data(), 300, 4);
  expect_finite_model(g, x.data(), 300);
}

TEST_P(BadInputExtra, FewerDistinctPointsThanComponents) {
  // n ≥ K, but only 3 distinct points for K = 6: collapsed components are re-seeded or kept
  // regularised; the model stays finite.
  std::vector<float> x;
  const float pts[3][2] = {{0, 0}, {5, 5}, {-4, 7}};
  for (int r = 0; r < 40; ++r) x.insert(x.end(), pts[r % 3], pts[r % 3] + 2);
  GaussianMixture g(params(6, GetParam()));
  g.fit(x.data(), 40, 2);
  expect_finite_model(g, x.data(), 40);
}

TEST_P(BadInputExtra, AllIdenticalRowsGiveAFiniteModel) {
  for (int k : {1, 3}) {
    SCOPED_TRACE("K=" + std::to_string(k));
    std::vector<float> x(100 * 5, 2.5f);
    GaussianMixture g(params(k, GetParam()));
    g.fit(x.data(), 100, 5);
    expect_finite_model(g, x.data(), 100);
    for (double m : g.means()) EXPECT_NEAR(m, 2.5, 1e-4);
  }
}

TEST_P(BadInputExtra, NEqualsKGivesAFiniteModel) {
  const Blobs b = make_blobs(4, 4, 3, 5.0, 12);
  GaussianMixture g(params(4, GetParam()));
  g.fit(b.x.data(), 4, 3);
  expect_finite_model(g, b.x.data(), 4);
}

TEST_P(BadInputExtra, AFarOutlierGivesAFiniteModel) {
  Blobs b = make_blobs(400, 3, 4, 5.0, 13);
  for (int j = 0; j < 4; ++j) b.x[(size_t)123 * 4 + j] = 1e6f;  // 10^6 standard deviations away
  GaussianMixture g(params(3, GetParam()));
  g.fit(b.x.data(), 400, 4);
  expect_finite_model(g, b.x.data(), 400);
}

TEST_P(BadInputExtra, ExtremeMagnitudesGiveAFiniteModelOrAClearError) {
  for (float scale : {1e30f, 1e-30f, 1e19f}) {
    SCOPED_TRACE("scale " + std::to_string(scale));
    Blobs b = make_blobs(300, 3, 4, 5.0, 14);
    for (auto& v : b.x) v *= scale;
    GaussianMixture g(params(3, GetParam()));
    expect_finite_model_or_error([&] { g.fit(b.x.data(), 300, 4); }, g, b.x.data(), 300, "magnitude");
  }
}

TEST_P(BadInputExtra, OneHugeColumnGivesAFiniteModelOrAClearError) {
  Blobs b = make_blobs(300, 3, 4, 5.0, 15);
  for (std::size_t i = 0; i < 300; ++i) b.x[i * 4 + 2] *= 1e30f;
  GaussianMixture g(params(3, GetParam()));
  expect_finite_model_or_error([&] { g.fit(b.x.data(), 300, 4); }, g, b.x.data(), 300, "magnitude");
}

TEST_P(BadInputExtra, WarmStartWithAnotherDimensionIsAClearError) {
  const Blobs b = make_blobs(200, 3, 4, 5.0, 16);
  const Blobs c = make_blobs(200, 3, 5, 5.0, 16);
  GaussianMixture g(params(3, GetParam()));
  g.fit(b.x.data(), 200, 4);
  Params p = params(3, GetParam());
  p.warm_start = true;
  g.set_params(p);
  try {
    g.fit(c.x.data(), 200, 5);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the model has 4 features but the data has 5"), std::string::npos) << e.what();
  }
}

// A data file that shrinks while a fit is reading it (another process rewrote it): every format,
// including the zero-copy float32 .npy path, ends in an Error naming the file — never SIGBUS.
TEST_P(BadInputExtra, DataFileShrinkingDuringTheFitIsAnError) {
  const std::int64_t n = 8192;
  const int d = 8;
  const Blobs b = make_blobs(n, 3, d, 5.0, 17);
  std::vector<double> xd(b.x.begin(), b.x.end());
  for (const std::string name : {"f32.npy", "f64.npy", "x.fvecs"}) {
    SCOPED_TRACE(name);
    const std::string path = temp_path(name);
    if (name == "f32.npy") write_npy(path, b.x.data(), n, d);
    if (name == "f64.npy") write_npy(path, xd.data(), n, d);
    if (name == "x.fvecs") write_fvecs(path, b.x.data(), n, d);
    const auto src = open_data(path);
    Params p = params(3, GetParam());
    p.tol = 0;  // keep iterating until the file is cut
    GaussianMixture g(p);
    g.set_iteration_callback([&](const IterationStats& s) {
      if (s.iteration == 2) {
        struct stat st {};
        EXPECT_EQ(::stat(path.c_str(), &st), 0);
        EXPECT_EQ(::truncate(path.c_str(), st.st_size / 3), 0);
      }
      return true;
    });
    try {
      g.fit(*src);
      ADD_FAILURE() << "the fit ignored a file that shrank under it";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("shrank"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    // Scoring the shrunken file through the open source is an error too.
    GaussianMixture fitted(params(3, GetParam()));
    fitted.fit(b.x.data(), n, d);
    EXPECT_THROW(fitted.score(*src), Error);
    std::remove(path.c_str());
  }
}

TEST_P(BadInputExtra, DataFileGrowingDuringTheFitIsIgnored) {
  // Rows appended after open are not part of the source: the fit sees the rows it opened.
  const std::int64_t n = 2000;
  const int d = 4;
  const Blobs b = make_blobs(n, 3, d, 5.0, 18);
  const std::string path = temp_path("grow.fvecs");
  write_fvecs(path, b.x.data(), n, d);
  const auto src = open_data(path);
  GaussianMixture g(params(3, GetParam()));
  g.set_iteration_callback([&](const IterationStats& s) {
    if (s.iteration == 1) {
      std::ofstream f(path, std::ios::binary | std::ios::app);
      const std::int32_t h = d;
      for (int r = 0; r < 500; ++r) {
        f.write(reinterpret_cast<const char*>(&h), 4);
        f.write(reinterpret_cast<const char*>(b.x.data()), 4 * d);
      }
    }
    return true;
  });
  g.fit(*src);
  EXPECT_EQ(src->rows(), n);
  expect_finite_model(g, b.x.data(), n);
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(AllCovariances, BadInputExtra, ::testing::ValuesIn(kAllTypes),
                         [](const ::testing::TestParamInfo<CovarianceType>& i) { return to_string(i.param); });

// Malformed files of every kind: an Error naming the file and the problem.
TEST(BadInputExtraFiles, MalformedFilesAreClearErrors) {
  const Blobs b = make_blobs(50, 2, 3, 5.0, 19);
  GaussianMixture g(params(2, CovarianceType::diag));
  g.fit(b.x.data(), 50, 3);
  const std::string model = temp_path("m.fgmm");
  g.save(model);
  std::vector<char> bytes;
  {
    std::ifstream f(model, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  auto put = [](const std::string& p, const void* data, std::size_t n) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  };
  const std::string truncated = temp_path("trunc.fgmm"), flipped = temp_path("flip.fgmm"),
                    int_npy = temp_path("i.npy"), trunc_npy = temp_path("t.npy"), empty = temp_path("e.fvecs");
  put(truncated, bytes.data(), bytes.size() - 9);
  std::vector<char> f = bytes;
  f[60] ^= 0x10;
  put(flipped, f.data(), f.size());
  const std::int32_t ints[6] = {1, 2, 3, 4, 5, 6};
  write_npy(int_npy, ints, 2, 3);
  write_npy(trunc_npy, b.x.data(), 50, 3);
  ASSERT_EQ(::truncate(trunc_npy.c_str(), 128 + 12 * 10 + 5), 0);
  put(empty, "", 0);

  struct FileCase {
    const char* name;
    std::function<void()> run;
    std::vector<std::string> expected;
  };
  const std::vector<FileCase> cases = {
      {"truncated model", [&] { load_model(truncated); }, {truncated, "truncated"}},
      {"corrupted model", [&] { load_model(flipped); }, {flipped, "checksum mismatch"}},
      {"model as data", [&] { open_data(model); }, {"unsupported data file extension"}},
      {"int32 .npy (wrong dtype)", [&] { open_data(int_npy); }, {int_npy, "'<i4' not supported"}},
      {"truncated .npy", [&] { open_data(trunc_npy); }, {trunc_npy, "truncated"}},
      {"empty .fvecs", [&] { open_data(empty); }, {empty, "empty"}},
      {"data as model", [&] { load_model(trunc_npy); }, {"not a flashgmm model file"}},
  };
  for (const FileCase& c : cases) {
    try {
      c.run();
      ADD_FAILURE() << c.name << ": no error";
    } catch (const Error& e) {
      for (const auto& s : c.expected)
        EXPECT_NE(std::string(e.what()).find(s), std::string::npos) << c.name << ": '" << e.what() << "' lacks '" << s << "'";
    }
  }
  for (const auto& p : {model, truncated, flipped, int_npy, trunc_npy, empty}) std::remove(p.c_str());
}
