// flashgmm: .fvecs / .bvecs sources, .ivecs reader, .fvecs / .ivecs writers.
#include "vecs_format.hpp"

#include <cstdint>
#include <cstring>
#include <algorithm>
#include <type_traits>
#include <vector>

#include "atomic_file_writer.hpp"
#include "flashgmm/error.hpp"
#include "mapped_file.hpp"
#include "row_range.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "flashgmm's file formats are little-endian and are read by memcpy");

namespace flashgmm::detail {
namespace {

constexpr std::uint64_t kHeaderBytes = sizeof(std::int32_t);

// Rows and dimension of a vecs file, from its first header and its size. Every other row's header
// is checked when the row is read (checking them all here would touch every page of the file).
struct VecsLayout {
  std::int64_t rows = 0;
  int dim = 0;
  std::uint64_t record = 0;  ///< bytes per row including the header
};

VecsLayout read_layout(const MappedFile& f, std::uint64_t elem, const char* ext) {
  const std::string& path = f.path();
  FLASHGMM_CHECK(f.size() > 0, "'" << path << "' is empty (0 bytes); not a " << ext << " file");
  FLASHGMM_CHECK(f.size() >= kHeaderBytes,
                 "'" << path << "': " << ext << " file truncated (" << f.size()
                     << " bytes, shorter than one row's 4-byte dimension header)");
  std::int32_t d;
  std::memcpy(&d, f.data(), sizeof d);
  FLASHGMM_CHECK(d >= 1, "'" << path << "': first row's dimension header is " << d
                             << (d == 0 ? " (zero dimension)" : " (negative)")
                             << "; not a valid " << ext << " file");
  VecsLayout l;
  l.dim = d;
  l.record = kHeaderBytes + static_cast<std::uint64_t>(d) * elem;
  FLASHGMM_CHECK(f.size() % l.record == 0,
                 "'" << path << "': size " << f.size() << " bytes is not a multiple of the "
                     << l.record << "-byte row (4-byte header + " << d << " values of " << elem
                     << " bytes): the file is truncated or its rows have different dimensions");
  l.rows = static_cast<std::int64_t>(f.size() / l.record);
  return l;
}

std::int32_t row_header(const std::uint8_t* rec) {
  std::int32_t h;
  std::memcpy(&h, rec, sizeof h);
  return h;
}

[[noreturn]] void bad_row_header(const std::string& path, std::int64_t row, std::int32_t h, int d) {
  FLASHGMM_THROW("'" << path << "': row " << row << " has dimension header " << h
                     << ", expected " << d << " (the first row's); the file is corrupted");
}

template <typename Elem>
class VecsSource final : public DataSource {
 public:
  VecsSource(const std::string& path, const char* ext, const char* kind)
      : file_(path), kind_(kind) {
    layout_ = read_layout(file_, sizeof(Elem), ext);
    file_.advise_sequential();
  }

  std::int64_t rows() const override { return layout_.rows; }
  int dim() const override { return layout_.dim; }

  void read(std::int64_t begin, std::int64_t count, float* out) const override {
    check_row_range(begin, count, layout_.rows, out, describe());
    if (count == 0) return;
    file_.check_still_covers(static_cast<std::uint64_t>(begin + count) * layout_.record);
    const int d = layout_.dim;
    // Records come in by pread, about 1 MiB at a time (never through the mapping: a file cut
    // meanwhile is an Error, not SIGBUS), then lose their headers.
    const std::int64_t per = std::max<std::int64_t>(1, (1 << 20) / static_cast<std::int64_t>(layout_.record));
    std::vector<std::uint8_t> buf(static_cast<std::size_t>(std::min(per, count) * layout_.record));
    for (std::int64_t r0 = 0; r0 < count; r0 += per) {
      const std::int64_t m = std::min(per, count - r0);
      file_.read_at(static_cast<std::uint64_t>(begin + r0) * layout_.record,
                    static_cast<std::size_t>(m * layout_.record), buf.data());
      for (std::int64_t r = 0; r < m; ++r) {
        const std::uint8_t* rec = buf.data() + static_cast<std::size_t>(r * layout_.record);
        const std::int32_t h = row_header(rec);
        if (h != d) bad_row_header(file_.path(), begin + r0 + r, h, d);
        float* dst = out + (r0 + r) * d;
        if constexpr (std::is_same_v<Elem, float>) {
          std::memcpy(dst, rec + kHeaderBytes, static_cast<std::size_t>(d) * sizeof(float));
        } else {
          const std::uint8_t* src = rec + kHeaderBytes;
          for (int j = 0; j < d; ++j) dst[j] = static_cast<float>(src[j]);
        }
      }
    }
  }

  std::string describe() const override { return file_.path() + " (" + kind_ + ")"; }

 private:
  MappedFile file_;
  const char* kind_;
  VecsLayout layout_;
};

template <typename T>
void write_vecs(const std::string& path, const T* x, std::int64_t n, int d, const char* fn) {
  FLASHGMM_CHECK(n >= 0, fn << "('" << path << "'): negative row count " << n);
  FLASHGMM_CHECK(d >= 1, fn << "('" << path << "'): dimension must be >= 1, got " << d);
  FLASHGMM_CHECK(x != nullptr || n == 0, fn << "('" << path << "'): null data");
  AtomicFileWriter w(path);
  const std::int32_t header = d;
  for (std::int64_t i = 0; i < n; ++i) {
    w.write(&header, sizeof header);
    w.write(x + i * d, static_cast<std::size_t>(d) * sizeof(T));
  }
  w.commit();
}

}  // namespace

std::unique_ptr<DataSource> open_fvecs(const std::string& path) {
  return std::make_unique<VecsSource<float>>(path, ".fvecs", ".fvecs");
}

std::unique_ptr<DataSource> open_bvecs(const std::string& path) {
  return std::make_unique<VecsSource<std::uint8_t>>(path, ".bvecs", ".bvecs, uint8");
}

}  // namespace flashgmm::detail

namespace flashgmm {

IntMatrix read_ivecs(const std::string& path) {
  detail::MappedFile f(path);
  const detail::VecsLayout l = detail::read_layout(f, sizeof(std::int32_t), ".ivecs");
  IntMatrix m;
  m.rows = l.rows;
  m.cols = l.dim;
  m.data.resize(static_cast<std::size_t>(l.rows) * static_cast<std::size_t>(l.dim));
  f.check_still_covers(f.size());
  for (std::int64_t r = 0; r < l.rows; ++r) {
    const std::uint8_t* rec = f.data() + static_cast<std::uint64_t>(r) * l.record;
    const std::int32_t h = detail::row_header(rec);
    if (h != l.dim) detail::bad_row_header(path, r, h, l.dim);
    std::memcpy(m.data.data() + r * l.dim, rec + detail::kHeaderBytes,
                static_cast<std::size_t>(l.dim) * sizeof(std::int32_t));
  }
  return m;
}

void write_fvecs(const std::string& path, const float* x, std::int64_t n, int d) {
  detail::write_vecs(path, x, n, d, "write_fvecs");
}

void write_ivecs(const std::string& path, const std::int32_t* x, std::int64_t n, int d) {
  detail::write_vecs(path, x, n, d, "write_ivecs");
}

}  // namespace flashgmm
