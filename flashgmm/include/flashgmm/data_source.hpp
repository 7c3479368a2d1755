// flashgmm: row-major float32 data, in memory or streamed from files (.npy, .fvecs, .bvecs).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace flashgmm {

/// A matrix of N rows × D float32 columns that can be read in row ranges. Implementations are
/// stateless after construction, so read() may be called from several threads at once.
class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual std::int64_t rows() const = 0;
  virtual int dim() const = 0;
  /// Copies rows [begin, begin + count) as float32, row-major, into out (count·dim floats).
  /// Throws Error when the range is out of bounds or the underlying file cannot be read
  /// (e.g. it shrank since it was opened).
  virtual void read(std::int64_t begin, std::int64_t count, float* out) const = 0;
  /// The whole matrix as contiguous float32 when it is laid out that way (in-memory matrices,
  /// float32 .npy mapped into memory); nullptr otherwise. Lets backends skip the copy.
  virtual const float* contiguous() const { return nullptr; }
  /// A short description for messages ("file.npy (float64)", "in-memory matrix").
  virtual std::string describe() const = 0;
};

/// Wraps caller-owned memory (no copy; the caller keeps it alive).
class MatrixSource final : public DataSource {
 public:
  MatrixSource(const float* data, std::int64_t rows, int dim);
  std::int64_t rows() const override { return rows_; }
  int dim() const override { return dim_; }
  void read(std::int64_t begin, std::int64_t count, float* out) const override;
  const float* contiguous() const override { return data_; }
  std::string describe() const override { return "in-memory matrix"; }

 private:
  const float* data_;
  std::int64_t rows_;
  int dim_;
};

/// Opens a data file by extension: .npy (float32 or float64, C order, 2-D), .fvecs, .bvecs
/// (uint8 converted to float on read). Memory-mapped: N may exceed RAM. Malformed files throw
/// Error naming the file and the problem.
std::unique_ptr<DataSource> open_data(const std::string& path);

/// Integer vectors (.ivecs, e.g. ground-truth neighbour lists), read whole.
struct IntMatrix {
  std::int64_t rows = 0;
  int cols = 0;
  std::vector<std::int32_t> data;
};
IntMatrix read_ivecs(const std::string& path);

/// Writers (used by the CLI, tests and benchmarks). Write to a temporary name, then rename.
void write_fvecs(const std::string& path, const float* x, std::int64_t n, int d);
void write_ivecs(const std::string& path, const std::int32_t* x, std::int64_t n, int d);
void write_npy(const std::string& path, const float* x, std::int64_t n, int d);
void write_npy(const std::string& path, const double* x, std::int64_t n, int d);
void write_npy(const std::string& path, const std::int32_t* x, std::int64_t n, int d);
void write_npy(const std::string& path, const std::int64_t* x, std::int64_t n, int d);
/// One value per row, shape (n,) — what numpy's own labels arrays look like (not (n, 1)).
void write_npy_vector(const std::string& path, const std::int32_t* x, std::int64_t n);

}  // namespace flashgmm
