// libFuzzer target: the FAISS plugin's GMM sidecar loader (decode_sidecar on bytes, read_sidecar
// on a file). Every input must either throw flashgmm::Error or give a sidecar that encodes back
// to the same bytes' meaning. Each input is tried as given and with its length fields and both
// checksums (the sidecar's and the embedded model's) recomputed.
#include <cstdint>
#include <cstring>
#include <vector>

#include "flashgmm/error.hpp"
#include "fuzz_support.hpp"
#include "flashgmm_faiss/sidecar.hpp"

namespace {

using flashgmm::ivf::Sidecar;

// Layout (sidecar.hpp): 24-byte header (magic, version, 0, payload bytes), the fixed fields
// ending with the model block's length, the model block, an 8-byte checksum.
constexpr std::size_t kHeader = 24;

// Bytes of the fixed fields by version (sidecar.cpp): 96 in version 1; version 2 adds the spill
// rule's 5 fields (20), version 3 the neighbors rule's 5 (20), version 4 the batch bound (8),
// version 5 the entry budget (4).
std::size_t fixed_field_bytes(std::uint32_t version) {
  return version >= 5 ? 148 : version == 4 ? 144 : version == 3 ? 136 : version == 2 ? 116 : 96;
}

void fix_sidecar(std::vector<std::uint8_t>& b) {
  using flashgmm::fuzz::put_u64;
  if (b.size() < kHeader + 8) return;
  put_u64(b.data() + 16, b.size() - kHeader - 8);
  std::uint32_t version;
  std::memcpy(&version, b.data() + 8, 4);
  const std::size_t fixed_fields = fixed_field_bytes(version);
  if (b.size() >= kHeader + fixed_fields + 8) {
    const std::size_t model_begin = kHeader + fixed_fields;
    const std::size_t model_bytes = b.size() - 8 - model_begin;
    put_u64(b.data() + model_begin - 8, model_bytes);
    if (model_bytes > 0) {
      std::vector<std::uint8_t> model(b.begin() + model_begin, b.begin() + model_begin + model_bytes);
      flashgmm::fuzz::fix_model_checksum(model);
      std::memcpy(b.data() + model_begin, model.data(), model.size());
    }
  }
  const std::size_t body = b.size() - 8;
  put_u64(b.data() + body, flashgmm::ivf::fnv1a64(b.data(), body));
}

void check_sidecar(const Sidecar& s) {
  s.model.validate();
  s.assign.validate();
  s.routing.validate();
  const std::vector<std::uint8_t> again = flashgmm::ivf::encode_sidecar(s);
  const Sidecar r = flashgmm::ivf::decode_sidecar(again.data(), again.size(), "round trip");
  FUZZ_REQUIRE(r.dim == s.dim && r.nlist == s.nlist && r.ntotal == s.ntotal &&
               r.n_vectors == s.n_vectors && r.next_id == s.next_id &&
               r.max_copies_stored == s.max_copies_stored &&
               r.centroid_fingerprint == s.centroid_fingerprint &&
               r.model.means == s.model.means && r.model.covariances == s.model.covariances);
}

void try_bytes(const std::uint8_t* data, std::size_t size) {
  try {
    check_sidecar(flashgmm::ivf::decode_sidecar(data, size, "fuzz input"));
  } catch (const flashgmm::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static flashgmm::fuzz::MemFile file;
  try_bytes(data, size);
  std::vector<std::uint8_t> fixed(data, data + size);
  fix_sidecar(fixed);
  try_bytes(fixed.data(), fixed.size());
  try {
    check_sidecar(flashgmm::ivf::read_sidecar(file.set(fixed.data(), fixed.size())));
  } catch (const flashgmm::Error&) {
  }
  return 0;
}
