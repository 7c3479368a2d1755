// flashgmm-ivf: data loading, result writing, progress output and small helpers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flashgmm_ivf_tool {

struct Matrix {
  std::int64_t rows = 0;
  int dim = 0;
  std::vector<float> data;
};

/// Reads a whole .npy / .fvecs / .bvecs file (Error naming the file when malformed).
Matrix load_matrix(const std::string& path, const char* what);

/// Ground-truth neighbour ids (.ivecs), rows × cols.
struct IdMatrix {
  std::int64_t rows = 0;
  int cols = 0;
  std::vector<std::int64_t> data;
};
IdMatrix load_ids(const std::string& path);

/// Writes ids by extension: .ivecs (int32) or .npy (int64).
void write_ids(const std::string& path, const std::vector<std::int64_t>& ids, std::int64_t rows, int cols);

/// "1,2,4" → {1, 2, 4}; Error naming the option on bad input.
std::vector<int> parse_int_list(const std::string& s, const char* option);
std::vector<double> parse_double_list(const std::string& s, const char* option);

/// Replaces "{nlist}" in a FAISS factory key.
std::string expand_key(std::string key, int nlist);

/// A one-line progress bar on stderr ("\r"-updated on a terminal, a few lines otherwise).
class Progress {
 public:
  Progress(std::string label, std::int64_t total);
  void update(std::int64_t done);
  void finish();

 private:
  std::string label_;
  std::int64_t total_;
  int last_pct_ = -1;
  bool tty_;
};

}  // namespace flashgmm_ivf_tool
