// Multi-assignment: exactly the expected copies, each encoded against its own list (Flat, PQ, SQ),
// and removal of every copy.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>
#include <map>
#include <set>

#include <faiss/IndexIVFFlat.h>
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

GmmIvfParams test_params(int max_copies, float tau, SpillRule rule = SpillRule::posterior) {
  GmmIvfParams p;
  p.gmm.seed = 3;
  p.cp.niter = 15;
  p.assign.max_copies = max_copies;
  p.assign.rule = rule;
  p.assign.min_posterior = tau;
  p.assign.spill_ratio = std::numeric_limits<float>::infinity();  // soar: the fraction decides (half)
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

class MultiAssignCodes : public testing::TestWithParam<std::tuple<const char*, SpillRule>> {};

}  // namespace

TEST_P(MultiAssignCodes, StoresExpectedCopiesWithCorrectCodes) {
  const auto x = gaussian_blobs(kN, kD, kNlist, 0.6f, 11);
  GmmIvfIndex index(kD, std::string("IVF32,") + std::get<0>(GetParam()),
                    test_params(3, 0.05f, std::get<1>(GetParam())));
  index.train(kN, x.data());
  index.add(kN, x.data());

  // The expected lists, from the same rule applied independently (other chunking: the soar
  // threshold was calibrated by train, so rows do not depend on their batch).
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
  GmmIvfIndex index(kD, std::string("IVF32,") + std::get<0>(GetParam()),
                    test_params(3, 0.05f, std::get<1>(GetParam())));
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

INSTANTIATE_TEST_SUITE_P(Codecs, MultiAssignCodes,
                         testing::Combine(testing::Values("Flat", "PQ4x4", "SQ8"),
                                          testing::Values(SpillRule::posterior, SpillRule::soar, SpillRule::neighbors)),
                         [](const auto& info) {
                           std::string codec = std::get<0>(info.param);
                           codec.erase(std::remove(codec.begin(), codec.end(), 'x'), codec.end());
                           return codec + "_" + to_string(std::get<1>(info.param));
                         });

TEST(MultiAssign, MaxCopiesOneIsPlainIvf) {
  const auto x = gaussian_blobs(3000, kD, kNlist, 0.6f, 13);
  GmmIvfIndex index(kD, "IVF32,Flat", test_params(1, 0.05f));
  index.train(3000, x.data());
  index.add(3000, x.data());
  EXPECT_EQ(index.n_entries(), 3000);
}

TEST(MultiAssign, IdsNearInt64MaxAreRejectedNotOverflowed) {
  // Regression (fuzz_ivf_load): next id = max given id + 1 must not overflow int64.
  const auto x = gaussian_blobs(500, kD, kNlist, 0.6f, 15);
  GmmIvfIndex index(kD, "IVF32,Flat", test_params(1, 0.05f));
  index.train(500, x.data());
  const idx_t huge = std::numeric_limits<idx_t>::max();
  try {
    index.add_with_ids(1, x.data(), &huge);
    FAIL() << "expected an error";
  } catch (const flashgmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
  }
  const idx_t last = huge - 1;  // accepted: the next sequential id would be past the end
  index.add_with_ids(1, x.data(), &last);
  try {
    index.add(1, x.data());
    FAIL() << "expected an error";
  } catch (const flashgmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("would overflow int64"), std::string::npos) << e.what();
  }
  EXPECT_EQ(index.n_entries(), 1);
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
  p.assign.min_posterior = 0.25f;
  p.assign.soar_lambda = -1.0f;
  EXPECT_THROW(GmmIvfIndex(kD, "IVF32,Flat", p), flashgmm::Error);
  p.assign.soar_lambda = std::nanf("");
  EXPECT_THROW(GmmIvfIndex(kD, "IVF32,Flat", p), flashgmm::Error);
  p.assign.soar_lambda = 1.0f;
  p.assign.spill_fraction = 1.5f;
  EXPECT_THROW(GmmIvfIndex(kD, "IVF32,Flat", p), flashgmm::Error);
  p.assign.spill_fraction = 0.5f;
  p.assign.max_copies = 4;
  p.assign.candidates = 3;
  EXPECT_THROW(GmmIvfIndex(kD, "IVF32,Flat", p), flashgmm::Error);
  p.assign.candidates = 8;
  p.assign.spill_threshold = -1.0f;
  EXPECT_THROW(GmmIvfIndex(kD, "IVF32,Flat", p), flashgmm::Error);
  p.assign.spill_threshold = 0.0f;
  p.assign.spill_ratio = 0.0f;
  EXPECT_THROW(GmmIvfIndex(kD, "IVF32,Flat", p), flashgmm::Error);
  EXPECT_THROW(parse_spill_rule("nearest"), flashgmm::Error);
  EXPECT_THROW(GmmIvfIndex(kD, "Flat", GmmIvfParams()), flashgmm::Error);
  EXPECT_THROW(GmmIvfIndex(kD, "IVF32,Nonsense", GmmIvfParams()), flashgmm::Error);
  GmmIvfIndex untrained(kD, "IVF32,Flat");
  std::vector<float> v(kD, 0.0f);
  EXPECT_THROW(untrained.add(1, v.data()), flashgmm::Error);
}

namespace {

// SOAR score of list l for row x with primary residual r: ‖x − c_l‖² + λ⟨r, x − c_l⟩²/‖r‖² (float64).
double soar_score(const float* x, const float* c, const std::vector<double>& r, double lambda) {
  double dist = 0, dot = 0, rn = 0;
  for (int t = 0; t < kD; ++t) {
    const double v = static_cast<double>(x[t]) - c[t];
    dist += v * v;
    dot += r[t] * v;
    rn += r[t] * r[t];
  }
  return dist + lambda * dot * dot / rn;
}

}  // namespace

// The extra list is the candidate with the smallest SOAR score, checked by brute force over the
// `candidates` nearest centroids; spill_fraction 1 spills every row.
TEST(MultiAssignSoar, ExtraListMinimisesTheSoarScore) {
  const auto x = gaussian_blobs(2000, kD, kNlist, 0.7f, 15);
  for (float lambda : {0.0f, 1.0f, 4.0f}) {
    GmmIvfParams p = test_params(2, 0.25f, SpillRule::soar);
    p.assign.soar_lambda = lambda;
    p.assign.spill_fraction = 1.0f;
    p.assign.spill_ratio = std::numeric_limits<float>::infinity();
    p.assign.candidates = 6;
    GmmIvfIndex index(kD, "IVF32,Flat", p);
    index.train(2000, x.data());
    const auto& q = dynamic_cast<const faiss::IndexFlat&>(*index.ivf().quantizer);
    const float* cent = q.get_xb();
    std::vector<idx_t> lists(2000 * 2);
    assign_lists(index.mixture(), q, x.data(), 2000, index.params().assign, lists.data());
    std::vector<float> cd(2000 * 6);
    std::vector<idx_t> ci(2000 * 6);
    q.faiss::IndexFlat::search(2000, x.data(), 6, cd.data(), ci.data());
    int differs_from_second = 0;
    for (idx_t i = 0; i < 2000; ++i) {
      const float* xi = x.data() + i * kD;
      const idx_t l0 = lists[i * 2], l1 = lists[i * 2 + 1];
      ASSERT_EQ(l0, ci[i * 6]) << "primary = nearest centroid with L2 routing";
      ASSERT_GE(l1, 0) << "row " << i << " did not spill with spill_fraction 1";
      ASSERT_NE(l1, l0);
      std::vector<double> r(kD);
      for (int t = 0; t < kD; ++t) r[t] = static_cast<double>(xi[t]) - cent[l0 * kD + t];
      double best = std::numeric_limits<double>::infinity();
      for (int j = 1; j < 6; ++j) best = std::min(best, soar_score(xi, cent + ci[i * 6 + j] * kD, r, lambda));
      EXPECT_LE(soar_score(xi, cent + l1 * kD, r, lambda), best * (1 + 1e-4) + 1e-6) << "row " << i;
      if (lambda == 0.0f) EXPECT_EQ(l1, ci[i * 6 + 1]) << "lambda 0 = second nearest list";
      differs_from_second += l1 != ci[i * 6 + 1];
    }
    if (lambda >= 1.0f) EXPECT_GT(differs_from_second, 100) << "the penalty should move some copies";
  }
}

// The spill fraction sets the entries (calibrated once by train), whatever the add batches.
TEST(MultiAssignSoar, SpillFractionSetsEntriesIndependentlyOfBatches) {
  const idx_t n = 8000;
  const auto x = gaussian_blobs(n, kD, kNlist, 0.6f, 16);
  for (float f : {0.0f, 0.3f, 0.5f}) {
    GmmIvfParams p = test_params(2, 0.25f, SpillRule::soar);
    p.assign.spill_fraction = f;
    p.assign.spill_ratio = std::numeric_limits<float>::infinity();
    GmmIvfIndex whole(kD, "IVF32,Flat", p), pieces(kD, "IVF32,Flat", p);
    whole.train(n, x.data());
    pieces.train(n, x.data());
    EXPECT_GT(whole.params().assign.spill_threshold, 0.0f);
    EXPECT_EQ(whole.params().assign.spill_threshold, pieces.params().assign.spill_threshold);
    whole.add(n, x.data());
    for (idx_t c0 = 0; c0 < n; c0 += 7) pieces.add(std::min<idx_t>(7, n - c0), x.data() + c0 * kD);
    EXPECT_EQ(whole.n_entries(), pieces.n_entries());
    const double ratio = static_cast<double>(whole.n_entries()) / n;
    EXPECT_NEAR(ratio, 1.0 + f, 0.03) << "spill_fraction " << f;
  }
}

// Without a calibrated threshold, assign_lists spills exactly round(f·n) of the rows it is given;
// calibrate_spill_threshold turns the fraction into the threshold that does the same.
TEST(MultiAssignSoar, UncalibratedCallSpillsTheFractionOfItsRows) {
  const idx_t n = 3000;
  const auto x = gaussian_blobs(n, kD, kNlist, 0.6f, 17);
  GmmIvfParams p = test_params(3, 0.25f, SpillRule::soar);
  p.assign.spill_fraction = 0.25f;
  p.assign.spill_ratio = std::numeric_limits<float>::infinity();
  GmmIvfIndex index(kD, "IVF32,Flat", p);
  index.train(n, x.data());
  MultiAssignParams ap = index.params().assign;
  ap.spill_threshold = 0.0f;
  std::vector<idx_t> lists(n * 3);
  assign_lists(index.mixture(), *index.ivf().quantizer, x.data(), n, ap, lists.data());
  idx_t spilled = 0;
  for (idx_t i = 0; i < n; ++i) {
    spilled += lists[i * 3 + 1] >= 0;
    if (lists[i * 3 + 1] >= 0) EXPECT_GE(lists[i * 3 + 2], 0) << "a spilled row gets all max_copies lists";
    if (lists[i * 3 + 1] < 0) EXPECT_LT(lists[i * 3 + 2], 0);
  }
  EXPECT_EQ(spilled, 750);
  ap.spill_threshold = calibrate_spill_threshold(*index.ivf().quantizer, x.data(), n, ap);
  assign_lists(index.mixture(), *index.ivf().quantizer, x.data(), n, ap, lists.data());
  idx_t spilled2 = 0;
  for (idx_t i = 0; i < n; ++i) spilled2 += lists[i * 3 + 1] >= 0;
  EXPECT_NEAR(static_cast<double>(spilled2), 750.0, 3.0);  // ties at the threshold only
}

// spill_ratio: a row spills only when its key (best extra-list SOAR score / ‖r‖², by brute force
// here) is ≤ the ratio, even when the fraction would allow more; the threshold is min(ratio, quantile).
TEST(MultiAssignSoar, SpillRatioKeepsDeepRowsSingle) {
  const idx_t n = 4000;
  const auto x = gaussian_blobs(n, kD, kNlist, 0.6f, 18);
  GmmIvfParams p = test_params(2, 0.25f, SpillRule::soar);
  p.assign.spill_fraction = 1.0f;
  p.assign.spill_ratio = 1.8f;
  p.assign.candidates = 6;
  GmmIvfIndex index(kD, "IVF32,Flat", p);
  index.train(n, x.data());
  EXPECT_EQ(index.params().assign.spill_threshold, 1.8f);
  const auto& q = dynamic_cast<const faiss::IndexFlat&>(*index.ivf().quantizer);
  std::vector<idx_t> lists(n * 2);
  assign_lists(index.mixture(), q, x.data(), n, index.params().assign, lists.data());
  std::vector<float> cd(n * 6);
  std::vector<idx_t> ci(n * 6);
  q.faiss::IndexFlat::search(n, x.data(), 6, cd.data(), ci.data());
  idx_t spilled = 0;
  for (idx_t i = 0; i < n; ++i) {
    const float* xi = x.data() + i * kD;
    std::vector<double> r(kD);
    double rn = 0;
    for (int t = 0; t < kD; ++t) {
      r[t] = static_cast<double>(xi[t]) - q.get_xb()[ci[i * 6] * kD + t];
      rn += r[t] * r[t];
    }
    double best = std::numeric_limits<double>::infinity();
    for (int j = 1; j < 6; ++j) best = std::min(best, soar_score(xi, q.get_xb() + ci[i * 6 + j] * kD, r, 1.0));
    const double key = best / rn;
    if (std::abs(key - 1.8) < 1e-3) continue;  // float rounding at the boundary
    EXPECT_EQ(lists[i * 2 + 1] >= 0, key < 1.8) << "row " << i << " key " << key;
    spilled += lists[i * 2 + 1] >= 0;
  }
  EXPECT_GT(spilled, n / 20);
  EXPECT_LT(spilled, n * 19 / 20);
  // A fraction below what the ratio allows wins.
  p.assign.spill_fraction = 0.02f;
  GmmIvfIndex tight(kD, "IVF32,Flat", p);
  tight.train(n, x.data());
  EXPECT_LT(tight.params().assign.spill_threshold, 1.8f);
}

// CentroidSource::kmeans: the quantizer holds exactly what FAISS's IndexIVF::train would put there
// (same ClusteringParameters); the mixture is fitted from it and posterior routing uses its means.
TEST(Centroids, KmeansSourceMatchesFaissIvfTraining) {
  const idx_t n = 5000;
  const auto x = gaussian_blobs(n, kD, kNlist, 0.6f, 19);
  GmmIvfParams p = test_params(2, 0.25f, SpillRule::soar);
  p.centroids = CentroidSource::kmeans;
  p.cp.seed = 11;
  GmmIvfIndex index(kD, "IVF32,Flat", p);
  index.train(n, x.data());
  faiss::IndexFlatL2 fq(kD);
  faiss::IndexIVFFlat ref(&fq, kD, kNlist);
  ref.cp = p.cp;
  ref.train(n, x.data());
  const auto& q = dynamic_cast<const faiss::IndexFlat&>(*index.ivf().quantizer);
  ASSERT_EQ(q.ntotal, kNlist);
  EXPECT_EQ(0, std::memcmp(q.get_xb(), fq.get_xb(), sizeof(float) * kNlist * kD));
  // The mixture moved away from its k-means start (EM ran), yet stays close.
  const auto& means = index.mixture().model().means;
  double moved = 0;
  for (size_t i = 0; i < means.size(); ++i) moved = std::max(moved, std::abs(means[i] - fq.get_xb()[i]));
  EXPECT_GT(moved, 0.0);
  EXPECT_THROW(parse_centroid_source("random"), flashgmm::Error);
  EXPECT_EQ(parse_centroid_source(to_string(CentroidSource::mixture)), CentroidSource::mixture);
}
