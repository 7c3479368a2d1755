// NumPy arrays as flashgmm data sources: strided float32/float64 rows read as float32 rows.
#include "array_source.hpp"

#include <cstring>
#include <sstream>

#include "flashgmm/error.hpp"

namespace flashgmm_py {

ArraySource::ArraySource(const void* data, std::int64_t rows, int dim, std::int64_t row_stride,
                         std::int64_t col_stride, Type type, bool aligned, std::string description)
    : data_(static_cast<const char*>(data)), rows_(rows), dim_(dim), row_stride_(row_stride),
      col_stride_(col_stride), type_(type), aligned_(aligned), description_(std::move(description)) {}

const float* ArraySource::contiguous() const {
  const bool rows_packed = rows_ <= 1 || row_stride_ == static_cast<std::int64_t>(sizeof(float)) * dim_;
  const bool cols_packed = dim_ == 1 || col_stride_ == static_cast<std::int64_t>(sizeof(float));
  if (type_ == Type::f32 && aligned_ && rows_packed && cols_packed)
    return reinterpret_cast<const float*>(data_);
  return nullptr;
}

template <class T>
void ArraySource::read_as(std::int64_t begin, std::int64_t count, float* out) const {
  const std::int64_t item = static_cast<std::int64_t>(sizeof(T));
  const char* base = data_ + begin * row_stride_;
  if (aligned_ && col_stride_ == item) {
    // Rows are contiguous: convert row by row.
    for (std::int64_t r = 0; r < count; ++r) {
      const T* src = reinterpret_cast<const T*>(base + r * row_stride_);
      float* dst = out + r * dim_;
      for (int c = 0; c < dim_; ++c) dst[c] = static_cast<float>(src[c]);
    }
    return;
  }
  if (aligned_ && row_stride_ == item) {
    // Columns are contiguous (Fortran order): transpose blocks of rows that stay in cache,
    // reading each column's run of rows sequentially.
    constexpr std::int64_t kBlock = 256;
    for (std::int64_t r0 = 0; r0 < count; r0 += kBlock) {
      const std::int64_t nb = std::min(kBlock, count - r0);
      for (int c = 0; c < dim_; ++c) {
        const T* col = reinterpret_cast<const T*>(base + c * col_stride_ + r0 * row_stride_);
        float* dst = out + r0 * dim_ + c;
        for (std::int64_t r = 0; r < nb; ++r) dst[r * dim_] = static_cast<float>(col[r]);
      }
    }
    return;
  }
  // Any other layout (or unaligned data): element by element, through memcpy.
  for (std::int64_t r = 0; r < count; ++r) {
    const char* row = base + r * row_stride_;
    for (int c = 0; c < dim_; ++c) {
      T v;
      std::memcpy(&v, row + c * col_stride_, sizeof(T));
      out[r * dim_ + c] = static_cast<float>(v);
    }
  }
}

void ArraySource::read(std::int64_t begin, std::int64_t count, float* out) const {
  FLASHGMM_CHECK(begin >= 0 && count >= 0 && begin <= rows_ && count <= rows_ - begin,
                 describe() << ": row range [" << begin << ", " << begin + count
                            << ") out of bounds for " << rows_ << " rows");
  if (count == 0) return;
  if (const float* p = contiguous()) {
    std::memcpy(out, p + begin * dim_, static_cast<std::size_t>(count) * dim_ * sizeof(float));
    return;
  }
  if (type_ == Type::f32)
    read_as<float>(begin, count, out);
  else
    read_as<double>(begin, count, out);
}

namespace {

std::string shape_string(const py::array& a) {
  std::ostringstream os;
  os << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) os << (i ? ", " : "") << a.shape(i);
  os << (a.ndim() == 1 ? ",)" : ")");
  return os.str();
}

// Non-finite float32 values have all exponent bits set; an integer test vectorises.
bool row_finite(const float* x, int d) {
  std::uint32_t bad = 0;
  for (int c = 0; c < d; ++c) {
    std::uint32_t bits;
    std::memcpy(&bits, x + c, sizeof(bits));
    bad |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

}  // namespace

ArrayInput as_input(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + " must be a NumPy array, got " +
                         std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (a.ndim() != 2)
    throw py::value_error(std::string(name) + " must be a 2-D array (n_samples, n_features), got shape " +
                          shape_string(a));
  ArraySource::Type type;
  if (py::isinstance<py::array_t<float>>(a))
    type = ArraySource::Type::f32;
  else if (py::isinstance<py::array_t<double>>(a))
    type = ArraySource::Type::f64;
  else
    throw py::type_error(std::string(name) + " must have dtype float32 or float64 (native byte order), got " +
                         std::string(py::str(a.dtype())));
  if (a.shape(0) < 1 || a.shape(1) < 1)
    throw py::value_error(std::string(name) + " must have at least one sample and one feature, got shape " +
                          shape_string(a));
  if (a.shape(1) > (1 << 20))
    throw py::value_error(std::string(name) + " has " + std::to_string(a.shape(1)) +
                          " features; at most 1048576 are supported");
  const bool aligned = (a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_) != 0;
  std::ostringstream desc;
  desc << name << " (" << (type == ArraySource::Type::f32 ? "float32" : "float64") << ", shape "
       << shape_string(a) << ")";
  ArrayInput in;
  in.source = std::make_unique<ArraySource>(a.data(), a.shape(0), static_cast<int>(a.shape(1)), a.strides(0),
                                            a.strides(1), type, aligned, desc.str());
  in.array = std::move(a);
  return in;
}

std::int64_t first_nonfinite_row(const float* x, std::int64_t n, int d) {
  for (std::int64_t r = 0; r < n; ++r)
    if (!row_finite(x + r * d, d)) return r;
  return -1;
}

}  // namespace flashgmm_py
