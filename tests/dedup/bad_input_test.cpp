// flashgmm dedup: every bad input gives flashgmm::Error with a message naming the problem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>

#include "dedup_test_data.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm_dedup/dedup.hpp"
#include "flashgmm_dedup/output.hpp"

namespace {

using namespace flashgmm;
using namespace flashgmm::dedup;

void expect_error(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message '" << e.what() << "' lacks '" << fragment << "'";
  }
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "dedup_" + std::to_string(::getpid()) + "_" + name;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

DedupParams cpu() {
  DedupParams p;
  p.backend = BackendKind::cpu;
  return p;
}

TEST(DedupBadInput, ThresholdOutOfRange) {
  for (double t : {0.0, -0.5, 1.5, std::nan(""), std::numeric_limits<double>::infinity()}) {
    DedupParams p = cpu();
    p.threshold = t;
    expect_error([&] { p.validate(); }, "cosine similarity threshold must be in (0, 1]");
  }
  for (double r : {-1.0, std::nan("")}) {
    DedupParams p = cpu();
    p.metric = Metric::l2;
    p.threshold = r;
    expect_error([&] { p.validate(); }, "L2 radius must be a finite number >= 0");
  }
}

TEST(DedupBadInput, OtherParameters) {
  auto with = [](std::function<void(DedupParams&)> set) {
    DedupParams p = cpu();
    set(p);
    return p;
  };
  expect_error([&] { with([](DedupParams& p) { p.max_assign = 0; }).validate(); }, "max_assign (m) must be >= 1");
  expect_error([&] { with([](DedupParams& p) { p.min_posterior = 0; }).validate(); }, "min_posterior (tau)");
  expect_error([&] { with([](DedupParams& p) { p.min_posterior = 1.5; }).validate(); }, "min_posterior (tau)");
  expect_error([&] { with([](DedupParams& p) { p.n_components = -1; }).validate(); }, "n_components must be >= 0");
  expect_error([&] { with([](DedupParams& p) { p.chunk_rows = 0; }).validate(); }, "chunk_rows must be >= 1");
  expect_error([&] { with([](DedupParams& p) { p.check_sample = -3; }).validate(); }, "check_sample must be >= 0");
  expect_error([&] { parse_metric("manhattan"); }, "unknown metric 'manhattan'");
  std::vector<float> x(10 * 4, 1.f);
  for (int i = 0; i < 40; ++i) x[i] = static_cast<float>(i % 7) + 1.f;
  DedupParams p = cpu();
  p.n_components = 11;
  expect_error([&] { deduplicate(MatrixSource(x.data(), 10, 4), p); }, "n_components = 11 exceeds the number of rows 10");
}

TEST(DedupBadInput, NonFiniteRowsAreNamed) {
  const auto data = dedup_test::planted(500, 5, 3, 8, 0.05f, 1);
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    for (std::int64_t row : {std::int64_t{0}, std::int64_t{123}, data.n - 1}) {
      std::vector<float> x = data.x;
      x[row * data.d + 3] = bad;
      for (Metric m : {Metric::cosine, Metric::l2}) {
        DedupParams p = cpu();
        p.metric = m;
        p.threshold = m == Metric::cosine ? 0.9 : 1.0;
        expect_error([&] { deduplicate(MatrixSource(x.data(), data.n, data.d), p); },
                     "row " + std::to_string(row) + " contains NaN or infinity");
      }
    }
  }
}

TEST(DedupBadInput, ZeroRowUnderCosine) {
  const auto data = dedup_test::planted(300, 5, 3, 8, 0.05f, 1);
  std::vector<float> x = data.x;
  std::fill(x.begin() + 42 * data.d, x.begin() + 43 * data.d, 0.f);
  expect_error([&] { deduplicate(MatrixSource(x.data(), data.n, data.d), cpu()); },
               "row 42 is all zeros; cosine similarity is undefined");
  DedupParams p = cpu();  // fine under L2
  p.metric = Metric::l2;
  p.threshold = 0.5;
  EXPECT_NO_THROW(deduplicate(MatrixSource(x.data(), data.n, data.d), p));
}

TEST(DedupBadInput, EmptyAndMalformedFiles) {
  std::vector<float> none;
  expect_error([&] { deduplicate(MatrixSource(none.data(), 0, 8), cpu()); }, "has no rows; nothing to deduplicate");
  const std::string zero_rows = temp_path("zero.npy");
  write_npy(zero_rows, none.data(), 0, 8);
  expect_error([&] { deduplicate(*open_data(zero_rows), cpu()); }, "has no rows");
  const std::string empty = temp_path("empty.npy");
  write_bytes(empty, "");
  expect_error([&] { open_data(empty); }, "is empty");
  // .fvecs rows must all have the same dimension.
  const std::string ragged = temp_path("ragged.fvecs");
  {
    std::ofstream f(ragged, std::ios::binary);
    const std::int32_t d1 = 4, d2 = 3;
    const float v[4] = {1, 2, 3, 4};
    f.write(reinterpret_cast<const char*>(&d1), 4).write(reinterpret_cast<const char*>(v), 16);
    f.write(reinterpret_cast<const char*>(&d2), 4).write(reinterpret_cast<const char*>(v), 12);
  }
  expect_error([&] { open_data(ragged); }, ragged);
  std::remove(zero_rows.c_str());
  std::remove(empty.c_str());
  std::remove(ragged.c_str());
}

TEST(DedupBadInput, IdsFiles) {
  const std::string text = temp_path("ids.txt");
  write_bytes(text, "a\nb\nc\n");
  expect_error([&] { RowIds::load(text, 4); }, "has 3 lines (ids) but the data has 4 rows");
  EXPECT_EQ(RowIds::load(text, 3).text(1), "b");
  const std::string npy = temp_path("ids.npy");
  const std::int64_t ids[6] = {10, 11, 12, 13, 14, 15};
  write_npy(npy, ids, 3, 2);
  expect_error([&] { RowIds::load(npy, 3); }, "must be a 1-D array");
  write_npy(npy, ids, 6, 1);
  expect_error([&] { RowIds::load(npy, 5); }, "has 6 ids but the data has 5 rows");
  EXPECT_EQ(RowIds::load(npy, 6).number(2), 12);
  const float f[2] = {1, 2};
  write_npy(npy, f, 2, 1);
  expect_error([&] { RowIds::load(npy, 2); }, "dtype '<f4' not supported");
  const std::string empty = temp_path("ids_empty.txt");
  write_bytes(empty, "");
  expect_error([&] { RowIds::load(empty, 2); }, "is empty");
  expect_error([&] { RowIds::load(temp_path("missing.txt"), 2); }, "cannot open ids file");
  expect_error([&] { group_format_for("groups.parquet"); }, "use a .jsonl or .csv file name");
  RowIds words = RowIds::load(text, 3);
  expect_error([&] { write_keep_list(temp_path("keep.npy"), {0, 2}, words); }, "text ids cannot be written to .npy");
  std::remove(text.c_str());
  std::remove(npy.c_str());
  std::remove(empty.c_str());
}

}  // namespace
