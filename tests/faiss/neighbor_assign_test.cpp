// The neighbors multi-assignment rule: valid, bounded, deterministic lists; the soar fallback for
// small batches; bounded batches for large adds; parameter validation; exact de-duplicated
// search with every list probed.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <set>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>

#include "faiss_test_data.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"
#include "flashgmm_faiss/ivf_ops.hpp"

using namespace flashgmm::ivf;
using namespace flashgmm_faiss_test;
using idx_t = faiss::Index::idx_t;

namespace {

constexpr int kD = 16;
constexpr int kNlist = 32;
constexpr idx_t kN = 8000;

faiss::IndexFlatL2 kmeans_quantizer(const std::vector<float>& x) {
  faiss::IndexFlatL2 q(kD);
  faiss::ClusteringParameters cp;
  cp.seed = 5;
  faiss::Clustering km(kD, kNlist, cp);
  km.train(kN, x.data(), q);
  return q;
}

// Rows whose list j is taken when the cost weight is four times p's (a larger weight buys fewer
// extra lists).
idx_t rows_taking_list_j_at_dearer_cost(const faiss::IndexFlatL2& q, const std::vector<float>& x, idx_t n,
                                         const MultiAssignParams& p, int j) {
  MultiAssignParams dear = p;
  dear.cost_weight = 4 * p.cost_weight;
  std::vector<idx_t> lists(n * p.max_copies);
  assign_lists_neighbors(q, x.data(), n, dear, lists.data());
  idx_t rows = 0;
  for (idx_t i = 0; i < n; ++i) rows += lists[i * p.max_copies + j] >= 0;
  return rows;
}

}  // namespace

TEST(NeighborAssign, ListsAreValidBoundedAndDeterministic) {
  const auto x = gaussian_blobs(kN, kD, 1, 1.0f, 31);
  faiss::IndexFlatL2 q = kmeans_quantizer(x);
  MultiAssignParams p;  // defaults (neighbors rule), at most two lists: three are tested below
  ASSERT_EQ(p.rule, SpillRule::neighbors);
  p.max_copies = 2;
  std::vector<idx_t> a(kN * 2), b(kN * 2);
  assign_lists_neighbors(q, x.data(), kN, p, a.data());
  assign_lists_neighbors(q, x.data(), kN, p, b.data());
  EXPECT_EQ(a, b);
  // Candidate lists: each row's `candidates` nearest centroids.
  std::vector<float> cd(kN * p.candidates);
  std::vector<idx_t> cand(kN * p.candidates);
  q.search(kN, x.data(), p.candidates, cd.data(), cand.data());
  idx_t copies = 0, not_nearest = 0;
  for (idx_t i = 0; i < kN; ++i) {
    const idx_t l0 = a[i * 2], l1 = a[i * 2 + 1];
    ASSERT_GE(l0, 0);
    ASSERT_NE(l0, l1);
    const idx_t* ci = cand.data() + i * p.candidates;
    EXPECT_NE(std::find(ci, ci + p.candidates, l0), ci + p.candidates) << "row " << i;
    if (l1 >= 0) {
      ++copies;
      EXPECT_NE(std::find(ci, ci + p.candidates, l1), ci + p.candidates) << "row " << i;
    }
    not_nearest += l0 != ci[0];
  }
  // No cluster structure at list scale: some rows take two lists, some a list other than the nearest.
  EXPECT_GT(copies, kN / 20);
  EXPECT_LT(copies, kN);
  EXPECT_GT(not_nearest, 0);
  // A larger cost weight buys fewer copies.
  EXPECT_LT(rows_taking_list_j_at_dearer_cost(q, x, kN, p, 1), copies);
  // Half the rows as pseudo-queries: still valid lists, mostly the same choices.
  MultiAssignParams half = p;
  half.pseudo_query_fraction = 0.5f;
  assign_lists_neighbors(q, x.data(), kN, half, b.data());
  idx_t same = 0;
  for (idx_t i = 0; i < kN; ++i) {
    ASSERT_GE(b[i * 2], 0);
    same += b[i * 2] == a[i * 2];
  }
  EXPECT_GT(same, kN / 2);
  // max_copies 1: a single list per row, other slots unused.
  MultiAssignParams one = p;
  one.max_copies = 1;
  std::vector<idx_t> c(kN);
  assign_lists_neighbors(q, x.data(), kN, one, c.data());
  for (idx_t l : c) ASSERT_GE(l, 0);
}

TEST(NeighborAssign, ThreeListsForSomeRowsAmongTheirEightNearest) {
  const auto x = gaussian_blobs(kN, kD, 1, 1.0f, 31);
  faiss::IndexFlatL2 q = kmeans_quantizer(x);
  MultiAssignParams p;  // the defaults: up to three lists
  ASSERT_EQ(p.max_copies, 3);
  std::vector<idx_t> a(kN * 3), b(kN * 3);
  assign_lists_neighbors(q, x.data(), kN, p, a.data());
  assign_lists_neighbors(q, x.data(), kN, p, b.data());
  EXPECT_EQ(a, b);
  std::vector<float> cd(kN * 8);
  std::vector<idx_t> near8(kN * 8);
  q.search(kN, x.data(), 8, cd.data(), near8.data());
  idx_t three = 0, two = 0;
  for (idx_t i = 0; i < kN; ++i) {
    const idx_t* l = a.data() + i * 3;
    ASSERT_GE(l[0], 0);
    if (l[1] < 0) ASSERT_LT(l[2], 0) << "row " << i << ": slots fill in order";
    std::set<idx_t> taken;
    for (int j = 0; j < 3; ++j)
      if (l[j] >= 0) {
        EXPECT_TRUE(taken.insert(l[j]).second) << "row " << i << " takes list " << l[j] << " twice";
        if (l[2] >= 0) EXPECT_NE(std::find(near8.data() + i * 8, near8.data() + i * 8 + 8, l[j]), near8.data() + i * 8 + 8);
      }
    three += l[2] >= 0;
    two += l[1] >= 0 && l[2] < 0;
  }
  EXPECT_GT(three, 0);
  EXPECT_GT(two, three);  // a third list pays for fewer rows than a second
  // A larger cost weight buys fewer triples.
  EXPECT_LT(rows_taking_list_j_at_dearer_cost(q, x, kN, p, 2), three);
  // The entry budget: no bound stores more here; a bound of 1.1 entries per row holds.
  const auto entries = [&](const std::vector<idx_t>& l) {
    return std::count_if(l.begin(), l.end(), [](idx_t v) { return v >= 0; });
  };
  MultiAssignParams free = p, tight = p;
  free.max_entries_ratio = 0;
  tight.max_entries_ratio = 1.1f;
  assign_lists_neighbors(q, x.data(), kN, free, b.data());
  const auto free_entries = entries(b);
  assign_lists_neighbors(q, x.data(), kN, tight, b.data());
  EXPECT_LE(entries(b), kN * 11 / 10);
  EXPECT_GT(entries(b), kN);
  EXPECT_GE(free_entries, entries(a));
  EXPECT_LE(entries(a), kN * 3 / 2);
}

TEST(NeighborAssign, SmallBatchFallsBackToSoarWithTwoLists) {
  const auto x = gaussian_blobs(kN, kD, 1, 1.0f, 32);
  faiss::IndexFlatL2 q = kmeans_quantizer(x);
  MultiAssignParams p;  // max_copies 3: the fallback still stores at most two lists
  const idx_t n = min_neighbor_batch(kNlist) - 1;
  std::vector<idx_t> a(n * 3), b(n * 2);
  assign_lists_neighbors(q, x.data(), n, p, a.data());
  MultiAssignParams s = p;
  s.rule = SpillRule::soar;
  s.max_copies = 2;
  assign_lists_soar(q, x.data(), n, s, b.data());
  idx_t spilled = 0;
  for (idx_t i = 0; i < n; ++i) {
    EXPECT_EQ(a[i * 3], b[i * 2]);
    EXPECT_EQ(a[i * 3 + 1], b[i * 2 + 1]);
    EXPECT_EQ(a[i * 3 + 2], -1);
    spilled += b[i * 2 + 1] >= 0;
  }
  EXPECT_GT(spilled, 0);
}

TEST(NeighborAssign, RejectsBadParameters) {
  MultiAssignParams p;
  p.neighbors = 0;
  EXPECT_THROW(p.validate(), flashgmm::Error);
  p.neighbors = 5000;
  EXPECT_THROW(p.validate(), flashgmm::Error);
  p = MultiAssignParams();
  p.candidates = 65;
  EXPECT_THROW(p.validate(), flashgmm::Error);
  p.rule = SpillRule::soar;  // soar clamps candidates to nlist itself
  EXPECT_NO_THROW(p.validate());
  p = MultiAssignParams();
  p.cost_weight = -1;
  EXPECT_THROW(p.validate(), flashgmm::Error);
  p = MultiAssignParams();
  p.probe_depth = 1;
  EXPECT_THROW(p.validate(), flashgmm::Error);
  p = MultiAssignParams();
  p.pseudo_query_fraction = 0.0f;
  EXPECT_THROW(p.validate(), flashgmm::Error);
  p.pseudo_query_fraction = 1.5f;
  EXPECT_THROW(p.validate(), flashgmm::Error);
  p = MultiAssignParams();
  p.search_nprobe = -2;
  EXPECT_THROW(p.validate(), flashgmm::Error);
  p = MultiAssignParams();
  p.max_entries_ratio = 0.5f;  // fewer entries than rows
  EXPECT_THROW(p.validate(), flashgmm::Error);
  p.max_entries_ratio = std::numeric_limits<float>::infinity();
  EXPECT_THROW(p.validate(), flashgmm::Error);
  p = MultiAssignParams();
  p.candidates = 1;  // < max_copies
  EXPECT_THROW(p.validate(), flashgmm::Error);
  GmmIvfParams g;
  g.centroid_niter = -1;
  EXPECT_THROW(GmmIvfIndex(kD, "IVF32,Flat", g), flashgmm::Error);
  g = GmmIvfParams();
  g.refine_pseudo_query_fraction = 0.0f;
  EXPECT_THROW(GmmIvfIndex(kD, "IVF32,Flat", g), flashgmm::Error);
}

TEST(NeighborAssign, DefaultIndexSearchIsExactWithEveryListAndNeverRepeatsAnId) {
  const auto x = gaussian_blobs(kN, kD, 1, 1.0f, 33);
  const auto q = gaussian_blobs(200, kD, 1, 1.0f, 34);
  GmmIvfIndex index(kD, "IVF32,Flat");
  index.train(kN, x.data());
  index.add(kN, x.data());
  EXPECT_GT(index.n_entries(), kN);
  EXPECT_LE(index.n_entries(), 3 * kN);
  constexpr int k = 10;
  const auto truth = exact_knn(x, q, kD, k);
  std::vector<float> dis(200 * k);
  std::vector<idx_t> ids(200 * k);
  index.search(200, q.data(), k, dis.data(), ids.data(), kNlist);
  EXPECT_DOUBLE_EQ(recall_at(ids, truth, k), 1.0);
  for (int nprobe : {1, 3, kNlist}) {
    index.search(200, q.data(), k, dis.data(), ids.data(), nprobe);
    for (int i = 0; i < 200; ++i) {
      std::set<idx_t> seen;
      for (int j = 0; j < k; ++j) {
        const idx_t id = ids[i * k + j];
        if (id >= 0) EXPECT_TRUE(seen.insert(id).second) << "id " << id << " twice, nprobe " << nprobe;
      }
    }
  }
}

TEST(NeighborAssign, RefinedCentroidsMoveAndSidecarKeepsTheRule) {
  const auto x = gaussian_blobs(kN, kD, 1, 1.0f, 35);
  GmmIvfParams p;
  GmmIvfParams plain = p;
  plain.refine_centroids = false;
  GmmIvfIndex a(kD, "IVF32,Flat", p), b(kD, "IVF32,Flat", plain);
  a.train(kN, x.data());
  b.train(kN, x.data());
  const auto* qa = dynamic_cast<const faiss::IndexFlat*>(a.ivf().quantizer);
  const auto* qb = dynamic_cast<const faiss::IndexFlat*>(b.ivf().quantizer);
  ASSERT_TRUE(qa && qb);
  // Same k-means, then one refinement step: different centroids.
  EXPECT_FALSE(std::equal(qa->get_xb(), qa->get_xb() + kNlist * kD, qb->get_xb()));
  a.add(kN, x.data());
  const std::string path = testing::TempDir() + "neighbors.index";
  MultiAssignParams ap = a.params().assign;
  ap.cost_weight = 0.25f;
  ap.neighbors = 20;
  ap.pseudo_query_fraction = 0.5f;
  ap.max_entries_ratio = 1.25f;
  a.set_assign(ap);
  a.save(path);
  GmmIvfIndex back = GmmIvfIndex::load(path);
  EXPECT_EQ(back.params().assign.rule, SpillRule::neighbors);
  EXPECT_EQ(back.params().assign.neighbors, 20);
  EXPECT_FLOAT_EQ(back.params().assign.cost_weight, 0.25f);
  EXPECT_FLOAT_EQ(back.params().assign.pseudo_query_fraction, 0.5f);
  EXPECT_FLOAT_EQ(back.params().assign.max_entries_ratio, 1.25f);
  EXPECT_EQ(back.n_entries(), a.n_entries());
}

TEST(NeighborAssign, LargeAddsAreCutIntoEqualBoundedBatches) {
  MultiAssignParams p;
  p.max_copies = 2;
  // Automatic bound (2 GiB of work): GloVe-sized data is one batch, 10^9 rows are many.
  EXPECT_EQ(neighbor_batch_rows(p, 395000, 50, 1024), 395000);
  const std::int64_t per_row = 4 * 96 + 8 * 64 + 64;
  const std::int64_t big = neighbor_batch_rows(p, 1000000000, 96, 65536);
  EXPECT_GE(big, min_neighbor_batch(65536));
  EXPECT_LE(big * per_row, std::int64_t(2) << 30);
  EXPECT_GT(big * per_row, std::int64_t(1) << 30);
  p.neighbors_batch_rows = 3000;
  const std::int64_t batch = neighbor_batch_rows(p, kN, kD, kNlist);
  EXPECT_EQ(batch, 2667);  // three equal batches, none above 3,000
  // A bound near INT64_MAX (a damaged sidecar can hold one) means one batch, without overflow.
  p.neighbors_batch_rows = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(neighbor_batch_rows(p, kN, kD, kNlist), kN);
  EXPECT_EQ(neighbor_batch_rows(p, std::numeric_limits<std::int64_t>::max(), kD, kNlist),
            std::numeric_limits<std::int64_t>::max());
  p.neighbors_batch_rows = std::numeric_limits<std::int64_t>::max() - 1;
  EXPECT_EQ(neighbor_batch_rows(p, std::numeric_limits<std::int64_t>::max(), kD, kNlist),
            std::numeric_limits<std::int64_t>::max() / 2 + 1);
  p.neighbors_batch_rows = 3000;

  // add_multi with that bound stores exactly what assigning each batch on its own gives.
  const auto x = gaussian_blobs(kN, kD, 1, 1.0f, 31);
  faiss::IndexFlatL2 q = kmeans_quantizer(x);
  std::vector<idx_t> expect(kN * 2);
  for (idx_t b0 = 0; b0 < kN; b0 += batch)
    assign_lists_neighbors(q, x.data() + b0 * kD, std::min<idx_t>(batch, kN - b0), p,
                           expect.data() + b0 * 2);
  std::vector<idx_t> one_batch(kN * 2);
  MultiAssignParams unbounded = p;
  unbounded.neighbors_batch_rows = 0;
  assign_lists_neighbors(q, x.data(), kN, unbounded, one_batch.data());
  ASSERT_NE(one_batch, expect) << "batching must make a difference here, or this test proves nothing";
  faiss::IndexIVFFlat ivf(&q, kD, kNlist);
  ivf.is_trained = true;  // the quantizer holds the centroids; Flat codes need no training
  IvfBookkeeping book;
  // add_multi wants the mixture that goes with the quantizer (only the posterior rule reads it).
  flashgmm::Params gp;
  gp.n_components = kNlist;
  gp.covariance_type = flashgmm::CovarianceType::spherical;
  gp.max_iter = 1;
  gp.means_init.assign(q.get_xb(), q.get_xb() + kNlist * kD);
  flashgmm::GaussianMixture unused(gp);
  unused.fit(x.data(), kN, kD);
  MultiAssignParams a = p;
  const std::int64_t entries = add_multi(ivf, unused, a, book, kN, x.data(), nullptr);
  std::vector<std::set<idx_t>> want(kNlist), got(kNlist);
  std::int64_t want_entries = 0;
  for (idx_t i = 0; i < kN; ++i)
    for (int j = 0; j < 2; ++j)
      if (const idx_t l = expect[i * 2 + j]; l >= 0) want[l].insert(i), ++want_entries;
  for (idx_t l = 0; l < kNlist; ++l) {
    const idx_t* ids = ivf.invlists->get_ids(l);
    got[l].insert(ids, ids + ivf.invlists->list_size(l));
    ivf.invlists->release_ids(l, ids);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(entries, want_entries);
  EXPECT_EQ(book.n_vectors, kN);
  EXPECT_GT(want_entries, kN);  // the batches still spill

  MultiAssignParams bad;
  bad.neighbors_batch_rows = -1;
  EXPECT_THROW(bad.validate(), flashgmm::Error);
}
