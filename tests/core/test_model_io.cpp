// Model file: round trips for every covariance type, and every way a file can be damaged
// (truncation at each offset, single bit flips, crafted headers, foreign files) → Error.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "flashgmm/data_source.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm/model.hpp"
#include "src/model_file_format.hpp"

namespace flashgmm {
namespace {

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected flashgmm::Error containing '" << parts.front() << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "message '" << msg << "' lacks '" << p << "'";
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected flashgmm::Error, got another exception: " << e.what();
  }
}

Model make_model(CovarianceType type, int k, int d, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.5, 2.0);
  std::normal_distribution<double> g(0.0, 3.0);
  Model m;
  m.covariance_type = type;
  m.n_components = k;
  m.dim = d;
  m.weights.resize(k);
  double sum = 0;
  for (auto& w : m.weights) sum += (w = u(rng));
  for (auto& w : m.weights) w /= sum;
  m.means.resize(static_cast<std::size_t>(k) * d);
  for (auto& x : m.means) x = g(rng);
  m.covariances.resize(covariance_size(type, k, d));
  if (type == CovarianceType::spherical || type == CovarianceType::diag) {
    for (auto& c : m.covariances) c = u(rng);
  } else {
    // A·Aᵀ/D + I per block: symmetric positive definite.
    const int blocks = type == CovarianceType::full ? k : 1;
    std::vector<double> a(static_cast<std::size_t>(d) * d);
    for (int b = 0; b < blocks; ++b) {
      for (auto& x : a) x = g(rng);
      double* c = m.covariances.data() + static_cast<std::size_t>(b) * d * d;
      for (int i = 0; i < d; ++i)
        for (int j = 0; j < d; ++j) {
          double s = 0;
          for (int t = 0; t < d; ++t) s += a[i * d + t] * a[j * d + t];
          c[i * d + j] = s / d + (i == j ? 1.0 : 0.0);
        }
    }
  }
  m.update_precisions_cholesky();
  return m;
}

void expect_same(const Model& a, const Model& b) {
  EXPECT_EQ(a.covariance_type, b.covariance_type);
  EXPECT_EQ(a.n_components, b.n_components);
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.weights, b.weights);  // bit-exact: the format stores the doubles as they are
  EXPECT_EQ(a.means, b.means);
  EXPECT_EQ(a.covariances, b.covariances);
  EXPECT_EQ(a.precisions_cholesky, b.precisions_cholesky);
}

std::vector<std::uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void put_bytes(const std::string& path, const std::uint8_t* data, std::size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n));
  ASSERT_TRUE(out.good()) << path;
}

// A model file with an arbitrary header and `payload_doubles` zeros, and a correct checksum, so
// that the header checks (not the checksum) must reject it.
std::vector<std::uint8_t> crafted(std::uint32_t version, std::uint32_t type, std::uint64_t k,
                                  std::uint64_t d, std::uint64_t count, std::size_t payload_doubles) {
  std::vector<std::uint8_t> b(detail::kModelHeaderBytes + payload_doubles * 8 + 8, 0);
  std::memcpy(b.data(), detail::kModelMagic, 8);
  std::memcpy(b.data() + 8, &version, 4);
  std::memcpy(b.data() + 12, &type, 4);
  std::memcpy(b.data() + 16, &k, 8);
  std::memcpy(b.data() + 24, &d, 8);
  std::memcpy(b.data() + 32, &count, 8);
  const std::uint64_t sum = detail::model_file_checksum(b.data(), b.size() - 8);
  std::memcpy(b.data() + b.size() - 8, &sum, 8);
  return b;
}

void reseal(std::vector<std::uint8_t>& b) {
  const std::uint64_t sum = detail::model_file_checksum(b.data(), b.size() - 8);
  std::memcpy(b.data() + b.size() - 8, &sum, 8);
}

class ModelIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "flashgmm_mio_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& f : files_in_dir()) std::remove((dir_ + "/" + f).c_str());
    ::rmdir(dir_.c_str());
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::vector<std::string> files_in_dir() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(dir_.c_str())) {
      while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.push_back(e->d_name);
      ::closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string dir_;
};

struct Case {
  CovarianceType type;
  int k;
  int d;
};

class ModelIoRoundTrip : public ModelIoTest, public ::testing::WithParamInterface<Case> {};

TEST_P(ModelIoRoundTrip, BytesAndFileRoundTripExactly) {
  const auto [type, k, d] = GetParam();
  const Model m = make_model(type, k, d, 1234 + k + d);
  const auto bytes = serialize_model(m);
  const std::size_t count = k + static_cast<std::size_t>(k) * d + 2 * covariance_size(type, k, d);
  ASSERT_EQ(bytes.size(), 40 + 8 * count + 8);
  // The header as documented.
  EXPECT_EQ(std::memcmp(bytes.data(), "FGMMODEL", 8), 0);
  std::uint32_t version, code;
  std::uint64_t kk, dd, cc;
  std::memcpy(&version, bytes.data() + 8, 4);
  std::memcpy(&code, bytes.data() + 12, 4);
  std::memcpy(&kk, bytes.data() + 16, 8);
  std::memcpy(&dd, bytes.data() + 24, 8);
  std::memcpy(&cc, bytes.data() + 32, 8);
  EXPECT_EQ(version, 1u);
  EXPECT_EQ(code, static_cast<std::uint32_t>(type));
  EXPECT_EQ(kk, static_cast<std::uint64_t>(k));
  EXPECT_EQ(dd, static_cast<std::uint64_t>(d));
  EXPECT_EQ(cc, count);
  double w0;
  std::memcpy(&w0, bytes.data() + 40, 8);
  EXPECT_EQ(w0, m.weights[0]);

  expect_same(deserialize_model(bytes.data(), bytes.size()), m);

  save_model(m, path("m.fgmm"));
  EXPECT_EQ(file_bytes(path("m.fgmm")), bytes);
  expect_same(load_model(path("m.fgmm")), m);
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"m.fgmm"});  // no temporary left behind
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ModelIoRoundTrip,
    ::testing::Values(Case{CovarianceType::spherical, 1, 1}, Case{CovarianceType::spherical, 7, 3},
                      Case{CovarianceType::diag, 1, 1}, Case{CovarianceType::diag, 16, 33},
                      Case{CovarianceType::full, 1, 1}, Case{CovarianceType::full, 5, 4},
                      Case{CovarianceType::full, 8, 24}, Case{CovarianceType::tied, 1, 2},
                      Case{CovarianceType::tied, 12, 17}),
    [](const auto& info) {
      return to_string(info.param.type) + "_k" + std::to_string(info.param.k) + "_d" +
             std::to_string(info.param.d);
    });

TEST_F(ModelIoTest, TruncationAtEveryOffsetIsAnError) {
  const Model m = make_model(CovarianceType::full, 3, 4, 1);
  const auto bytes = serialize_model(m);
  ASSERT_GT(bytes.size(), 800u);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    SCOPED_TRACE("truncated to " + std::to_string(n) + " bytes");
    EXPECT_THROW(deserialize_model(bytes.data(), n), Error);
  }
  // Through files too (a sample of offsets), with the path in the message.
  for (std::size_t n = 0; n < bytes.size(); n += 37) {
    SCOPED_TRACE("file truncated to " + std::to_string(n) + " bytes");
    put_bytes(path("t.fgmm"), bytes.data(), n);
    expect_error([&] { load_model(path("t.fgmm")); }, {path("t.fgmm")});
  }
  // Specific messages at the interesting cuts.
  expect_error([&] { deserialize_model(bytes.data(), 5); }, {"not a flashgmm model file"});
  expect_error([&] { deserialize_model(bytes.data(), 30); }, {"truncated"});
  expect_error([&] { deserialize_model(bytes.data(), bytes.size() - 8); }, {"truncated or corrupted"});
  expect_error([&] { deserialize_model(bytes.data(), bytes.size() - 1); }, {"truncated or corrupted"});
  // And extra bytes after the checksum.
  auto longer = bytes;
  longer.resize(bytes.size() + 8, 0);
  expect_error([&] { deserialize_model(longer.data(), longer.size()); }, {"truncated or corrupted"});
}

TEST_F(ModelIoTest, EverySingleBitFlipIsAnError) {
  for (const auto type : {CovarianceType::diag, CovarianceType::full}) {
    const Model m = make_model(type, 3, 4, 2);
    const auto bytes = serialize_model(m);
    int checksum_errors = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        auto b = bytes;
        b[i] ^= static_cast<std::uint8_t>(1u << bit);
        try {
          deserialize_model(b.data(), b.size());
          ADD_FAILURE() << "flip of bit " << bit << " of byte " << i << " was not detected";
        } catch (const Error& e) {
          if (std::string(e.what()).find("checksum mismatch: file is corrupted") != std::string::npos)
            ++checksum_errors;
        }
      }
    }
    // Every flip in the payload and the checksum itself is caught by the checksum.
    EXPECT_EQ(checksum_errors, static_cast<int>((bytes.size() - 40) * 8));
  }
}

TEST_F(ModelIoTest, CraftedHeadersAreRejectedBeforeAllocating) {
  const std::uint32_t full = static_cast<std::uint32_t>(CovarianceType::full);
  const std::uint32_t diag = static_cast<std::uint32_t>(CovarianceType::diag);
  const std::uint32_t spherical = static_cast<std::uint32_t>(CovarianceType::spherical);
  // K beyond int.
  auto a = crafted(1, full, std::uint64_t{1} << 40, 4, 0, 4);
  expect_error([&] { deserialize_model(a.data(), a.size()); }, {"n_components 1099511627776 out of range"});
  auto z = crafted(1, full, 0, 4, 0, 0);
  expect_error([&] { deserialize_model(z.data(), z.size()); }, {"n_components 0 out of range"});
  auto dz = crafted(1, diag, 3, 0, 3, 3);
  expect_error([&] { deserialize_model(dz.data(), dz.size()); }, {"dim 0 out of range"});
  // K·D·D overflows 64 bits.
  auto o = crafted(1, full, INT_MAX, INT_MAX, 12345, 4);
  expect_error([&] { deserialize_model(o.data(), o.size()); }, {"does not match", "K=2147483647"});
  // Consistent header for ~5e15 doubles (a 40 PB allocation if trusted), tiny file: must be an
  // Error (allocating first would throw std::bad_alloc instead, failing expect_error).
  const std::uint64_t k = INT_MAX, d = 1u << 20;
  const std::uint64_t count = k + k * d + 2 * k * d;
  auto h = crafted(1, diag, k, d, count, 4);
  expect_error([&] { deserialize_model(h.data(), h.size()); }, {"truncated or corrupted", "K=2147483647"});
  // Same for a spherical model of a billion components: 32 GB if trusted.
  auto s = crafted(1, spherical, 1000000000, 1, 4000000000ull, 0);
  expect_error([&] { deserialize_model(s.data(), s.size()); }, {"truncated or corrupted"});
  // Payload count that disagrees with K and D.
  auto c = crafted(1, spherical, 2, 2, 9, 9);
  expect_error([&] { deserialize_model(c.data(), c.size()); }, {"payload of 9 doubles does not match", "spherical"});
  // Unknown covariance type code, future version.
  auto t = crafted(1, 7, 2, 2, 10, 10);
  expect_error([&] { deserialize_model(t.data(), t.size()); }, {"unknown covariance type code 7"});
  auto v = crafted(2, spherical, 2, 2, 8, 8);
  expect_error([&] { deserialize_model(v.data(), v.size()); },
               {"unsupported model file version 2 (this build reads 1)"});
  put_bytes(path("v2.fgmm"), v.data(), v.size());
  expect_error([&] { load_model(path("v2.fgmm")); }, {path("v2.fgmm"), "version 2"});
}

TEST_F(ModelIoTest, WellFormedFileWithAnInvalidModelIsRejected) {
  const Model m = make_model(CovarianceType::full, 2, 3, 3);
  auto bytes = serialize_model(m);
  auto nan_weight = bytes;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::memcpy(nan_weight.data() + 40, &nan, 8);
  reseal(nan_weight);
  expect_error([&] { deserialize_model(nan_weight.data(), nan_weight.size()); }, {"weight 0"});
  // A covariance block that is not positive definite: negate the first diagonal entry.
  auto bad_cov = bytes;
  const std::size_t cov0 = 40 + 8 * (2 + 2 * 3);
  double c;
  std::memcpy(&c, bad_cov.data() + cov0, 8);
  c = -c;
  std::memcpy(bad_cov.data() + cov0, &c, 8);
  reseal(bad_cov);
  put_bytes(path("bad.fgmm"), bad_cov.data(), bad_cov.size());
  expect_error([&] { load_model(path("bad.fgmm")); }, {path("bad.fgmm"), "not positive definite"});
}

TEST_F(ModelIoTest, ForeignMissingAndEmptyFiles) {
  const float x[6] = {1, 2, 3, 4, 5, 6};
  write_npy(path("data.npy"), x, 2, 3);
  expect_error([&] { load_model(path("data.npy")); }, {"not a flashgmm model file", path("data.npy")});
  put_bytes(path("empty.fgmm"), nullptr, 0);
  expect_error([&] { load_model(path("empty.fgmm")); }, {"not a flashgmm model file", "0 bytes"});
  expect_error([&] { load_model(path("missing.fgmm")); }, {"cannot open", path("missing.fgmm")});
  expect_error([&] { deserialize_model(nullptr, 10); }, {"null data"});
}

TEST_F(ModelIoTest, SavingAnInvalidModelFailsAndWritesNothing) {
  expect_error([&] { save_model(Model{}, path("e.fgmm")); }, {"empty", path("e.fgmm")});
  Model m = make_model(CovarianceType::diag, 3, 2, 4);
  m.weights[0] += 1.0;
  expect_error([&] { save_model(m, path("w.fgmm")); }, {"sum to", path("w.fgmm")});
  Model short_means = make_model(CovarianceType::tied, 3, 2, 5);
  short_means.means.pop_back();
  expect_error([&] { serialize_model(short_means); }, {"means have 5 values, expected 6"});
  EXPECT_TRUE(files_in_dir().empty());
  const Model ok = make_model(CovarianceType::spherical, 2, 2, 6);
  expect_error([&] { save_model(ok, path("no/such/dir/m.fgmm")); }, {"cannot create", "no/such/dir/m.fgmm"});
}

TEST_F(ModelIoTest, SaveReplacesAnExistingFile) {
  const Model a = make_model(CovarianceType::full, 4, 3, 7);
  const Model b = make_model(CovarianceType::diag, 2, 5, 8);
  save_model(a, path("m.fgmm"));
  save_model(b, path("m.fgmm"));
  expect_same(load_model(path("m.fgmm")), b);
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"m.fgmm"});
}

}  // namespace
}  // namespace flashgmm
