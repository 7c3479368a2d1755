// Quality: on overlapping Gaussian clusters of unequal spreads and weights, GMM + posterior multi-assignment reaches the
// same recall@10 as FAISS k-means IVF (same nlist, iterations, seed) with fewer distance computations; on data without
// cluster structure at list scale, SOAR spilling does (and beats naive spilling of the same memory).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>

#include "faiss_test_data.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"

using namespace flashgmm::ivf;
using namespace flashgmm_faiss_test;
using idx_t = faiss::Index::idx_t;

namespace {

constexpr int kD = 16;
constexpr int kNlist = 64;
constexpr idx_t kN = 20000;
constexpr idx_t kNq = 500;
constexpr int kK = 10;

struct Curve {
  std::vector<double> recall, ndis;
};

// Distance computations per query at which the curve first reaches `target` (interpolated).
double ndis_at(const Curve& c, double target) {
  for (size_t i = 0; i < c.recall.size(); ++i) {
    if (c.recall[i] < target) continue;
    if (i == 0) return c.ndis[0];
    const double t = (target - c.recall[i - 1]) / (c.recall[i] - c.recall[i - 1]);
    return c.ndis[i - 1] + t * (c.ndis[i] - c.ndis[i - 1]);
  }
  return INFINITY;
}

Curve sweep(const faiss::IndexIVF& ivf, int copies, const std::vector<float>& q, const std::vector<idx_t>& truth) {
  Curve c;
  std::vector<float> dis(kNq * kK);
  std::vector<idx_t> ids(kNq * kK);
  for (int nprobe : {1, 2, 3, 4, 6, 8, 12, 16, 24, 32}) {
    SearchStats st;
    search_distinct(ivf, kNq, q.data(), kK, nprobe, copies, dis.data(), ids.data(), &st);
    c.recall.push_back(recall_at(ids, truth, kK));
    c.ndis.push_back(static_cast<double>(st.ndis) / kNq);
  }
  return c;
}

// GMM with adaptive probing: the curve is traced by the posterior mass, nprobe capped at 32.
Curve sweep_adaptive(GmmIvfIndex& index, const std::vector<float>& q, const std::vector<idx_t>& truth) {
  Curve c;
  std::vector<float> dis(kNq * kK);
  std::vector<idx_t> ids(kNq * kK);
  RoutingParams r = index.params().routing;
  for (double mass : {0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999}) {
    r.probe_mass = mass;
    index.set_routing(r);
    SearchStats st;
    index.search(kNq, q.data(), kK, dis.data(), ids.data(), 32, &st);
    c.recall.push_back(recall_at(ids, truth, kK));
    c.ndis.push_back(static_cast<double>(st.ndis) / kNq);
  }
  return c;
}

}  // namespace

TEST(Quality, GmmMultiAssignmentBeatsKmeansOnOverlappingClusters) {
  const auto x = uneven_blobs(kN, kD, kNlist, 0.2f, 0.6f, 100, 101);
  const auto q = uneven_blobs(kNq, kD, kNlist, 0.2f, 0.6f, 100, 102);
  const auto truth = exact_knn(x, q, kD, kK);

  // The posterior rule: on heteroscedastic clusters the mixture's posteriors find the border
  // vectors (the SOAR default is tested below, on data without cluster structure at list scale).
  GmmIvfParams p;
  p.assign.rule = SpillRule::posterior;
  p.centroids = CentroidSource::mixture;  // the mixture's own means (k-means centroids: 1.28x / 1.02x)
  p.cp.seed = 7;
  GmmIvfIndex gmm(kD, "IVF64,Flat", p);
  gmm.train(kN, x.data());
  gmm.add(kN, x.data());
  EXPECT_LE(gmm.n_entries(), kN * 3 / 2);  // the memory budget

  faiss::IndexFlatL2 kq(kD);
  faiss::IndexIVFFlat km(&kq, kD, kNlist);
  km.cp.niter = p.cp.niter;
  km.cp.seed = 7;
  km.train(kN, x.data());
  km.add(kN, x.data());

  const Curve cg = sweep(gmm.ivf(), p.assign.max_copies, q, truth);
  const Curve ck = sweep(km, 1, q, truth);
  // Compared at the recall GMM reaches with one probe, and at 0.99 (k-means interpolated).
  for (double target : {cg.recall[0], 0.99}) {
    const double g = ndis_at(cg, target), k = ndis_at(ck, target);
    std::printf("recall@10 %.2f: gmm %.0f, k-means %.0f distance computations per query (%.2fx), entries %.3f N\n",
                target, g, k, k / g, static_cast<double>(gmm.n_entries()) / kN);
    EXPECT_LT(g, k) << "target recall " << target;
  }
}

// SOAR spilling alone (FAISS k-means centroids, half of the vectors in a second list chosen by the
// residual-aware score) against the same k-means IVF without and with naive second-nearest spilling
// of the same half (λ = 0), on data where neighbours straddle list borders: one isotropic Gaussian in
// 32 dimensions cut into 64 lists (like embeddings: no cluster structure at the scale of the lists).
// Measured in the prototype: ≈ 1.25× fewer distance computations than k-means at recall@10 0.75.
TEST(Quality, SoarSpillingBeatsKmeansAndNaiveSpillingAtEqualRecall) {
  constexpr int d = 32;
  // Base and queries drawn together, so that they share the Gaussian's centre.
  const auto all = gaussian_blobs(kN + kNq, d, 1, 1.0f, 111);
  const std::vector<float> xb(all.begin(), all.begin() + kN * d), xq(all.begin() + kN * d, all.end());
  const auto truth = exact_knn(xb, xq, d, kK);

  faiss::IndexFlatL2 kq(d);
  faiss::IndexIVFFlat km(&kq, d, kNlist);
  km.cp.niter = 10;
  km.cp.seed = 7;
  km.train(kN, xb.data());
  km.add(kN, xb.data());

  auto spilled = [&](float lambda) {
    auto ivf = std::make_unique<faiss::IndexIVFFlat>(&kq, d, kNlist);  // same centroids
    MultiAssignParams ap;
    ap.rule = SpillRule::soar;
    ap.max_copies = 2;
    ap.soar_lambda = lambda;
    ap.spill_fraction = 0.5f;
    ap.spill_ratio = std::numeric_limits<float>::infinity();  // exactly half: same memory for both
    ap.spill_threshold = calibrate_spill_threshold(kq, xb.data(), kN, ap);
    std::vector<idx_t> lists(kN * 2);
    assign_lists_soar(kq, xb.data(), kN, ap, lists.data());
    std::vector<float> xs;
    std::vector<idx_t> ids, ll;
    for (idx_t i = 0; i < kN; ++i)
      for (int j = 0; j < 2; ++j)
        if (lists[i * 2 + j] >= 0) {
          ids.push_back(i);
          ll.push_back(lists[i * 2 + j]);
          xs.insert(xs.end(), xb.begin() + i * d, xb.begin() + (i + 1) * d);
        }
    ivf->add_core(static_cast<idx_t>(ids.size()), xs.data(), ids.data(), ll.data());
    return ivf;
  };
  const auto soar = spilled(1.0f);
  const auto naive = spilled(0.0f);  // λ = 0: the second-nearest list, same gate
  EXPECT_NEAR(static_cast<double>(soar->ntotal) / kN, 1.5, 0.02);

  const Curve ck = sweep(km, 1, xq, truth);
  const Curve cs = sweep(*soar, 2, xq, truth);
  const Curve cn = sweep(*naive, 2, xq, truth);
  for (double target : {0.6, 0.75}) {
    const double k = ndis_at(ck, target), s = ndis_at(cs, target), nv = ndis_at(cn, target);
    std::printf("recall@10 %.2f: soar %.0f, naive half-spill %.0f, k-means %.0f distance computations (%.2fx, %.2fx)\n",
                target, s, nv, k, k / s, nv / s);
    EXPECT_LT(s * 1.1, k) << "target recall " << target;
    EXPECT_LT(s * 1.1, nv) << "target recall " << target;
  }
}

// The default (neighbors rule + refined k-means centroids, GmmIvfParams()) on the same kind of
// data: one isotropic Gaussian cut into 64 lists, where a query's neighbours straddle list
// borders. It must need fewer distance computations than FAISS k-means IVF (same iterations and
// seed) at equal recall@10 (measured: 1.17-1.26x at 0.6-0.9), with at most 1.5 N entries, and be
// no worse than the previous default, k-means centroids + SOAR (measured: 0.99-1.03x of it here;
// on GloVe it is 1.2x better, bench/RESULTS.md).
TEST(Quality, NeighborsRuleBeatsKmeansAndSoarAtEqualRecall) {
  constexpr int d = 32;
  const auto all = gaussian_blobs(kN + kNq, d, 1, 1.0f, 211);
  const std::vector<float> xb(all.begin(), all.begin() + kN * d), xq(all.begin() + kN * d, all.end());
  const auto truth = exact_knn(xb, xq, d, kK);

  GmmIvfParams p;  // the defaults
  p.cp.seed = 7;
  GmmIvfIndex ours(d, "IVF64,Flat", p);
  ours.train(kN, xb.data());
  ours.add(kN, xb.data());
  EXPECT_LE(ours.n_entries(), kN * 3 / 2);

  faiss::IndexFlatL2 kq(d);
  faiss::IndexIVFFlat km(&kq, d, kNlist);
  km.cp.niter = p.cp.niter;
  km.cp.seed = 7;
  km.train(kN, xb.data());
  km.add(kN, xb.data());

  GmmIvfParams ps = p;  // the previous default
  ps.assign.rule = SpillRule::soar;
  ps.assign.max_copies = 2;
  ps.centroid_niter = 0;
  ps.centroid_max_points_per_centroid = 0;
  GmmIvfIndex soar(d, "IVF64,Flat", ps);
  soar.train(kN, xb.data());
  soar.add(kN, xb.data());

  const Curve co = sweep(ours.ivf(), p.assign.max_copies, xq, truth);
  const Curve ck = sweep(km, 1, xq, truth);
  const Curve cs = sweep(soar.ivf(), ps.assign.max_copies, xq, truth);
  for (double target : {0.6, 0.75, 0.9}) {
    const double o = ndis_at(co, target), k = ndis_at(ck, target), s = ndis_at(cs, target);
    std::printf("recall@10 %.2f: neighbors %.0f, soar %.0f, k-means %.0f distance computations (%.2fx, %.2fx), "
                "entries %.3f N\n",
                target, o, s, k, k / o, s / o, static_cast<double>(ours.n_entries()) / kN);
    EXPECT_LT(o * 1.1, k) << "target recall " << target;
    EXPECT_LT(o, 1.05 * s) << "target recall " << target;
  }
}
