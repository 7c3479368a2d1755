// flashgmm: .npy reading (memory-mapped, 2-D float32/float64, C order) and writing (version 1.0).
// Format reference: numpy/lib/format.py — magic "\x93NUMPY", major, minor, a little-endian header
// length (u16 for 1.0, u32 for 2.0/3.0), then a Python dict literal padded with spaces to an
// alignment boundary and ending in '\n', then the raw array.
#include "npy_format.hpp"

#include <cctype>
#include <climits>
#include <cstring>
#include <algorithm>
#include <vector>
#include <limits>
#include <sstream>

#include "atomic_file_writer.hpp"
#include "flashgmm/error.hpp"
#include "mapped_file.hpp"
#include "row_range.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "flashgmm's file formats are little-endian and are read by memcpy");

namespace flashgmm::detail {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLen = 6;

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::ostringstream os;
  os << '(';
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) os << ',';
  os << ')';
  return os.str();
}

// A tiny reader for the one dict literal numpy writes: {'descr': ..., 'fortran_order': ...,
// 'shape': (...), }. Enough to read every file numpy (and other writers that copy it) produce.
class HeaderDict {
 public:
  HeaderDict(std::string text, const std::string& path) : text_(std::move(text)), path_(path) {
    // Drop the padding so messages quoting the header stay on one line.
    while (!text_.empty() && std::isspace(static_cast<unsigned char>(text_.back()))) text_.pop_back();
  }

  std::string string_value(const char* key) const {
    std::size_t p = value_pos(key);
    FLASHGMM_CHECK(p < text_.size() && (text_[p] == '\'' || text_[p] == '"'),
                   bad(key) << " (structured or non-string dtypes are not supported)");
    const char quote = text_[p];
    const std::size_t end = text_.find(quote, p + 1);
    FLASHGMM_CHECK(end != std::string::npos, bad(key));
    return text_.substr(p + 1, end - p - 1);
  }

  bool bool_value(const char* key) const {
    std::size_t p = value_pos(key);
    if (text_.compare(p, 4, "True") == 0) return true;
    if (text_.compare(p, 5, "False") == 0) return false;
    FLASHGMM_THROW(bad(key));
  }

  std::vector<std::int64_t> tuple_value(const char* key) const {
    std::size_t p = value_pos(key);
    FLASHGMM_CHECK(p < text_.size() && text_[p] == '(', bad(key));
    ++p;
    std::vector<std::int64_t> out;
    for (;;) {
      p = skip_spaces(p);
      FLASHGMM_CHECK(p < text_.size(), bad(key));
      if (text_[p] == ')') break;
      FLASHGMM_CHECK(std::isdigit(static_cast<unsigned char>(text_[p])), bad(key));
      std::int64_t v = 0;
      while (p < text_.size() && std::isdigit(static_cast<unsigned char>(text_[p]))) {
        const int digit = text_[p] - '0';
        FLASHGMM_CHECK(v <= (std::numeric_limits<std::int64_t>::max() - digit) / 10,
                       bad(key) << " (dimension too large)");
        v = v * 10 + digit;
        ++p;
      }
      if (p < text_.size() && text_[p] == 'L') ++p;  // Python 2 longs
      out.push_back(v);
      p = skip_spaces(p);
      FLASHGMM_CHECK(p < text_.size() && (text_[p] == ',' || text_[p] == ')'), bad(key));
      if (text_[p] == ',') ++p;
    }
    return out;
  }

 private:
  std::size_t skip_spaces(std::size_t p) const {
    while (p < text_.size() && std::isspace(static_cast<unsigned char>(text_[p]))) ++p;
    return p;
  }

  // Position of the value after "'key':" (either quote style).
  std::size_t value_pos(const char* key) const {
    for (const char quote : {'\'', '"'}) {
      const std::string quoted = std::string(1, quote) + key + quote;
      std::size_t p = text_.find(quoted);
      if (p == std::string::npos) continue;
      p = skip_spaces(p + quoted.size());
      FLASHGMM_CHECK(p < text_.size() && text_[p] == ':', bad(key));
      return skip_spaces(p + 1);
    }
    FLASHGMM_THROW("'" << path_ << "': .npy header has no '" << key << "' entry");
  }

  std::string bad(const char* key) const {
    return "'" + path_ + "': cannot parse '" + key + "' in .npy header " + text_;
  }

  std::string text_;
  const std::string& path_;
};

class NpySource final : public DataSource {
 public:
  explicit NpySource(const std::string& path) : file_(path) {
    FLASHGMM_CHECK(file_.size() > 0, "'" << path << "' is empty (0 bytes); not a .npy file");
    const NpyHeader h = parse_npy_header(file_.data(), file_.size(), path);
    if (h.descr == "<f4") {
      item_ = 4;
    } else if (h.descr == "<f8") {
      item_ = 8;
    } else {
      FLASHGMM_THROW("'" << path << "': .npy dtype '" << h.descr
                         << "' not supported; expected float32 ('<f4') or float64 ('<f8')");
    }
    FLASHGMM_CHECK(!h.fortran_order,
                   "'" << path << "': Fortran-order .npy not supported; save with "
                       << "np.ascontiguousarray");
    FLASHGMM_CHECK(h.shape.size() == 2,
                   "'" << path << "': .npy array has shape " << shape_string(h.shape) << " ("
                       << h.shape.size() << "-D); expected a 2-D (rows, dim) array");
    rows_ = h.shape[0];
    FLASHGMM_CHECK(h.shape[1] >= 1, "'" << path << "': .npy array has shape "
                                        << shape_string(h.shape) << ": zero dimension");
    FLASHGMM_CHECK(h.shape[1] <= INT_MAX, "'" << path << "': dimension " << h.shape[1]
                                              << " too large (at most " << INT_MAX << ")");
    dim_ = static_cast<int>(h.shape[1]);
    offset_ = h.data_offset;
    const std::uint64_t row_bytes = static_cast<std::uint64_t>(dim_) * item_;
    const std::uint64_t have = file_.size() - offset_;
    FLASHGMM_CHECK(static_cast<std::uint64_t>(rows_) <= have / row_bytes,
                   "'" << path << "': .npy file truncated: shape " << shape_string(h.shape)
                       << " of " << (item_ == 4 ? "float32" : "float64") << " needs "
                       << rows_ << " rows of " << row_bytes << " bytes, the file has " << have
                       << " bytes after its header");
    file_.advise_sequential();
  }

  std::int64_t rows() const override { return rows_; }
  int dim() const override { return dim_; }

  void read(std::int64_t begin, std::int64_t count, float* out) const override {
    check_row_range(begin, count, rows_, out, describe());
    if (count == 0) return;
    const std::uint64_t row_bytes = static_cast<std::uint64_t>(dim_) * item_;
    file_.check_still_covers(offset_ + static_cast<std::uint64_t>(begin + count) * row_bytes);
    const std::uint64_t first = offset_ + static_cast<std::uint64_t>(begin) * row_bytes;
    const std::size_t n = static_cast<std::size_t>(count) * static_cast<std::size_t>(dim_);
    if (item_ == 4) {
      file_.read_at(first, n * sizeof(float), out);
      return;
    }
    // float64: read 1 MiB pieces, convert each.
    std::vector<double> piece(std::min<std::size_t>(n, (1u << 20) / sizeof(double)));
    for (std::size_t i0 = 0; i0 < n; i0 += piece.size()) {
      const std::size_t m = std::min(piece.size(), n - i0);
      file_.read_at(first + i0 * sizeof(double), m * sizeof(double), piece.data());
      for (std::size_t i = 0; i < m; ++i) out[i0 + i] = static_cast<float>(piece[i]);
    }
  }

  const float* contiguous() const override {
    // mmap returns page-aligned memory, so only the header length decides float alignment.
    if (item_ != 4 || offset_ % alignof(float) != 0) return nullptr;
    // Callers read the mapping directly (every pass of a fit asks again): check, as read() does,
    // that the file still has every row, so a file cut since it was opened is an Error, not SIGBUS.
    file_.check_still_covers(offset_ + static_cast<std::uint64_t>(rows_) * dim_ * item_);
    return reinterpret_cast<const float*>(file_.data() + offset_);
  }

  std::string describe() const override {
    return file_.path() + (item_ == 4 ? " (float32 .npy)" : " (float64 .npy)");
  }

 private:
  MappedFile file_;
  std::int64_t rows_ = 0;
  int dim_ = 0;
  std::uint32_t item_ = 0;
  std::uint64_t offset_ = 0;
};

// one_d writes shape (n,) from n values (d must be 1).
template <typename T>
void write_npy_impl(const std::string& path, const T* x, std::int64_t n, int d,
                    const char* descr, bool one_d = false) {
  FLASHGMM_CHECK(n >= 0, "write_npy('" << path << "'): negative row count " << n);
  FLASHGMM_CHECK(d >= 1, "write_npy('" << path << "'): dimension must be >= 1, got " << d);
  FLASHGMM_CHECK(x != nullptr || n == 0, "write_npy('" << path << "'): null data");
  std::ostringstream dict;
  dict << "{'descr': '" << descr << "', 'fortran_order': False, 'shape': (" << n << ", ";
  if (!one_d) dict << d;
  dict << "), }";
  std::string header = dict.str();
  // numpy pads with spaces so that magic + version + length + header (+ '\n') is a multiple of
  // 64 bytes, keeping the data aligned for any dtype.
  const std::size_t prefix = kMagicLen + 2 + 2;
  const std::size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header.push_back('\n');
  FLASHGMM_ASSERT(header.size() <= 0xffff);

  std::uint8_t pre[prefix];
  std::memcpy(pre, kMagic, kMagicLen);
  pre[6] = 1;  // version 1.0
  pre[7] = 0;
  pre[8] = static_cast<std::uint8_t>(header.size() & 0xff);
  pre[9] = static_cast<std::uint8_t>(header.size() >> 8);

  AtomicFileWriter w(path);
  w.write(pre, prefix);
  w.write(header.data(), header.size());
  w.write(x, static_cast<std::size_t>(n) * static_cast<std::size_t>(d) * sizeof(T));
  w.commit();
}

}  // namespace

NpyHeader parse_npy_header(const std::uint8_t* bytes, std::uint64_t size, const std::string& path) {
  FLASHGMM_CHECK(size >= kMagicLen + 2 && std::memcmp(bytes, kMagic, kMagicLen) == 0,
                 "'" << path << "': not a .npy file (bad magic; expected \\x93NUMPY)");
  const int major = bytes[6];
  const int minor = bytes[7];
  FLASHGMM_CHECK((major == 1 || major == 2 || major == 3) && minor == 0,
                 "'" << path << "': unsupported .npy format version " << major << "." << minor
                     << " (supported: 1.0, 2.0, 3.0)");
  const std::uint64_t len_bytes = major == 1 ? 2 : 4;
  const std::uint64_t start = kMagicLen + 2 + len_bytes;
  FLASHGMM_CHECK(size >= start, "'" << path << "': .npy file truncated inside its header");
  std::uint64_t header_len = 0;
  for (std::uint64_t i = 0; i < len_bytes; ++i)
    header_len |= static_cast<std::uint64_t>(bytes[kMagicLen + 2 + i]) << (8 * i);
  FLASHGMM_CHECK(header_len <= size - start,
                 "'" << path << "': .npy file truncated inside its header (header length "
                     << header_len << ", file " << size << " bytes)");

  HeaderDict dict(std::string(reinterpret_cast<const char*>(bytes + start), header_len), path);
  NpyHeader h;
  h.descr = dict.string_value("descr");
  h.fortran_order = dict.bool_value("fortran_order");
  h.shape = dict.tuple_value("shape");
  h.data_offset = start + header_len;
  return h;
}

std::unique_ptr<DataSource> open_npy(const std::string& path) {
  return std::make_unique<NpySource>(path);
}

}  // namespace flashgmm::detail

namespace flashgmm {

void write_npy(const std::string& path, const float* x, std::int64_t n, int d) {
  detail::write_npy_impl(path, x, n, d, "<f4");
}
void write_npy(const std::string& path, const double* x, std::int64_t n, int d) {
  detail::write_npy_impl(path, x, n, d, "<f8");
}
void write_npy(const std::string& path, const std::int32_t* x, std::int64_t n, int d) {
  detail::write_npy_impl(path, x, n, d, "<i4");
}
void write_npy(const std::string& path, const std::int64_t* x, std::int64_t n, int d) {
  detail::write_npy_impl(path, x, n, d, "<i8");
}
void write_npy_vector(const std::string& path, const std::int32_t* x, std::int64_t n) {
  detail::write_npy_impl(path, x, n, 1, "<i4", /*one_d=*/true);
}

}  // namespace flashgmm
