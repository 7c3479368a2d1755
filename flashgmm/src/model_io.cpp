// flashgmm: the versioned, checksummed binary model file (layout in model_file_format.hpp).
#include <climits>
#include <cstring>

#include "atomic_file_writer.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm/model.hpp"
#include "mapped_file.hpp"
#include "model_file_format.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "flashgmm's file formats are little-endian and are written by memcpy");

namespace flashgmm {
namespace {

void put_u32(std::uint8_t* p, std::uint32_t v) { std::memcpy(p, &v, 4); }
void put_u64(std::uint8_t* p, std::uint64_t v) { std::memcpy(p, &v, 8); }
std::uint32_t get_u32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Payload doubles for a shape, with overflow checks: K and D come from an untrusted file and
// K·D·D can exceed 64 bits. Returns false on overflow.
bool payload_doubles(CovarianceType t, std::uint64_t k, std::uint64_t d, std::uint64_t* out) {
  std::uint64_t kd, cov, sum;
  if (__builtin_mul_overflow(k, d, &kd)) return false;
  switch (t) {
    case CovarianceType::spherical: cov = k; break;
    case CovarianceType::diag: cov = kd; break;
    case CovarianceType::full:
      if (__builtin_mul_overflow(kd, d, &cov)) return false;
      break;
    case CovarianceType::tied:
      if (__builtin_mul_overflow(d, d, &cov)) return false;
      break;
    default: return false;
  }
  if (__builtin_add_overflow(k, kd, &sum)) return false;
  if (__builtin_add_overflow(sum, cov, &sum)) return false;
  if (__builtin_add_overflow(sum, cov, &sum)) return false;
  *out = sum;
  return true;
}

void copy_doubles(std::uint8_t*& dst, const std::vector<double>& v) {
  std::memcpy(dst, v.data(), v.size() * sizeof(double));
  dst += v.size() * sizeof(double);
}

std::vector<double> take_doubles(const std::uint8_t*& src, std::size_t n) {
  std::vector<double> v(n);
  std::memcpy(v.data(), src, n * sizeof(double));
  src += n * sizeof(double);
  return v;
}

}  // namespace

std::vector<std::uint8_t> serialize_model(const Model& m) {
  FLASHGMM_CHECK(!m.empty(), "cannot serialise an empty (unfitted) model");
  m.validate();  // never write a model that could not be loaded back
  std::uint64_t count = 0;
  FLASHGMM_CHECK(payload_doubles(m.covariance_type, m.n_components, m.dim, &count),
                 "model too large to serialise");
  FLASHGMM_ASSERT(count == m.weights.size() + m.means.size() + m.covariances.size() +
                               m.precisions_cholesky.size());

  using namespace detail;
  std::vector<std::uint8_t> bytes(kModelHeaderBytes + count * sizeof(double) + kModelChecksumBytes);
  std::uint8_t* p = bytes.data();
  std::memcpy(p, kModelMagic, 8);
  put_u32(p + 8, kModelFormatVersion);
  put_u32(p + 12, static_cast<std::uint32_t>(m.covariance_type));
  put_u64(p + 16, static_cast<std::uint64_t>(m.n_components));
  put_u64(p + 24, static_cast<std::uint64_t>(m.dim));
  put_u64(p + 32, count);
  std::uint8_t* dst = p + kModelHeaderBytes;
  copy_doubles(dst, m.weights);
  copy_doubles(dst, m.means);
  copy_doubles(dst, m.covariances);
  copy_doubles(dst, m.precisions_cholesky);
  const std::size_t body = bytes.size() - kModelChecksumBytes;
  put_u64(dst, model_file_checksum(p, body));
  return bytes;
}

Model deserialize_model(const std::uint8_t* data, std::size_t size) {
  using namespace detail;
  FLASHGMM_CHECK(data != nullptr || size == 0, "deserialize_model: null data");
  FLASHGMM_CHECK(size >= sizeof kModelMagic && std::memcmp(data, kModelMagic, 8) == 0,
                 "not a flashgmm model file (no FGMMODEL magic"
                     << (size < sizeof kModelMagic ? "; only " + std::to_string(size) + " bytes"
                                                   : std::string())
                     << ")");
  const std::size_t min_size = kModelHeaderBytes + kModelChecksumBytes;
  FLASHGMM_CHECK(size >= 12, "model file truncated: " << size << " bytes, shorter than its "
                                                      << min_size << "-byte header and checksum");
  const std::uint32_t version = get_u32(data + 8);
  FLASHGMM_CHECK(version == kModelFormatVersion,
                 "unsupported model file version " << version << " (this build reads "
                                                   << kModelFormatVersion << ")");
  FLASHGMM_CHECK(size >= min_size, "model file truncated: " << size << " bytes, shorter than its "
                                                            << min_size
                                                            << "-byte header and checksum");
  const std::uint32_t type_code = get_u32(data + 12);
  FLASHGMM_CHECK(type_code <= static_cast<std::uint32_t>(CovarianceType::tied),
                 "model file is corrupted: unknown covariance type code " << type_code);
  const auto type = static_cast<CovarianceType>(type_code);
  const std::uint64_t k = get_u64(data + 16);
  const std::uint64_t d = get_u64(data + 24);
  const std::uint64_t count = get_u64(data + 32);
  FLASHGMM_CHECK(k >= 1 && k <= INT_MAX,
                 "model file is corrupted: n_components " << k << " out of range [1, " << INT_MAX
                                                          << "]");
  FLASHGMM_CHECK(d >= 1 && d <= INT_MAX,
                 "model file is corrupted: dim " << d << " out of range [1, " << INT_MAX << "]");
  std::uint64_t expected = 0;
  FLASHGMM_CHECK(payload_doubles(type, k, d, &expected) && count == expected,
                 "model file is corrupted: payload of " << count << " doubles does not match "
                     << to_string(type) << " covariances with K=" << k << ", D=" << d);
  // Every size check passes before anything is allocated: a corrupted K cannot cause a huge
  // allocation because the payload must also be present in the bytes we were given.
  const std::uint64_t have_doubles = (size - min_size) / sizeof(double);
  FLASHGMM_CHECK(count == have_doubles && (size - min_size) % sizeof(double) == 0,
                 "model file truncated or corrupted: its header says K=" << k << ", D=" << d << " ("
                     << count << " doubles after the " << kModelHeaderBytes
                     << "-byte header, then an 8-byte checksum), the file has " << size
                     << " bytes");
  const std::size_t body = size - kModelChecksumBytes;
  FLASHGMM_CHECK(get_u64(data + body) == model_file_checksum(data, body),
                 "checksum mismatch: file is corrupted");

  Model m;
  m.covariance_type = type;
  m.n_components = static_cast<int>(k);
  m.dim = static_cast<int>(d);
  const std::size_t cov = (count - k - k * d) / 2;
  const std::uint8_t* src = data + kModelHeaderBytes;
  m.weights = take_doubles(src, k);
  m.means = take_doubles(src, k * d);
  m.covariances = take_doubles(src, cov);
  m.precisions_cholesky = take_doubles(src, cov);
  m.validate();
  return m;
}

void save_model(const Model& m, const std::string& path) {
  std::vector<std::uint8_t> bytes;
  try {
    bytes = serialize_model(m);
  } catch (const Error& e) {
    FLASHGMM_THROW("cannot save model to '" << path << "': " << e.what());
  }
  detail::AtomicFileWriter w(path);
  w.write(bytes.data(), bytes.size());
  w.commit();
}

Model load_model(const std::string& path) {
  detail::MappedFile f(path);  // mapped, not read: a wrong multi-GB file fails on its magic
  try {
    f.check_still_covers(f.size());
    return deserialize_model(f.data(), f.size());
  } catch (const Error& e) {
    FLASHGMM_THROW("'" << path << "': " << e.what());
  }
}

}  // namespace flashgmm
