// Multi-assignment: exactly the expected copies, each encoded against its own list (Flat, PQ, SQ),
// and removal of every copy.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include <faiss/impl/IDSelector.h>
#include <faiss/invlists/InvertedLists.h>

#include "faiss_test_data.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"

using namespace flashgmm::ivf;
using flashgmm_faiss_test::gaussian_blobs;
using idx_t = faiss::Index::idx_t;

namespace {

constexpr int kD = 16;
constexpr int kNlist = 32;
constexpr idx_t kN = 6000;

GmmIvfParams test_params(int max_copies, float tau) {
  GmmIvfParams p;
  p.gmm.seed = 3;
  p.cp.niter = 15;
  p.assign.max_copies = max_copies;
  p.assign.min_posterior = tau;
  p.assign.chunk_rows = 1000;  // several chunks
  return p;
}

// (list, id) → stored code, for every entry of the index.
std::map<std::pair<idx_t, idx_t>, std::vector<uint8_t>> entries(const faiss::IndexIVF& ivf) {
  std::map<std::pair<idx_t, idx_t>, std::vector<uint8_t>> out;
  for (size_t l = 0; l < ivf.nlist; ++l) {
    const size_t sz = ivf.invlists->list_size(l);
    faiss::InvertedLists::ScopedIds ids(ivf.invlists, l);
    faiss::InvertedLists::ScopedCodes codes(ivf.invlists, l);
    for (size_t j = 0; j < sz; ++j) {
      auto key = std::make_pair(static_cast<idx_t>(l), ids[j]);
      EXPECT_EQ(out.count(key), 0u) << "id " << ids[j] << " stored twice in list " << l;
      out[key].assign(codes.get() + j * ivf.code_size, codes.get() + (j + 1) * ivf.code_size);
    }
  }
  return out;
}

class MultiAssignCodes : public testing::TestWithParam<const char*> {};

}  // namespace

TEST_P(MultiAssignCodes, StoresExpectedCopiesWithCorrectCodes) {
  const auto x = gaussian_blobs(kN, kD, kNlist, 0.6f, 11);
  GmmIvfIndex index(kD, std::string("IVF32,") + GetParam(), test_params(3, 0.05f));
  index.train(kN, x.data());
  index.add(kN, x.data());

  // The expected lists, from the same rule applied independently.
  std::vector<idx_t> lists(static_cast<size_t>(kN) * 3);
  MultiAssignParams ap = index.params().assign;
  ap.chunk_rows = 777;
  assign_lists(index.mixture(), *index.ivf().quantizer, x.data(), kN, ap, lists.data());
  size_t expected_entries = 0, multi = 0;
  for (idx_t i = 0; i < kN; ++i) {
    int c = 0;
    for (int j = 0; j < 3; ++j) c += lists[i * 3 + j] >= 0;
    expected_entries += c;
    multi += c > 1;
    EXPECT_GE(lists[i * 3], 0);
  }
  ASSERT_GT(multi, static_cast<size_t>(kN / 20)) << "test data too separated to exercise multi-assignment";
  ASSERT_LT(multi, static_cast<size_t>(kN));
  EXPECT_EQ(index.n_entries(), static_cast<idx_t>(expected_entries));
  EXPECT_EQ(index.ivf().ntotal, static_cast<idx_t>(expected_entries));
  EXPECT_EQ(index.n_vectors(), kN);

  const auto stored = entries(index.ivf());
  ASSERT_EQ(stored.size(), expected_entries);
  std::vector<uint8_t> code(index.ivf().code_size);
  for (idx_t i = 0; i < kN; ++i) {
    for (int j = 0; j < 3; ++j) {
      const idx_t l = lists[i * 3 + j];
      if (l < 0) continue;
      auto it = stored.find({l, i});
      ASSERT_NE(it, stored.end()) << "vector " << i << " missing from list " << l;
      // The code a plain IVF would store for this vector in list l (residual to centroid l).
      index.ivf().encode_vectors(1, x.data() + i * kD, &l, code.data());
      ASSERT_EQ(0, std::memcmp(code.data(), it->second.data(), code.size())) << "vector " << i << " list " << l;
    }
  }
}

TEST_P(MultiAssignCodes, RemoveIdsRemovesEveryCopy) {
  const auto x = gaussian_blobs(kN, kD, kNlist, 0.6f, 12);
  GmmIvfIndex index(kD, std::string("IVF32,") + GetParam(), test_params(3, 0.05f));
  index.train(kN, x.data());
  index.add(kN, x.data());
  const idx_t before = index.n_entries();
  std::map<idx_t, int> copies;
  for (const auto& e : entries(index.ivf())) copies[e.first.second]++;
  faiss::IDSelectorRange sel(1000, 2000);
  size_t copies_in_range = 0;
  for (idx_t i = 1000; i < 2000; ++i) copies_in_range += copies[i];
  ASSERT_GT(copies_in_range, 1000u);
  EXPECT_EQ(index.remove_ids(sel), 1000u);
  EXPECT_EQ(index.n_vectors(), kN - 1000);
  EXPECT_EQ(index.n_entries(), before - static_cast<idx_t>(copies_in_range));
  for (const auto& e : entries(index.ivf())) {
    EXPECT_FALSE(e.first.second >= 1000 && e.first.second < 2000) << "id " << e.first.second << " survived";
  }
  // Adding again continues the id sequence.
  EXPECT_EQ(index.n_added(), kN);
  index.add(10, x.data());
  EXPECT_EQ(index.n_added(), kN + 10);
}

INSTANTIATE_TEST_SUITE_P(Codecs, MultiAssignCodes, testing::Values("Flat", "PQ4x4", "SQ8"));

TEST(MultiAssign, MaxCopiesOneIsPlainIvf) {
  const auto x = gaussian_blobs(3000, kD, kNlist, 0.6f, 13);
  GmmIvfIndex index(kD, "IVF32,Flat", test_params(1, 0.05f));
  index.train(3000, x.data());
  index.add(3000, x.data());
  EXPECT_EQ(index.n_entries(), 3000);
}

TEST(MultiAssign, ThresholdBoundsCopies) {
  const auto x = gaussian_blobs(3000, kD, kNlist, 0.6f, 14);
  GmmIvfIndex index(kD, "IVF32,Flat", test_params(2, 0.45f));
  index.train(3000, x.data());
  std::vector<idx_t> lists(3000 * 2);
  assign_lists(index.mixture(), *index.ivf().quantizer, x.data(), 3000, index.params().assign, lists.data());
  // Posteriors of the further lists, checked against the mixture directly.
  std::vector<float> proba(3000 * kNlist);
  index.mixture().predict_proba(x.data(), 3000, proba.data());
  for (idx_t i = 0; i < 3000; ++i) {
    const idx_t extra = lists[i * 2 + 1];
    if (extra >= 0) {
      EXPECT_GE(proba[i * kNlist + extra], 0.45f - 1e-4f);
      EXPECT_NE(extra, lists[i * 2]);
    }
  }
}

TEST(MultiAssign, RejectsBadParameters) {
  GmmIvfParams p;
  p.assign.max_copies = 0;
  EXPECT_THROW(GmmIvfIndex(kD, "IVF32,Flat", p), flashgmm::Error);
  p.assign.max_copies = 2;
  p.assign.min_posterior = 0.0f;
  EXPECT_THROW(GmmIvfIndex(kD, "IVF32,Flat", p), flashgmm::Error);
  EXPECT_THROW(GmmIvfIndex(kD, "Flat", GmmIvfParams()), flashgmm::Error);
  EXPECT_THROW(GmmIvfIndex(kD, "IVF32,Nonsense", GmmIvfParams()), flashgmm::Error);
  GmmIvfIndex untrained(kD, "IVF32,Flat");
  std::vector<float> v(kD, 0.0f);
  EXPECT_THROW(untrained.add(1, v.data()), flashgmm::Error);
}
