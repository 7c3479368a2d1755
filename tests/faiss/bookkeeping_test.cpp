// Distinct-id bookkeeping when the lists change outside flashgmm (FAISS's own remove_ids / add on
// ivf()), and removal of every copy with a direct map.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include <faiss/clone_index.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/invlists/DirectMap.h>
#include <faiss/invlists/InvertedLists.h>

#include "faiss_test_data.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"

using namespace flashgmm::ivf;
using flashgmm_faiss_test::gaussian_blobs;
using idx_t = faiss::Index::idx_t;

namespace {

constexpr int kD = 12;
constexpr idx_t kN = 4000;

GmmIvfIndex make_index(const std::vector<float>& x) { return flashgmm_faiss_test::soar_index(kD, "IVF24,Flat", x, 9, 10); }

// Stored entries whose id is in [lo, hi).
std::int64_t entries_in(const faiss::IndexIVF& ivf, idx_t lo, idx_t hi) {
  std::int64_t n = 0;
  for (size_t l = 0; l < ivf.nlist; ++l) {
    faiss::InvertedLists::ScopedIds ids(ivf.invlists, l);
    for (size_t j = 0; j < ivf.invlists->list_size(l); ++j) n += ids[j] >= lo && ids[j] < hi;
  }
  return n;
}

std::string temp_path(const char* name) {
  return ::testing::TempDir() + "/bookkeeping_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace

TEST(Bookkeeping, HashtableDirectMapLosesNoCopy) {
  const auto x = gaussian_blobs(kN, kD, 24, 0.8f, 51);
  GmmIvfIndex index = make_index(x);
  index.ivf().set_direct_map_type(faiss::DirectMap::Hashtable);
  ASSERT_GT(entries_in(index.ivf(), 0, 200), 200);  // some of these ids are stored twice or more

  // What FAISS alone does with that map: one copy per id goes, the others stay behind.
  GmmIvfIndex plain = make_index(x);
  plain.ivf().set_direct_map_type(faiss::DirectMap::Hashtable);
  std::vector<idx_t> ids(200);
  for (idx_t i = 0; i < 200; ++i) ids[i] = i;
  plain.ivf().remove_ids(faiss::IDSelectorArray(ids.size(), ids.data()));
  ASSERT_GT(entries_in(plain.ivf(), 0, 200), 0) << "FAISS removed every copy itself: this test proves nothing";

  EXPECT_EQ(index.remove_ids(faiss::IDSelectorArray(ids.size(), ids.data())), 200u);
  EXPECT_EQ(entries_in(index.ivf(), 0, 200), 0);
  EXPECT_EQ(index.n_vectors(), kN - 200);
  EXPECT_EQ(index.ivf().direct_map.type, faiss::DirectMap::Hashtable);  // rebuilt
  std::vector<float> back(kD);
  index.ivf().reconstruct(321, back.data());
  EXPECT_EQ(0, std::memcmp(back.data(), x.data() + 321 * kD, kD * sizeof(float)));
}

TEST(Bookkeeping, ArrayDirectMapIsRefusedUntouched) {
  const auto x = gaussian_blobs(kN, kD, 24, 0.8f, 52);
  GmmIvfIndex index = make_index(x);
  index.ivf().set_direct_map_type(faiss::DirectMap::Array);
  const idx_t before = index.n_entries();
  try {
    index.remove_ids(faiss::IDSelectorRange(0, 10));
    FAIL() << "expected an error";
  } catch (const flashgmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("array direct map"), std::string::npos) << e.what();
  }
  EXPECT_EQ(index.n_entries(), before);
  EXPECT_EQ(index.n_vectors(), kN);
}

TEST(Bookkeeping, CountsFollowFaissOwnRemoveAndAdd) {
  const auto x = gaussian_blobs(kN, kD, 24, 0.8f, 53);
  GmmIvfIndex index = make_index(x);
  // Removed by FAISS directly (no map: every copy goes); flashgmm's counts recount.
  index.ivf().remove_ids(faiss::IDSelectorRange(0, 3000));
  ASSERT_LT(index.n_entries(), kN);  // fewer entries than the distinct ids flashgmm had recorded
  EXPECT_EQ(index.n_vectors(), kN - 3000);
  // The sidecar holds the recounted figures, so the pair loads again.
  const std::string path = temp_path("removed.index");
  index.save(path);
  GmmIvfIndex back = GmmIvfIndex::load(path);
  EXPECT_EQ(back.n_vectors(), kN - 3000);
  EXPECT_EQ(back.n_entries(), index.n_entries());

  // FAISS's own add numbers rows from ntotal; flashgmm's next sequential id moves past them.
  const idx_t first_faiss_id = back.ivf().ntotal;
  back.ivf().add(5, x.data());
  EXPECT_EQ(back.n_vectors(), kN - 3000 + 5);
  EXPECT_GE(back.n_added(), first_faiss_id + 5);
  back.add(5, x.data() + 5 * kD);
  EXPECT_EQ(back.n_vectors(), kN - 3000 + 10);
  std::remove(path.c_str());
  std::remove(GmmIvfIndex::sidecar_path(path).c_str());
}

TEST(Bookkeeping, AdoptedFilledIndexIsCounted) {
  const auto x = gaussian_blobs(kN, kD, 24, 0.8f, 54);
  GmmIvfIndex built = make_index(x);
  const std::string path = temp_path("adopt.index");
  built.save(path);
  GmmIvfIndex loaded = GmmIvfIndex::load(path);
  // Hand the filled IVF to a new wrapper without counts: they come from the lists.
  std::unique_ptr<faiss::IndexIVF> ivf(dynamic_cast<faiss::IndexIVF*>(faiss::clone_index(&loaded.ivf())));
  ASSERT_TRUE(ivf);
  ASSERT_GT(ivf->ntotal, kN);
  flashgmm::GaussianMixture gm(loaded.params().gmm);
  gm.set_model(loaded.mixture().model());
  GmmIvfIndex adopted(std::move(ivf), std::move(gm), loaded.params());
  EXPECT_EQ(adopted.n_vectors(), kN);
  EXPECT_EQ(adopted.n_added(), kN);
  std::remove(path.c_str());
  std::remove(GmmIvfIndex::sidecar_path(path).c_str());
}
