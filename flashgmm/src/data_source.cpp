// flashgmm: in-memory matrices and open_data()'s dispatch on the file extension.
#include "flashgmm/data_source.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "flashgmm/error.hpp"
#include "npy_format.hpp"
#include "row_range.hpp"
#include "vecs_format.hpp"

namespace flashgmm {

MatrixSource::MatrixSource(const float* data, std::int64_t rows, int dim)
    : data_(data), rows_(rows), dim_(dim) {
  FLASHGMM_CHECK(rows >= 0, "MatrixSource: negative row count " << rows);
  FLASHGMM_CHECK(dim >= 1, "MatrixSource: dimension must be >= 1, got " << dim);
  FLASHGMM_CHECK(data != nullptr || rows == 0, "MatrixSource: null data for " << rows << " rows");
}

void MatrixSource::read(std::int64_t begin, std::int64_t count, float* out) const {
  detail::check_row_range(begin, count, rows_, out, describe());
  if (count == 0) return;
  std::memcpy(out, data_ + begin * dim_,
              static_cast<std::size_t>(count) * static_cast<std::size_t>(dim_) * sizeof(float));
}

std::unique_ptr<DataSource> open_data(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  const std::size_t dot = path.find_last_of('.');
  std::string ext;
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) ext = path.substr(dot);
  std::string lower = ext;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == ".npy") return detail::open_npy(path);
  if (lower == ".fvecs") return detail::open_fvecs(path);
  if (lower == ".bvecs") return detail::open_bvecs(path);
  FLASHGMM_THROW("'" << path << "': unsupported data file extension "
                     << (ext.empty() ? std::string("(none)") : "'" + ext + "'")
                     << "; supported: .npy (float32/float64), .fvecs, .bvecs");
}

}  // namespace flashgmm
