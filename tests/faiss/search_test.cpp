// De-duplicated search: no id twice, k distinct results when they exist, exact at nprobe = nlist,
// distance-computation counts, and routing options.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include <faiss/invlists/InvertedLists.h>

#include "faiss_test_data.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"

using namespace flashgmm::ivf;
using flashgmm_faiss_test::exact_knn;
using flashgmm_faiss_test::gaussian_blobs;
using idx_t = faiss::Index::idx_t;

namespace {

constexpr int kD = 12;
constexpr int kNlist = 24;
constexpr idx_t kN = 5000;
constexpr idx_t kNq = 200;

GmmIvfIndex make_index(const std::vector<float>& x, int max_copies, float tau, RoutingParams r = RoutingParams()) {
  GmmIvfParams p;
  p.gmm.seed = 5;
  p.cp.niter = 15;
  p.assign.max_copies = max_copies;
  p.assign.min_posterior = tau;
  p.assign.rule = SpillRule::soar;  // up to max_copies lists (the neighbors rule stops at three)
  p.routing = r;
  GmmIvfIndex index(kD, "IVF24,Flat", p);
  index.train(static_cast<idx_t>(x.size() / kD), x.data());
  index.add(static_cast<idx_t>(x.size() / kD), x.data());
  return index;
}

}  // namespace

TEST(DedupSearch, NeverReturnsAnIdTwice) {
  const auto x = gaussian_blobs(kN, kD, kNlist, 0.7f, 21);
  const auto q = gaussian_blobs(kNq, kD, kNlist, 0.7f, 22);
  GmmIvfIndex index = make_index(x, 4, 0.02f);
  ASSERT_GT(index.n_entries(), kN * 13 / 10);  // many vectors stored 2–4 times
  for (int nprobe : {1, 3, 8, kNlist}) {
    for (int k : {1, 10, 50}) {
      std::vector<float> dis(kNq * k);
      std::vector<idx_t> ids(kNq * k);
      index.search(kNq, q.data(), k, dis.data(), ids.data(), nprobe);
      for (idx_t i = 0; i < kNq; ++i) {
        std::set<idx_t> seen;
        for (int j = 0; j < k; ++j) {
          const idx_t id = ids[i * k + j];
          if (id < 0) continue;
          EXPECT_TRUE(seen.insert(id).second) << "id " << id << " twice, nprobe " << nprobe << " k " << k;
          if (j > 0 && ids[i * k + j - 1] >= 0) EXPECT_LE(dis[i * k + j - 1], dis[i * k + j]);
        }
      }
    }
  }
}

TEST(DedupSearch, FullProbeIsExact) {
  const auto x = gaussian_blobs(kN, kD, kNlist, 0.7f, 23);
  const auto q = gaussian_blobs(kNq, kD, kNlist, 0.7f, 24);
  const int k = 20;
  const auto truth = exact_knn(x, q, kD, k);
  for (ProbeOrder order : {ProbeOrder::l2, ProbeOrder::posterior}) {
    RoutingParams r;
    r.order = order;
    GmmIvfIndex index = make_index(x, 3, 0.05f, r);
    std::vector<float> dis(kNq * k);
    std::vector<idx_t> ids(kNq * k);
    SearchStats st;
    index.search(kNq, q.data(), k, dis.data(), ids.data(), kNlist, &st);
    EXPECT_EQ(ids, truth) << "order " << to_string(order);
    EXPECT_EQ(st.ndis, kNq * index.n_entries());  // every entry scanned, copies included
    EXPECT_EQ(st.lists_probed, kNq * kNlist);
  }
}

TEST(DedupSearch, ReturnsKDistinctWhenAvailable) {
  const auto x = gaussian_blobs(300, kD, 4, 1.0f, 25);
  GmmIvfParams p;
  p.assign.max_copies = 3;
  p.assign.min_posterior = 0.01f;
  p.cp.min_points_per_centroid = 1;
  GmmIvfIndex index(kD, "IVF4,Flat", p);
  index.train(300, x.data());
  index.add(300, x.data());
  ASSERT_GT(index.n_entries(), 300);
  const int k = 300;
  std::vector<float> dis(k);
  std::vector<idx_t> ids(k);
  index.search(1, x.data(), k, dis.data(), ids.data(), 4);
  std::set<idx_t> all(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), 300u);
  EXPECT_EQ(*all.begin(), 0);
  // More than exist: the tail is −1.
  std::vector<float> dis2(400);
  std::vector<idx_t> ids2(400);
  index.search(1, x.data(), 400, dis2.data(), ids2.data(), 4);
  EXPECT_EQ(std::count(ids2.begin(), ids2.end(), idx_t(-1)), 100);
}

TEST(DedupSearch, NdisCountsScannedEntries) {
  const auto x = gaussian_blobs(kN, kD, kNlist, 0.7f, 26);
  const auto q = gaussian_blobs(kNq, kD, kNlist, 0.7f, 27);
  GmmIvfIndex index = make_index(x, 2, 0.1f);
  const int nprobe = 3;
  std::vector<float> cd(kNq * nprobe);
  std::vector<idx_t> keys(kNq * nprobe);
  index.ivf().quantizer->search(kNq, q.data(), nprobe, cd.data(), keys.data());
  std::int64_t expected = 0;
  for (idx_t key : keys) expected += static_cast<std::int64_t>(index.ivf().invlists->list_size(key));
  std::vector<float> dis(kNq * 10);
  std::vector<idx_t> ids(kNq * 10);
  SearchStats st;
  index.search(kNq, q.data(), 10, dis.data(), ids.data(), nprobe, &st);
  EXPECT_EQ(st.ndis, expected);
  EXPECT_EQ(st.nq, kNq);
}

TEST(PosteriorRouting, AdaptiveProbingScansLessAndStaysWithinNprobe) {
  const auto x = gaussian_blobs(kN, kD, kNlist, 0.5f, 28);
  const auto q = gaussian_blobs(kNq, kD, kNlist, 0.5f, 29);
  GmmIvfIndex index = make_index(x, 2, 0.2f);
  std::vector<float> dis(kNq * 10);
  std::vector<idx_t> ids(kNq * 10);
  SearchStats fixed, adaptive;
  index.search(kNq, q.data(), 10, dis.data(), ids.data(), 8, &fixed);
  RoutingParams r;
  r.probe_mass = 0.9;
  index.set_routing(r);
  index.search(kNq, q.data(), 10, dis.data(), ids.data(), 8, &adaptive);
  EXPECT_LT(adaptive.ndis, fixed.ndis);
  EXPECT_LT(adaptive.lists_probed, fixed.lists_probed);
  EXPECT_GE(adaptive.lists_probed, kNq);  // at least min_probes = 1 each
  // Keys are cut with −1 (which IndexIVF skips), never reordered beyond nprobe.
  std::vector<float> cd(kNq * 8);
  std::vector<idx_t> keys(kNq * 8);
  index.ivf().quantizer->search(kNq, q.data(), 8, cd.data(), keys.data());
  for (idx_t i = 0; i < kNq; ++i) {
    bool cut = false;
    for (int j = 0; j < 8; ++j) {
      if (keys[i * 8 + j] < 0) cut = true;
      else EXPECT_FALSE(cut) << "a list after a cut";
    }
  }
  r.probe_mass = 1.5;
  EXPECT_THROW(index.set_routing(r), flashgmm::Error);
}

TEST(PosteriorRouting, PosteriorOrderFollowsMixture) {
  const auto x = gaussian_blobs(kN, kD, kNlist, 0.7f, 30);
  RoutingParams r;
  r.order = ProbeOrder::posterior;
  GmmIvfIndex index = make_index(x, 1, 1.0f, r);
  const auto q = gaussian_blobs(50, kD, kNlist, 0.7f, 31);
  std::vector<float> cd(50);
  std::vector<idx_t> keys(50);
  index.ivf().quantizer->search(50, q.data(), 1, cd.data(), keys.data());
  std::vector<std::int32_t> labels(50);
  index.mixture().predict(q.data(), 50, labels.data());
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(keys[i], labels[i]);
    // The reported coarse distance stays the true squared L2 distance (IVFPQ relies on it).
    const float* c = static_cast<const faiss::IndexFlat*>(index.ivf().quantizer)->get_xb() + keys[i] * kD;
    float d2 = 0;
    for (int j = 0; j < kD; ++j) d2 += (q[i * kD + j] - c[j]) * (q[i * kD + j] - c[j]);
    EXPECT_NEAR(cd[i], d2, 1e-3f * (1 + d2));
  }
}
