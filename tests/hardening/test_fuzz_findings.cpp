// Regression tests for what the libFuzzer targets (tests/fuzz) found.
#include <gtest/gtest.h>

#ifdef FLASHGMM_HARDENING_WITH_FAISS
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "flashgmm/flashgmm.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"
#include "flashgmm_faiss/sidecar.hpp"

using namespace flashgmm;
using namespace flashgmm::ivf;

namespace {

std::vector<float> clustered(int n, int d, int k, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> x(static_cast<std::size_t>(n) * d);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = nd(rng) + 6.0f * static_cast<float>((i / d) % k);
  return x;
}

}  // namespace

// fuzz_ivf_load: the sidecar loader accepted any multi-assignment max_copies ≥ 1, and add() sizes
// its list buffer rows·max_copies: a crafted sidecar (checksum recomputed) made add() of 3 rows
// call malloc(14,956,591,992). max_copies_stored does the same to search() (k·max_copies_stored
// entries per query).
// An id is stored in at most nlist lists, so the loader clamps both to nlist, which changes no
// result; a negative next_id is rejected.
TEST(FuzzFindings, SidecarCopyCountsAreBoundedByNlist) {
  const int d = 4, nlist = 4;
  const std::string dir = ::testing::TempDir() + "/flashgmm_fuzz_findings_" + std::to_string(::getpid());
  ASSERT_EQ(::system(("mkdir -p '" + dir + "'").c_str()), 0);
  const std::string path = dir + "/index.faiss";
  const auto x = clustered(400, d, nlist, 3);
  GmmIvfParams p;
  p.gmm.seed = 1;
  GmmIvfIndex index(d, "IVF4,Flat", p);
  index.train(400, x.data());
  index.add(100, x.data());
  index.save(path);
  const int k = 5;
  std::vector<float> d0(3 * k), d1(3 * k);
  std::vector<faiss::Index::idx_t> l0(3 * k), l1(3 * k);
  index.search(3, x.data(), k, d0.data(), l0.data(), nlist);

  Sidecar s = read_sidecar(GmmIvfIndex::sidecar_path(path));
  s.assign.max_copies = nlist + 3;  // more copies than lists (other multi-assignment checks may bound it)
  s.max_copies_stored = INT_MAX;
  const std::vector<std::uint8_t> bytes = encode_sidecar(s);
  const Sidecar back = decode_sidecar(bytes.data(), bytes.size(), "crafted");
  ASSERT_EQ(back.assign.max_copies, nlist);  // ASSERT: without the clamp the load below allocates GBs
  ASSERT_EQ(back.max_copies_stored, nlist);
  write_sidecar(GmmIvfIndex::sidecar_path(path), s);

  GmmIvfIndex loaded = GmmIvfIndex::load(path);  // before the fix: add/search tried to allocate GBs
  loaded.search(3, x.data(), k, d1.data(), l1.data(), nlist);
  EXPECT_EQ(l0, l1);  // same results: the over-fetch of nlist copies per id is exact
  EXPECT_EQ(d0, d1);
  loaded.add(3, x.data());
  EXPECT_EQ(loaded.n_vectors(), 103);

  s.next_id = -5;
  const std::vector<std::uint8_t> neg = encode_sidecar(s);
  try {
    decode_sidecar(neg.data(), neg.size(), "crafted");
    ADD_FAILURE() << "a negative next_id was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("inconsistent counts"), std::string::npos) << e.what();
  }
  std::remove(GmmIvfIndex::sidecar_path(path).c_str());
  std::remove(path.c_str());
  ::rmdir(dir.c_str());
}
#endif  // FLASHGMM_HARDENING_WITH_FAISS
