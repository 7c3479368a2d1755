// Range search over distinct ids: exact at nprobe = nlist, equal to FAISS's own range search with
// its copies folded (nearest kept) at any nprobe, for Flat, PQ and SQ codes; bad input rejected.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/impl/AuxIndexStructures.h>

#include "faiss_test_data.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"

using namespace flashgmm::ivf;
using flashgmm_faiss_test::gaussian_blobs;
using idx_t = faiss::Index::idx_t;

namespace {

constexpr int kD = 16;
constexpr int kNlist = 20;
constexpr idx_t kN = 4000;
constexpr idx_t kNq = 100;
constexpr float kRadius = 20.0f;  // a few dozen neighbours per query on these blobs (σ 1, D 16)

GmmIvfIndex make_index(const std::vector<float>& x, const std::string& key) {
  return flashgmm_faiss_test::soar_index(kD, key, x, 3, 12);
}

using Hits = std::vector<std::map<idx_t, float>>;  // per query: id → distance

Hits to_hits(const faiss::RangeSearchResult& r) {
  Hits h(r.nq);
  for (size_t i = 0; i < r.nq; ++i)
    for (size_t j = r.lims[i]; j < r.lims[i + 1]; ++j) {
      auto [it, fresh] = h[i].emplace(r.labels[j], r.distances[j]);
      if (!fresh) it->second = std::min(it->second, r.distances[j]);  // nearest copy
    }
  return h;
}

size_t raw_count(const faiss::RangeSearchResult& r) { return r.lims[r.nq]; }

// Ids with two copies at different distances in one query's results (PQ codes differ per list).
size_t copies_that_disagree(const faiss::RangeSearchResult& r) {
  size_t n = 0;
  for (size_t i = 0; i < r.nq; ++i) {
    std::map<idx_t, float> first;
    for (size_t j = r.lims[i]; j < r.lims[i + 1]; ++j) {
      auto [it, fresh] = first.emplace(r.labels[j], r.distances[j]);
      n += !fresh && it->second != r.distances[j];
    }
  }
  return n;
}

// No id twice in a query's results, which are sorted by distance, all below the radius.
void expect_distinct_sorted(const faiss::RangeSearchResult& r, float radius) {
  for (size_t i = 0; i < r.nq; ++i) {
    std::set<idx_t> seen;
    for (size_t j = r.lims[i]; j < r.lims[i + 1]; ++j) {
      EXPECT_TRUE(seen.insert(r.labels[j]).second) << "query " << i << ": id " << r.labels[j] << " twice";
      EXPECT_LT(r.distances[j], radius);
      if (j > r.lims[i]) EXPECT_LE(r.distances[j - 1], r.distances[j]);
    }
  }
}

void expect_same_hits(const Hits& got, const Hits& want, float tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size()) << "query " << i;
    for (const auto& [id, dis] : want[i]) {
      auto it = got[i].find(id);
      ASSERT_NE(it, got[i].end()) << "query " << i << ": id " << id << " missing";
      EXPECT_NEAR(it->second, dis, tol) << "query " << i << ": id " << id;
    }
  }
}

}  // namespace

TEST(DistinctRangeSearch, FullProbeEqualsBruteForce) {
  const auto x = gaussian_blobs(kN, kD, kNlist, 1.0f, 41);
  const auto q = gaussian_blobs(kNq, kD, kNlist, 1.0f, 42);
  GmmIvfIndex index = make_index(x, "IVF20,Flat");
  ASSERT_GT(index.n_entries(), kN * 12 / 10);  // copies exist, or this proves nothing

  faiss::IndexFlatL2 flat(kD);
  flat.add(kN, x.data());
  faiss::RangeSearchResult truth(kNq);
  flat.range_search(kNq, q.data(), kRadius, &truth);
  ASSERT_GT(raw_count(truth), static_cast<size_t>(kNq) * 5);

  faiss::RangeSearchResult got(kNq);
  SearchStats st;
  index.range_search(kNq, q.data(), kRadius, &got, kNlist, &st);
  expect_distinct_sorted(got, kRadius);
  expect_same_hits(to_hits(got), to_hits(truth), 1e-4f);
  EXPECT_EQ(st.nq, kNq);
  EXPECT_EQ(st.ndis, kNq * index.n_entries());  // every entry scanned, copies included
  EXPECT_EQ(st.lists_probed, kNq * kNlist);
  EXPECT_GT(st.duplicates_removed, 0);

  // Stock FAISS on the same lists returns the copies: exactly what was removed.
  faiss::RangeSearchResult plain(kNq);
  index.ivf().nprobe = kNlist;
  index.ivf().range_search(kNq, q.data(), kRadius, &plain);
  EXPECT_EQ(raw_count(plain), raw_count(got) + static_cast<size_t>(st.duplicates_removed));
}

// At any nprobe (given per call, not the IVF's own), for every code type: FAISS's range search
// over the same lists with each id's copies folded into the nearest.
class DistinctRangeSearchCodes : public ::testing::TestWithParam<const char*> {};

TEST_P(DistinctRangeSearchCodes, EqualsFaissWithCopiesFolded) {
  const auto x = gaussian_blobs(kN, kD, kNlist, 1.0f, 43);
  const auto q = gaussian_blobs(kNq, kD, kNlist, 1.0f, 44);
  GmmIvfIndex index = make_index(x, GetParam());
  std::int64_t removed = 0;
  size_t disagree = 0;
  for (int nprobe : {1, 3, 7}) {
    index.ivf().nprobe = 2;  // the call's nprobe must win
    faiss::RangeSearchResult got(kNq);
    SearchStats st;
    index.range_search(kNq, q.data(), kRadius, &got, nprobe, &st);
    expect_distinct_sorted(got, kRadius);
    EXPECT_EQ(st.lists_probed, kNq * nprobe);

    index.ivf().nprobe = nprobe;
    faiss::RangeSearchResult plain(kNq);
    index.ivf().range_search(kNq, q.data(), kRadius, &plain);
    ASSERT_GT(raw_count(plain), static_cast<size_t>(kNq)) << GetParam() << " nprobe " << nprobe;
    expect_same_hits(to_hits(got), to_hits(plain), 0.0f);
    EXPECT_EQ(raw_count(plain), raw_count(got) + static_cast<size_t>(st.duplicates_removed));
    removed += st.duplicates_removed;
    disagree += copies_that_disagree(plain);
  }
  EXPECT_GT(removed, 0) << "no copies met: this would prove nothing";
  // Under PQ a row's copies hold different codes (residuals to different centroids): the
  // nearest copy must be the one kept.
  if (std::string(GetParam()).find("PQ") != std::string::npos) EXPECT_GT(disagree, 0u);
}

INSTANTIATE_TEST_SUITE_P(Codes, DistinctRangeSearchCodes,
                         ::testing::Values("IVF20,Flat", "IVF20,PQ4x4", "IVF20,SQ8"),
                         [](const auto& info) {
                           const std::string k = info.param;
                           return k.find("PQ") != std::string::npos ? std::string("PQ")
                                  : k.find("SQ") != std::string::npos ? std::string("SQ")
                                                                      : std::string("Flat");
                         });

TEST(DistinctRangeSearch, EmptyAndNegativeRadiusAndNoQueries) {
  const auto x = gaussian_blobs(kN, kD, kNlist, 1.0f, 45);
  const GmmIvfIndex index = make_index(x, "IVF20,Flat");
  faiss::RangeSearchResult none(3);
  index.range_search(3, x.data(), -1.0f, &none, 4);
  EXPECT_EQ(none.lims[3], 0u);
  faiss::RangeSearchResult zero(0);
  index.range_search(0, nullptr, kRadius, &zero);
  EXPECT_EQ(zero.lims[0], 0u);
  // A query that is a stored row finds itself first, at distance 0, once.
  faiss::RangeSearchResult self(1);
  index.range_search(1, x.data() + 17 * kD, kRadius, &self, kNlist);
  ASSERT_GE(self.lims[1], 1u);
  EXPECT_EQ(self.labels[0], 17);
  EXPECT_FLOAT_EQ(self.distances[0], 0.0f);
}

TEST(DistinctRangeSearch, RejectsBadInput) {
  const auto x = gaussian_blobs(kN, kD, kNlist, 1.0f, 46);
  const GmmIvfIndex index = make_index(x, "IVF20,Flat");
  faiss::RangeSearchResult r(2);
  EXPECT_THROW(index.range_search(2, x.data(), std::nanf(""), &r), flashgmm::Error);
  EXPECT_THROW(index.range_search(2, x.data(), kRadius, nullptr), flashgmm::Error);
  EXPECT_THROW(index.range_search(3, x.data(), kRadius, &r), flashgmm::Error);  // made for 2 queries
  EXPECT_THROW(index.range_search(2, nullptr, kRadius, &r), flashgmm::Error);
  GmmIvfIndex untrained(kD, "IVF20,Flat");
  EXPECT_THROW(untrained.range_search(2, x.data(), kRadius, &r), flashgmm::Error);
}
