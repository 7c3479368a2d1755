// Data sources: in-memory matrices, .npy / .fvecs / .bvecs files (round trips, conversions, every
// malformed case, a file shrinking under an open source), .ivecs, and the writers.
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "flashgmm/data_source.hpp"
#include "flashgmm/error.hpp"
#include "src/npy_format.hpp"

namespace flashgmm {
namespace {

// Runs `f`, which must throw flashgmm::Error whose message contains every one of `parts`.
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

std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 10.f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<std::uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void put_bytes(const std::string& path, const void* data, std::size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  ASSERT_TRUE(out.good()) << path;
}

void put_bytes(const std::string& path, const std::vector<std::uint8_t>& b) {
  put_bytes(path, b.data(), b.size());
}

// An .npy file with the given format version, header dictionary text and raw data, laid out
// by hand (so malformed headers can be written). `pad_to` aligns the data offset.
std::vector<std::uint8_t> npy_bytes(int major, const std::string& dict, const void* data,
                                    std::size_t data_bytes, std::size_t pad_to = 64) {
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = 8 + len_bytes;
  std::string header = dict;
  std::size_t total = prefix + header.size() + 1;
  if (pad_to > 1) total = (total + pad_to - 1) / pad_to * pad_to;
  header.append(total - prefix - header.size() - 1, ' ');
  header.push_back('\n');
  std::vector<std::uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  for (std::size_t i = 0; i < len_bytes; ++i) b.push_back(static_cast<std::uint8_t>(header.size() >> (8 * i)));
  b.insert(b.end(), header.begin(), header.end());
  const auto* d = static_cast<const std::uint8_t*>(data);
  b.insert(b.end(), d, d + data_bytes);
  return b;
}

std::string dict_for(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

// A .fvecs/.bvecs/.ivecs file laid out by hand: each row a 4-byte header then its values.
template <typename T>
std::vector<std::uint8_t> vecs_bytes(const std::vector<T>& x, std::int64_t n, int d) {
  std::vector<std::uint8_t> b;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t h = d;
    const auto* hp = reinterpret_cast<const std::uint8_t*>(&h);
    b.insert(b.end(), hp, hp + 4);
    const auto* rp = reinterpret_cast<const std::uint8_t*>(x.data() + i * d);
    b.insert(b.end(), rp, rp + d * sizeof(T));
  }
  return b;
}

class DataSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "flashgmm_ds_XXXXXX";
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
    return out;
  }
  std::vector<float> read_all(const DataSource& s) const {
    std::vector<float> out(static_cast<std::size_t>(s.rows()) * s.dim());
    s.read(0, s.rows(), out.data());
    return out;
  }

  std::string dir_;
};

// ---- MatrixSource ----

TEST_F(DataSourceTest, MatrixSourceReadsRowRangesAndIsContiguous) {
  const auto x = random_floats(7 * 3, 1);
  MatrixSource s(x.data(), 7, 3);
  EXPECT_EQ(s.rows(), 7);
  EXPECT_EQ(s.dim(), 3);
  EXPECT_EQ(s.contiguous(), x.data());
  std::vector<float> out(2 * 3, -1.f);
  s.read(4, 2, out.data());
  EXPECT_EQ(out, std::vector<float>(x.begin() + 12, x.begin() + 18));
  s.read(7, 0, nullptr);  // an empty range at the end is fine
}

TEST_F(DataSourceTest, MatrixSourceValidatesItsArguments) {
  const float v[3] = {1, 2, 3};
  expect_error([&] { MatrixSource(nullptr, 5, 3); }, {"null data"});
  expect_error([&] { MatrixSource(v, -1, 3); }, {"negative row count"});
  expect_error([&] { MatrixSource(v, 1, 0); }, {"dimension must be >= 1"});
  MatrixSource empty(nullptr, 0, 4);
  EXPECT_EQ(empty.rows(), 0);
}

TEST_F(DataSourceTest, ReadOutOfRangeThrowsForEverySourceKind) {
  const auto x = random_floats(10 * 4, 2);
  write_npy(path("a.npy"), x.data(), 10, 4);
  write_fvecs(path("a.fvecs"), x.data(), 10, 4);
  MatrixSource mem(x.data(), 10, 4);
  auto npy = open_data(path("a.npy"));
  auto fv = open_data(path("a.fvecs"));
  std::vector<float> out(11 * 4);
  const std::vector<const DataSource*> sources = {&mem, npy.get(), fv.get()};
  for (const DataSource* s : sources) {
    SCOPED_TRACE(s->describe());
    expect_error([&] { s->read(5, 6, out.data()); }, {"out of range", "10 rows"});
    expect_error([&] { s->read(-1, 2, out.data()); }, {"out of range"});
    expect_error([&] { s->read(0, -1, out.data()); }, {"out of range"});
    expect_error([&] { s->read(11, 0, out.data()); }, {"out of range"});
    expect_error([&] { s->read(std::numeric_limits<std::int64_t>::max(), 1, out.data()); },
                 {"out of range"});
    expect_error([&] { s->read(1, std::numeric_limits<std::int64_t>::max(), out.data()); },
                 {"out of range"});
    expect_error([&] { s->read(0, 1, nullptr); }, {"null output buffer"});
  }
}

// ---- round trips, swept over shapes ----

struct Shape {
  std::int64_t n;
  int d;
};

class DataSourceRoundTrip : public DataSourceTest, public ::testing::WithParamInterface<Shape> {};

TEST_P(DataSourceRoundTrip, NpyFloat32) {
  const auto [n, d] = GetParam();
  const auto x = random_floats(n * d, 3);
  write_npy(path("x.npy"), x.data(), n, d);
  auto s = open_data(path("x.npy"));
  ASSERT_EQ(s->rows(), n);
  ASSERT_EQ(s->dim(), d);
  EXPECT_EQ(read_all(*s), x);
  ASSERT_NE(s->contiguous(), nullptr);
  EXPECT_EQ(std::memcmp(s->contiguous(), x.data(), x.size() * sizeof(float)), 0);
  EXPECT_NE(s->describe().find("float32"), std::string::npos);
  // A range from the middle.
  if (n >= 3) {
    std::vector<float> mid(static_cast<std::size_t>(n - 2) * d);
    s->read(1, n - 2, mid.data());
    EXPECT_EQ(mid, std::vector<float>(x.begin() + d, x.end() - d));
  }
}

TEST_P(DataSourceRoundTrip, NpyFloat64IsConvertedAndNotContiguous) {
  const auto [n, d] = GetParam();
  std::vector<double> x(static_cast<std::size_t>(n) * d);
  std::mt19937 rng(4);
  std::normal_distribution<double> dist(0, 100);
  for (auto& v : x) v = dist(rng);
  write_npy(path("x.npy"), x.data(), n, d);
  auto s = open_data(path("x.npy"));
  ASSERT_EQ(s->rows(), n);
  ASSERT_EQ(s->dim(), d);
  EXPECT_EQ(s->contiguous(), nullptr);
  EXPECT_NE(s->describe().find("float64"), std::string::npos);
  const auto got = read_all(*s);
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(got[i], static_cast<float>(x[i])) << i;
}

TEST_P(DataSourceRoundTrip, FvecsStripsRowHeaders) {
  const auto [n, d] = GetParam();
  const auto x = random_floats(n * d, 5);
  write_fvecs(path("x.fvecs"), x.data(), n, d);
  EXPECT_EQ(file_bytes(path("x.fvecs")), vecs_bytes(x, n, d));  // the TEXMEX layout exactly
  auto s = open_data(path("x.fvecs"));
  ASSERT_EQ(s->rows(), n);
  ASSERT_EQ(s->dim(), d);
  EXPECT_EQ(s->contiguous(), nullptr);
  EXPECT_EQ(read_all(*s), x);
  // Row by row too (each read starts at a different record).
  std::vector<float> row(d);
  for (std::int64_t i = 0; i < n; i += std::max<std::int64_t>(1, n / 7)) {
    s->read(i, 1, row.data());
    EXPECT_EQ(row, std::vector<float>(x.begin() + i * d, x.begin() + (i + 1) * d)) << i;
  }
}

TEST_P(DataSourceRoundTrip, BvecsConvertsUint8ToFloat) {
  const auto [n, d] = GetParam();
  std::vector<std::uint8_t> x(static_cast<std::size_t>(n) * d);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
  put_bytes(path("x.bvecs"), vecs_bytes(x, n, d));
  auto s = open_data(path("x.bvecs"));
  ASSERT_EQ(s->rows(), n);
  ASSERT_EQ(s->dim(), d);
  EXPECT_NE(s->describe().find("uint8"), std::string::npos);
  const auto got = read_all(*s);
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(got[i], static_cast<float>(x[i])) << i;
}

TEST_P(DataSourceRoundTrip, IvecsRoundTrip) {
  const auto [n, d] = GetParam();
  std::vector<std::int32_t> x(static_cast<std::size_t>(n) * d);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::int32_t>(i * 2654435761u);
  write_ivecs(path("x.ivecs"), x.data(), n, d);
  EXPECT_EQ(file_bytes(path("x.ivecs")), vecs_bytes(x, n, d));
  const IntMatrix m = read_ivecs(path("x.ivecs"));
  EXPECT_EQ(m.rows, n);
  EXPECT_EQ(m.cols, d);
  EXPECT_EQ(m.data, x);
}

INSTANTIATE_TEST_SUITE_P(Shapes, DataSourceRoundTrip,
                         ::testing::Values(Shape{1, 1}, Shape{2, 3}, Shape{7, 5}, Shape{100, 17},
                                           Shape{33, 128}, Shape{3000, 96}, Shape{5, 1000}),
                         [](const auto& info) {
                           return "n" + std::to_string(info.param.n) + "_d" +
                                  std::to_string(info.param.d);
                         });

// ---- .npy details ----

TEST_F(DataSourceTest, NpyIntegerWritersProduceValidHeadersAndData) {
  const std::int64_t n = 5;
  const int d = 3;
  std::vector<std::int32_t> a(n * d);
  std::vector<std::int64_t> b(n * d);
  for (int i = 0; i < n * d; ++i) {
    a[i] = -i * 1000;
    b[i] = static_cast<std::int64_t>(i) << 40;
  }
  write_npy(path("a.npy"), a.data(), n, d);
  write_npy(path("b.npy"), b.data(), n, d);
  for (const auto& [file, descr, bytes, size] :
       {std::tuple{path("a.npy"), "<i4", static_cast<const void*>(a.data()), a.size() * 4},
        std::tuple{path("b.npy"), "<i8", static_cast<const void*>(b.data()), b.size() * 8}}) {
    const auto raw = file_bytes(file);
    const auto h = detail::parse_npy_header(raw.data(), raw.size(), file);
    EXPECT_EQ(h.descr, descr);
    EXPECT_FALSE(h.fortran_order);
    EXPECT_EQ(h.shape, (std::vector<std::int64_t>{n, d}));
    EXPECT_EQ(h.data_offset % 64, 0u);  // numpy's alignment
    EXPECT_EQ(raw[h.data_offset - 1], '\n');
    EXPECT_EQ(raw[6], 1);  // version 1.0
    EXPECT_EQ(raw[7], 0);
    ASSERT_EQ(raw.size(), h.data_offset + size);
    EXPECT_EQ(std::memcmp(raw.data() + h.data_offset, bytes, size), 0);
    // open_data reads floats only and says which dtype it got.
    expect_error([&] { open_data(file); }, {std::string("dtype '") + descr + "'", "float32"});
  }
}

TEST_F(DataSourceTest, NpyZeroRowsIsAnEmptySource) {
  write_npy(path("e.npy"), static_cast<const float*>(nullptr), 0, 8);
  auto s = open_data(path("e.npy"));
  EXPECT_EQ(s->rows(), 0);
  EXPECT_EQ(s->dim(), 8);
  s->read(0, 0, nullptr);
}

TEST_F(DataSourceTest, NpyVersions2And3AndOddHeaderPaddingAreRead) {
  const auto x = random_floats(4 * 3, 6);
  std::vector<double> xd(x.begin(), x.end());
  for (int major : {1, 2, 3}) {
    for (std::size_t pad : {std::size_t{1}, std::size_t{16}, std::size_t{64}}) {
      SCOPED_TRACE("version " + std::to_string(major) + " pad " + std::to_string(pad));
      put_bytes(path("f.npy"), npy_bytes(major, dict_for("<f4", "(4, 3)"), x.data(), x.size() * 4, pad));
      auto s = open_data(path("f.npy"));
      EXPECT_EQ(read_all(*s), x);
      const auto raw = file_bytes(path("f.npy"));
      const auto offset = raw.size() - x.size() * 4;
      // contiguous() only when the data is float-aligned in the mapping.
      EXPECT_EQ(s->contiguous() != nullptr, offset % 4 == 0);
      put_bytes(path("d.npy"), npy_bytes(major, dict_for("<f8", "(4,3)"), xd.data(), xd.size() * 8, pad));
      EXPECT_EQ(read_all(*open_data(path("d.npy"))), x);  // also with unaligned doubles
    }
  }
  // Python 2 style longs and double-quoted keys, as other writers produce.
  put_bytes(path("q.npy"),
            npy_bytes(1, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (4L, 3L)}",
                      x.data(), x.size() * 4));
  EXPECT_EQ(read_all(*open_data(path("q.npy"))), x);
}

TEST_F(DataSourceTest, NpyMalformedFilesNameTheProblem) {
  const auto x = random_floats(6, 7);
  struct Case {
    std::string name;
    std::vector<std::uint8_t> bytes;
    std::vector<std::string> expect;
  };
  auto good = npy_bytes(1, dict_for("<f4", "(2, 3)"), x.data(), 24);
  auto bad_magic = good;
  bad_magic[1] = 'X';
  auto v4 = good;
  v4[6] = 4;
  auto minor = good;
  minor[7] = 1;
  auto long_header = good;  // header length larger than the file
  long_header[8] = 0xff;
  long_header[9] = 0xff;
  std::vector<Case> cases = {
      {"bad magic", bad_magic, {"bad magic", "bad_magic.npy"}},
      {"not npy at all", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'}, {"bad magic"}},
      {"version 4", v4, {"unsupported .npy format version 4.0"}},
      {"version 1.1", minor, {"unsupported .npy format version 1.1"}},
      {"header too long", long_header, {"truncated inside its header"}},
      {"header cut", std::vector<std::uint8_t>(good.begin(), good.begin() + 9), {"truncated inside its header"}},
      {"int32", npy_bytes(1, dict_for("<i4", "(2, 3)"), x.data(), 24), {"dtype '<i4' not supported"}},
      {"big endian", npy_bytes(1, dict_for(">f4", "(2, 3)"), x.data(), 24), {"dtype '>f4' not supported"}},
      {"uint8", npy_bytes(1, dict_for("|u1", "(2, 3)"), x.data(), 6), {"dtype '|u1' not supported"}},
      {"float16", npy_bytes(1, dict_for("<f2", "(2, 3)"), x.data(), 12), {"dtype '<f2'"}},
      {"structured", npy_bytes(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", x.data(), 8),
       {"cannot parse 'descr'"}},
      {"fortran", npy_bytes(1, dict_for("<f4", "(2, 3)", true), x.data(), 24),
       {"Fortran-order .npy not supported; save with np.ascontiguousarray"}},
      {"1-D", npy_bytes(1, dict_for("<f4", "(6,)"), x.data(), 24), {"shape (6,)", "1-D", "expected a 2-D"}},
      {"0-D", npy_bytes(1, dict_for("<f4", "()"), x.data(), 4), {"0-D", "expected a 2-D"}},
      {"3-D", npy_bytes(1, dict_for("<f4", "(1, 2, 3)"), x.data(), 24), {"shape (1, 2, 3)", "3-D"}},
      {"zero dim", npy_bytes(1, dict_for("<f4", "(2, 0)"), x.data(), 0), {"zero dimension"}},
      {"huge dim", npy_bytes(1, dict_for("<f4", "(1, 4294967296)"), x.data(), 0), {"dimension 4294967296 too large"}},
      {"overflowing shape", npy_bytes(1, dict_for("<f4", "(99999999999999999999, 3)"), x.data(), 0), {"too large"}},
      {"truncated data", npy_bytes(1, dict_for("<f4", "(2, 3)"), x.data(), 20), {"truncated", "needs 2 rows of 12 bytes"}},
      {"huge rows", npy_bytes(1, dict_for("<f8", "(9223372036854775807, 3)"), x.data(), 24), {"truncated"}},
      {"no shape", npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, }", x.data(), 24), {"no 'shape' entry"}},
      {"bad bool", npy_bytes(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }", x.data(), 24),
       {"cannot parse 'fortran_order'"}},
      {"bad shape", npy_bytes(1, dict_for("<f4", "(2, x)"), x.data(), 24), {"cannot parse 'shape'"}},
      {"empty file", {}, {"empty (0 bytes)"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string name = c.name;
    for (auto& ch : name)
      if (ch == ' ') ch = '_';
    const std::string p = path(name + ".npy");
    put_bytes(p, c.bytes);
    auto parts = c.expect;
    parts.push_back(p);  // every message names the file
    expect_error([&] { open_data(p); }, parts);
  }
}

// ---- .fvecs / .bvecs details ----

TEST_F(DataSourceTest, VecsInconsistentRowHeaderIsFoundOnReadAndNamesTheRow) {
  const int n = 6, d = 4;
  const auto x = random_floats(n * d, 8);
  auto b = vecs_bytes(x, n, d);
  const std::int32_t wrong = 5;
  std::memcpy(b.data() + 3 * (4 + 4 * d), &wrong, 4);  // row 3's header; size unchanged
  put_bytes(path("bad.fvecs"), b);
  auto s = open_data(path("bad.fvecs"));  // the size check at open cannot see it
  std::vector<float> out(n * d);
  s->read(0, 3, out.data());  // rows before it are fine
  s->read(4, 2, out.data());  // and after it
  expect_error([&] { s->read(0, n, out.data()); },
               {"row 3 has dimension header 5, expected 4", path("bad.fvecs")});
  expect_error([&] { s->read(3, 1, out.data()); }, {"row 3"});

  std::vector<std::uint8_t> u(n * d, 7);
  auto bb = vecs_bytes(u, n, d);
  std::memcpy(bb.data() + 5 * (4 + d), &wrong, 4);
  put_bytes(path("bad.bvecs"), bb);
  auto sb = open_data(path("bad.bvecs"));
  expect_error([&] { sb->read(2, 4, out.data()); }, {"row 5 has dimension header 5"});

  std::vector<std::int32_t> iv(n * d, 1);
  auto ib = vecs_bytes(iv, n, d);
  std::memcpy(ib.data() + 2 * (4 + 4 * d), &wrong, 4);
  put_bytes(path("bad.ivecs"), ib);
  expect_error([&] { read_ivecs(path("bad.ivecs")); }, {"row 2 has dimension header 5"});
}

TEST_F(DataSourceTest, VecsMalformedFilesNameTheProblem) {
  const auto x = random_floats(3 * 4, 9);
  auto good = vecs_bytes(x, 3, 4);
  auto cut = std::vector<std::uint8_t>(good.begin(), good.end() - 3);
  auto longer_rows = vecs_bytes(random_floats(2 * 5, 1), 2, 5);  // row 2 has 5 values, not 4
  auto mixed = vecs_bytes(x, 1, 4);
  mixed.insert(mixed.end(), longer_rows.begin(), longer_rows.end());
  auto zero = good;
  std::memset(zero.data(), 0, 4);
  auto negative = good;
  const std::int32_t minus = -3;
  std::memcpy(negative.data(), &minus, 4);
  auto huge = good;
  const std::int32_t big = 1 << 30;
  std::memcpy(huge.data(), &big, 4);
  struct Case {
    std::string file;
    std::vector<std::uint8_t> bytes;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {"empty.fvecs", {}, {"empty (0 bytes)", ".fvecs"}},
      {"empty.bvecs", {}, {"empty (0 bytes)", ".bvecs"}},
      {"tiny.fvecs", {4, 0}, {"truncated", "shorter than one row"}},
      {"cut.fvecs", cut, {"not a multiple of the 20-byte row", "truncated"}},
      {"mixed.fvecs", mixed, {"not a multiple", "different dimensions"}},
      {"zero.fvecs", zero, {"dimension header is 0", "zero dimension"}},
      {"zero.bvecs", zero, {"dimension header is 0", "zero dimension"}},
      {"negative.fvecs", negative, {"dimension header is -3"}},
      {"huge.fvecs", huge, {"not a multiple"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    put_bytes(path(c.file), c.bytes);
    auto parts = c.expect;
    parts.push_back(path(c.file));
    expect_error([&] { open_data(path(c.file)); }, parts);
  }
  put_bytes(path("empty.ivecs"), nullptr, 0);
  expect_error([&] { read_ivecs(path("empty.ivecs")); }, {"empty (0 bytes)", ".ivecs"});
}

// ---- open_data dispatch and file-level errors ----

TEST_F(DataSourceTest, UnknownExtensionIsRejectedListingSupportedOnes) {
  const auto x = random_floats(4, 10);
  write_fvecs(path("x.fvecs"), x.data(), 1, 4);
  std::rename(path("x.fvecs").c_str(), path("x.txt").c_str());
  expect_error([&] { open_data(path("x.txt")); },
               {"unsupported data file extension '.txt'", ".npy", ".fvecs", ".bvecs"});
  expect_error([&] { open_data(path("noext")); }, {"extension (none)"});
  expect_error([&] { open_data(path("dir.d/file")); }, {"extension (none)"});
  expect_error([&] { open_data(path("x.ivecs")); }, {"'.ivecs'"});
  // The extension is matched case-insensitively.
  std::rename(path("x.txt").c_str(), path("X.FVECS").c_str());
  EXPECT_EQ(open_data(path("X.FVECS"))->dim(), 4);
}

TEST_F(DataSourceTest, MissingFileAndDirectoryAreErrors) {
  expect_error([&] { open_data(path("missing.npy")); }, {"cannot open", "missing.npy", "No such file"});
  expect_error([&] { read_ivecs(path("missing.ivecs")); }, {"cannot open", "missing.ivecs"});
  ASSERT_EQ(::mkdir(path("d.fvecs").c_str(), 0700), 0);
  expect_error([&] { open_data(path("d.fvecs")); }, {"not a regular file"});
  ::rmdir(path("d.fvecs").c_str());
}

// ---- a file that shrinks after it was opened: an Error, never SIGBUS ----

TEST_F(DataSourceTest, FileTruncatedAfterOpenThrowsInsteadOfCrashing) {
  const std::int64_t n = 4096;  // several pages, so the lost rows are on unmapped-backing pages
  const int d = 16;
  const auto x = random_floats(n * d, 11);
  std::vector<double> xd(x.begin(), x.end());
  std::vector<std::uint8_t> u(n * d, 3);
  write_npy(path("f.npy"), x.data(), n, d);
  write_npy(path("d.npy"), xd.data(), n, d);
  write_fvecs(path("f.fvecs"), x.data(), n, d);
  put_bytes(path("b.bvecs"), vecs_bytes(u, n, d));
  for (const std::string name : {"f.npy", "d.npy", "f.fvecs", "b.bvecs"}) {
    SCOPED_TRACE(name);
    auto s = open_data(path(name));
    struct stat st {};
    ASSERT_EQ(::stat(path(name).c_str(), &st), 0);
    ASSERT_EQ(::truncate(path(name).c_str(), st.st_size / 2), 0);
    std::vector<float> out(static_cast<std::size_t>(n) * d);
    s->read(0, 10, out.data());  // rows still in the file read fine
    expect_error([&] { s->read(n - 10, 10, out.data()); }, {"shrank since it was opened", path(name)});
    expect_error([&] { s->read(0, n, out.data()); }, {"shrank"});
    ASSERT_EQ(::truncate(path(name).c_str(), 0), 0);
    expect_error([&] { s->read(0, 1, out.data()); }, {"shrank", "now 0 bytes"});
  }
}

// ---- concurrency: read() is const and stateless ----

TEST_F(DataSourceTest, ConcurrentReadsAgree) {
  const std::int64_t n = 2000;
  const int d = 24;
  const auto x = random_floats(n * d, 12);
  std::vector<double> xd(x.begin(), x.end());
  write_npy(path("d.npy"), xd.data(), n, d);
  write_fvecs(path("f.fvecs"), x.data(), n, d);
  for (const std::string name : {"d.npy", "f.fvecs"}) {
    auto s = open_data(path(name));
    std::vector<std::vector<float>> outs(4, std::vector<float>(n * d));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (std::int64_t b = t * 7 % 100; b < n; b += 100)  // interleaved, overlapping chunks
          s->read(b, std::min<std::int64_t>(100, n - b), outs[t].data() + b * d);
        if (t * 7 % 100) s->read(0, t * 7 % 100, outs[t].data());
      });
    for (auto& th : threads) th.join();
    for (const auto& o : outs) EXPECT_EQ(o, x) << name;
  }
}

// ---- writers ----

TEST_F(DataSourceTest, WritersLeaveNoTemporaryFilesAndReplaceExistingOnes) {
  const auto x = random_floats(10 * 2, 13);
  write_npy(path("a.npy"), x.data(), 10, 2);
  write_npy(path("a.npy"), x.data(), 5, 2);  // overwrite with fewer rows
  write_fvecs(path("a.fvecs"), x.data(), 10, 2);
  std::vector<std::int32_t> iv(6, 4);
  write_ivecs(path("a.ivecs"), iv.data(), 3, 2);
  auto files = files_in_dir();
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"a.fvecs", "a.ivecs", "a.npy"}));
  EXPECT_EQ(open_data(path("a.npy"))->rows(), 5);
}

TEST_F(DataSourceTest, WritersValidateArgumentsAndReportUnwritablePaths) {
  const float f[4] = {1, 2, 3, 4};
  const std::int32_t i32[4] = {1, 2, 3, 4};
  expect_error([&] { write_npy(path("a.npy"), f, 2, 0); }, {"dimension must be >= 1"});
  expect_error([&] { write_npy(path("a.npy"), f, -2, 2); }, {"negative row count"});
  expect_error([&] { write_npy(path("a.npy"), static_cast<const float*>(nullptr), 2, 2); }, {"null data"});
  expect_error([&] { write_fvecs(path("a.fvecs"), f, 2, 0); }, {"write_fvecs", "dimension must be >= 1"});
  expect_error([&] { write_ivecs(path("a.ivecs"), i32, -1, 2); }, {"write_ivecs", "negative row count"});
  expect_error([&] { write_fvecs(path("no/such/dir/a.fvecs"), f, 2, 2); },
               {"cannot create", "no/such/dir/a.fvecs"});
  expect_error([&] { write_npy(path("no/such/dir/a.npy"), f, 2, 2); }, {"cannot create"});
  EXPECT_TRUE(files_in_dir().empty());
}

TEST_F(DataSourceTest, FailedWriteIsReportedAndKeepsTheOldFile) {
  // A file-size limit makes writes fail with EFBIG (SIGXFSZ ignored), like a full disk.
  const auto x = random_floats(64 * 1024, 14);
  write_npy(path("keep.npy"), x.data(), 4, 2);
  const auto before = file_bytes(path("keep.npy"));
  rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto prev_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit lim = old;
  lim.rlim_cur = 64 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  expect_error([&] { write_npy(path("keep.npy"), x.data(), 1024, 64); }, {"cannot write", "keep.npy"});
  expect_error([&] { write_fvecs(path("new.fvecs"), x.data(), 1024, 64); }, {"cannot write"});
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, prev_handler);
  EXPECT_EQ(file_bytes(path("keep.npy")), before);  // the old file is untouched
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"keep.npy"});  // no temp file left
}

}  // namespace
}  // namespace flashgmm
