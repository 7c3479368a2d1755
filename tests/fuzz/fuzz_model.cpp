// libFuzzer target: the model file loader (deserialize_model on bytes, load_model on a file).
// Every input must either throw flashgmm::Error or give a valid model that survives a
// serialise → deserialise round trip unchanged. Each input is tried as given and with its
// checksum recomputed, so mutations reach the checks behind the checksum.
#include <cstdint>
#include <vector>

#include "flashgmm/error.hpp"
#include "flashgmm/model.hpp"
#include "fuzz_support.hpp"

namespace {

void check_model(const flashgmm::Model& m) {
  m.validate();  // must not throw for a model the loader accepted
  const std::vector<std::uint8_t> again = flashgmm::serialize_model(m);
  const flashgmm::Model r = flashgmm::deserialize_model(again.data(), again.size());
  FUZZ_REQUIRE(r.n_components == m.n_components && r.dim == m.dim &&
               r.covariance_type == m.covariance_type && r.weights == m.weights &&
               r.means == m.means && r.covariances == m.covariances &&
               r.precisions_cholesky == m.precisions_cholesky);
}

void try_bytes(const std::uint8_t* data, std::size_t size) {
  try {
    check_model(flashgmm::deserialize_model(data, size));
  } catch (const flashgmm::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static flashgmm::fuzz::MemFile file;
  try_bytes(data, size);
  std::vector<std::uint8_t> fixed(data, data + size);
  flashgmm::fuzz::fix_model_checksum(fixed);
  try_bytes(fixed.data(), fixed.size());
  // The file path (mmap, shrink check) on the fixed bytes.
  try {
    check_model(flashgmm::load_model(file.set(fixed.data(), fixed.size())));
  } catch (const flashgmm::Error&) {
  }
  return 0;
}
