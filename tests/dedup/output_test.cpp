// flashgmm dedup: group files (JSONL, CSV) and keep-lists, with row numbers and external ids.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "flashgmm/data_source.hpp"
#include "flashgmm_dedup/output.hpp"

namespace {

using namespace flashgmm::dedup;

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "dedup_out_" + std::to_string(::getpid()) + "_" + name;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

const std::vector<std::int64_t> kRep = {0, 1, 0, 3, 1, 5, 0};

TEST(DedupOutput, JsonlWithRowNumbers) {
  const std::string path = temp_path("g.jsonl");
  write_groups(path, list_groups(kRep), RowIds(), group_format_for(path));
  EXPECT_EQ(slurp(path),
            "{\"group\": 0, \"representative\": 0, \"size\": 3, \"members\": [0, 2, 6]}\n"
            "{\"group\": 1, \"representative\": 1, \"size\": 2, \"members\": [1, 4]}\n");
  std::remove(path.c_str());
}

TEST(DedupOutput, CsvWithTextIdsQuoted) {
  const std::string ids_path = temp_path("ids.txt");
  std::ofstream(ids_path) << "a\nb,1\nc\"q\nd\ne\nf\ng\n";
  const RowIds ids = RowIds::load(ids_path, 7);
  const std::string path = temp_path("g.csv");
  write_groups(path, list_groups(kRep), ids, group_format_for(path));
  EXPECT_EQ(slurp(path),
            "group,representative,member\n0,a,a\n0,a,\"c\"\"q\"\n0,a,g\n1,\"b,1\",\"b,1\"\n1,\"b,1\",e\n");
  const std::string json = temp_path("g.jsonl");
  write_groups(json, list_groups(kRep), ids, GroupFormat::jsonl);
  EXPECT_NE(slurp(json).find("\"members\": [\"a\", \"c\\\"q\", \"g\"]"), std::string::npos) << slurp(json);
  const std::string keep = temp_path("keep.txt");
  write_keep_list(keep, keep_list(kRep), ids);
  EXPECT_EQ(slurp(keep), "a\nb,1\nd\nf\n");
  for (const auto& p : {ids_path, path, json, keep}) std::remove(p.c_str());
}

TEST(DedupOutput, KeepListNpyWithNumericIds) {
  const std::string ids_path = temp_path("ids.npy");
  const std::int64_t raw[7] = {100, 101, 102, 103, 104, 105, 106};
  flashgmm::write_npy(ids_path, raw, 7, 1);
  const RowIds ids = RowIds::load(ids_path, 7);
  const std::string keep = temp_path("keep.npy");
  write_keep_list(keep, keep_list(kRep), ids);
  // Read back through the float reader is not possible (int64); check size and bytes instead.
  const std::string bytes = slurp(keep);
  ASSERT_GE(bytes.size(), 4 * 8u);
  std::int64_t tail[4];
  std::memcpy(tail, bytes.data() + bytes.size() - sizeof tail, sizeof tail);
  EXPECT_EQ(std::vector<std::int64_t>(tail, tail + 4), (std::vector<std::int64_t>{100, 101, 103, 105}));
  std::remove(ids_path.c_str());
  std::remove(keep.c_str());
}

}  // namespace
