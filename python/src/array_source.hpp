// flashgmm Python bindings: NumPy arrays as flashgmm data sources, without copying them.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "flashgmm/backend.hpp"
#include "flashgmm/data_source.hpp"
#include "flashgmm/error.hpp"

namespace flashgmm_py {

namespace py = pybind11;

/// Rows of a 2-D float32 or float64 array with any strides (C order, Fortran order, slices,
/// memory maps), read as float32 rows on demand. Holds only the pointer and the strides, so it
/// can be read with the GIL released; the caller keeps the array alive.
class ArraySource final : public flashgmm::DataSource {
 public:
  enum class Type { f32, f64 };
  ArraySource(const void* data, std::int64_t rows, int dim, std::int64_t row_stride,
              std::int64_t col_stride, Type type, bool aligned, std::string description);
  std::int64_t rows() const override { return rows_; }
  int dim() const override { return dim_; }
  void read(std::int64_t begin, std::int64_t count, float* out) const override;
  /// The data itself when it already is C-contiguous aligned float32 (no conversion needed).
  const float* contiguous() const override;
  std::string describe() const override { return description_; }

 private:
  template <class T>
  void read_as(std::int64_t begin, std::int64_t count, float* out) const;

  const char* data_;
  std::int64_t rows_;
  int dim_;
  std::int64_t row_stride_, col_stride_;  // bytes, may be negative
  Type type_;
  bool aligned_;
  std::string description_;
};

/// A validated 2-D input array: keeps a reference to it and describes its rows.
struct ArrayInput {
  py::array array;                      ///< keeps the data alive
  std::unique_ptr<ArraySource> source;  ///< reads any layout
  std::int64_t rows() const { return source->rows(); }
  int dim() const { return source->dim(); }
  /// Non-null when the rows can be handed to the C++ API in place.
  const float* contiguous() const { return source->contiguous(); }
};

/// Wraps `obj` (a NumPy array or subclass such as np.memmap) without copying. Raises TypeError
/// for a dtype other than native float32/float64, ValueError for a shape that is not 2-D with
/// at least one row and one column. `name` is used in messages ("X").
ArrayInput as_input(const py::handle& obj, const char* name);

/// Index of the first row in x (n rows of d floats) holding NaN or ±inf, or -1.
std::int64_t first_nonfinite_row(const float* x, std::int64_t n, int d);

/// Calls f(rows, begin, count) over all rows of `in`, in place when the data is contiguous
/// float32, otherwise in converted chunks of about 64 MiB (an error about non-finite input
/// then names the row of the whole array, not of the chunk). Call with the GIL released.
template <class F>
void for_each_batch(const ArrayInput& in, F&& f) {
  const std::int64_t n = in.rows();
  const int d = in.dim();
  if (const float* p = in.contiguous()) {
    f(p, std::int64_t{0}, n);
    return;
  }
  const std::int64_t chunk = flashgmm::default_chunk_rows(0, d);
  std::unique_ptr<float[]> buf(new float[static_cast<std::size_t>(std::min(chunk, n)) * d]);
  for (std::int64_t b = 0; b < n; b += chunk) {
    const std::int64_t c = std::min(chunk, n - b);
    in.source->read(b, c, buf.get());
    try {
      f(static_cast<const float*>(buf.get()), b, c);
    } catch (const flashgmm::Error&) {
      const std::int64_t r = first_nonfinite_row(buf.get(), c, d);
      if (r < 0) throw;
      throw flashgmm::Error("input contains NaN or infinity (or a float64 value too large for float32): row " +
                            std::to_string(b + r) + " is not finite");
    }
  }
}

}  // namespace flashgmm_py
