// flashgmm dedup: planted groups recovered exactly, agreement with brute force, pair counting,
// the pair-once rule, streamed (non-contiguous) sources, interruption.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "blocking.hpp"
#include "compare.hpp"
#include "dedup_test_data.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm_dedup/dedup.hpp"

namespace {

using namespace flashgmm;
using namespace flashgmm::dedup;
using dedup_test::brute_pairs;
using dedup_test::groups_of;
namespace dd = flashgmm::dedup::detail;

DedupParams cpu_params(Metric metric, double threshold) {
  DedupParams p;
  p.metric = metric;
  p.threshold = threshold;
  p.backend = BackendKind::cpu;
  return p;
}

// A source that hides its contiguous storage and counts read() calls: the streamed path.
class StreamedSource final : public DataSource {
 public:
  StreamedSource(const float* x, std::int64_t n, int d) : inner_(x, n, d) {}
  std::int64_t rows() const override { return inner_.rows(); }
  int dim() const override { return inner_.dim(); }
  void read(std::int64_t b, std::int64_t c, float* out) const override {
    ++reads;
    inner_.read(b, c, out);
  }
  std::string describe() const override { return "streamed test source"; }
  mutable std::int64_t reads = 0;

 private:
  MatrixSource inner_;
};

struct PlantedCase {
  Metric metric;
  double threshold;
  float noise;
  int d;
};

class PlantedGroups : public ::testing::TestWithParam<PlantedCase> {};

TEST_P(PlantedGroups, RecoversExactly) {
  const PlantedCase c = GetParam();
  const auto data = dedup_test::planted(3000, 150, 5, c.d, c.noise, 7);
  ASSERT_EQ(groups_of(brute_pairs(data.x, data.n, data.d, c.metric, c.threshold), data.n), data.expected_rep)
      << "test data: the planted groups should be the only near duplicates";
  const MatrixSource src(data.x.data(), data.n, data.d);
  // L2: planted copies are within noise·|x|·√2·(1 + slack) of each other; random rows are far.
  const DedupResult r = deduplicate(src, cpu_params(c.metric, c.threshold));
  EXPECT_EQ(r.representative, data.expected_rep);
  const GroupList g = list_groups(r.representative);
  EXPECT_EQ(g.size(), 150);
  EXPECT_EQ(r.summary.groups, 150);
  EXPECT_EQ(r.summary.rows_kept, 3000 + 150);
  EXPECT_EQ(static_cast<std::int64_t>(keep_list(r.representative).size()), r.summary.rows_kept);
  EXPECT_GT(r.summary.reduction, 3.0) << "blocking should compare far fewer than all pairs";
}

INSTANTIATE_TEST_SUITE_P(Metrics, PlantedGroups,
                         ::testing::Values(PlantedCase{Metric::cosine, 0.95, 0.05f, 48},
                                           PlantedCase{Metric::cosine, 0.9, 0.1f, 64},
                                           PlantedCase{Metric::l2, 1.5, 0.05f, 32}));

// Our groups must lie between those of the sure pairs and those of sure + borderline pairs.
void expect_groups_between(const std::vector<std::int64_t>& ours, const dedup_test::RefPairs& ref, std::int64_t n) {
  auto all = ref.sure;
  all.insert(all.end(), ref.borderline.begin(), ref.borderline.end());
  const auto lo = groups_of(ref.sure, n), hi = groups_of(all, n);
  std::int64_t bad_lo = 0, bad_hi = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    bad_lo += ours[lo[i]] != ours[i];  // rows joined by sure pairs share our group
    bad_hi += hi[ours[i]] != hi[i];    // our groups never join rows no true pair joins
  }
  EXPECT_EQ(bad_lo, 0);
  EXPECT_EQ(bad_hi, 0);
}

TEST(Dedup, OneComponentIsBruteForce) {
  const std::int64_t n = 1500;
  const int d = 24;
  const auto x = dedup_test::clustered(n, d, 5, 0.25f, 3);
  for (Metric metric : {Metric::cosine, Metric::l2}) {
    const double t = metric == Metric::cosine ? 0.97 : 1.0;
    const auto ref = dedup_test::reference_pairs(x, n, d, metric, t);
    ASSERT_GT(ref.sure.size(), 50u) << "the data should have natural near duplicates";
    DedupParams p = cpu_params(metric, t);
    p.n_components = 1;
    const DedupResult r = deduplicate(MatrixSource(x.data(), n, d), p);
    EXPECT_EQ(r.summary.pairs_compared, n * (n - 1) / 2);
    EXPECT_EQ(r.summary.candidate_pairs, n * (n - 1) / 2);
    EXPECT_DOUBLE_EQ(r.summary.reduction, 1.0);
    EXPECT_GE(r.summary.duplicate_pairs, static_cast<std::int64_t>(ref.sure.size()));
    EXPECT_LE(r.summary.duplicate_pairs, static_cast<std::int64_t>(ref.sure.size() + ref.borderline.size()));
    expect_groups_between(r.representative, ref, n);
  }
}

TEST(Dedup, AgreesWithBruteForceAndReportsIt) {
  const std::int64_t n = 4000;
  const int d = 32;
  const auto x = dedup_test::clustered(n, d, 40, 0.2f, 11);
  const double t = 0.95;
  const auto ref = dedup_test::reference_pairs(x, n, d, Metric::cosine, t);
  const auto& pairs = ref.sure;
  ASSERT_GT(pairs.size(), 100u);
  auto all = ref.sure;
  all.insert(all.end(), ref.borderline.begin(), ref.borderline.end());
  const auto truth = groups_of(all, n);
  DedupParams p = cpu_params(Metric::cosine, t);
  p.check_sample = n;  // every row: the report is a full brute force
  const DedupResult r = deduplicate(MatrixSource(x.data(), n, d), p);
  const DedupSummary& s = r.summary;
  EXPECT_GT(s.reduction, 5.0);
  // Every pair the run merged is a true pair, so its groups refine the true groups.
  for (std::int64_t i = 0; i < n; ++i) EXPECT_EQ(truth[r.representative[i]], truth[i]);
  std::int64_t same = 0;
  for (const auto& e : pairs) same += r.representative[e.first] == r.representative[e.second];
  EXPECT_GE(static_cast<double>(same) / pairs.size(), 0.99);
  ASSERT_TRUE(s.has_quality);
  EXPECT_EQ(s.quality.anchors, n);
  EXPECT_GE(s.quality.true_pairs, static_cast<std::int64_t>(ref.sure.size()));
  EXPECT_LE(s.quality.true_pairs, static_cast<std::int64_t>(all.size()));
  EXPECT_EQ(s.quality.found_pairs, s.duplicate_pairs);
  EXPECT_DOUBLE_EQ(s.quality.pair_precision, 1.0);
  EXPECT_GE(s.quality.group_recall, s.quality.pair_recall);
  EXPECT_GE(s.quality.pair_recall, 0.99);
  EXPECT_EQ(s.quality.brute_force_comparisons, n * n);
}

TEST(Dedup, SampledQualityReportCountsAnchorPairs) {
  const std::int64_t n = 3000;
  const int d = 16;
  const auto x = dedup_test::clustered(n, d, 10, 0.2f, 5);
  DedupParams p = cpu_params(Metric::cosine, 0.97);
  p.n_components = 1;  // exact run: recall and precision must be 1
  p.check_sample = 300;
  const DedupResult r = deduplicate(MatrixSource(x.data(), n, d), p);
  const auto pairs = brute_pairs(x, n, d, Metric::cosine, 0.97);
  ASSERT_TRUE(r.summary.has_quality);
  const QualityReport& q = r.summary.quality;
  EXPECT_EQ(q.anchors, 300);
  EXPECT_GT(q.true_pairs, 0);
  EXPECT_LT(q.true_pairs, static_cast<std::int64_t>(pairs.size()));
  EXPECT_EQ(q.found_pairs, q.true_pairs);
  EXPECT_DOUBLE_EQ(q.pair_recall, 1.0);
  EXPECT_DOUBLE_EQ(q.pair_precision, 1.0);
}

TEST(Dedup, EachSharedPairIsComparedOnce) {
  const std::int64_t n = 2500;
  const int d = 16;
  // Spread 1.0: the clusters overlap, so many rows pass min_posterior in several components
  // whatever optimum the fit reaches (at 0.5 a k-means init that finds all 12 clusters leaves
  // every posterior near 0 or 1, and no pair shares two components).
  const auto x = dedup_test::clustered(n, d, 12, 1.0f, 9);
  DedupParams p = cpu_params(Metric::cosine, 0.9);
  p.n_components = 12;
  p.max_assign = 3;
  p.min_posterior = 1e-3;  // many rows in several components
  const MatrixSource src(x.data(), n, d);
  const dd::RowReader reader(src, p.metric);
  const GaussianMixture gmm = dd::fit_blocking_mixture(reader, p, p.n_components, {});
  const dd::Blocking b = dd::assign_rows(gmm, reader, p, {});
  // Reference: distinct pairs of rows that share at least one component, from the buckets.
  std::set<std::pair<std::int64_t, std::int64_t>> shared;
  std::int64_t candidate = 0;
  for (int c = 0; c < b.n_components; ++c) {
    const std::int64_t lo = b.offsets[c], hi = b.offsets[c + 1];
    candidate += (hi - lo) * (hi - lo - 1) / 2;
    for (std::int64_t i = lo; i < hi; ++i)
      for (std::int64_t j = i + 1; j < hi; ++j) shared.emplace(b.rows[i], b.rows[j]);
  }
  ASSERT_GT(candidate, static_cast<std::int64_t>(shared.size())) << "no pair shares two components";
  dd::UnionFind uf(n);
  const dd::CompareStats st = dd::compare_buckets(b, reader, dd::PairTest(p.metric, p.threshold, d), uf,
                                                          dd::RowSet(), nullptr, 2, {});
  EXPECT_EQ(st.candidate_pairs, candidate);
  EXPECT_EQ(st.pairs_compared, static_cast<std::int64_t>(shared.size()));
  // Bucket contents: every row in 1..m buckets, ascending within each.
  for (int c = 0; c < b.n_components; ++c)
    EXPECT_TRUE(std::is_sorted(b.rows.begin() + b.offsets[c], b.rows.begin() + b.offsets[c + 1]));
  EXPECT_GE(static_cast<std::int64_t>(b.rows.size()), n);
  EXPECT_LE(static_cast<std::int64_t>(b.rows.size()), 3 * n);
}

TEST(Dedup, SmallestSharedComponent) {
  const std::int32_t a[3] = {5, 2, -1}, b[3] = {2, 5, 7}, c[3] = {9, -1, -1}, e[3] = {7, 1, 2};
  EXPECT_EQ(dd::smallest_shared(a, b, 3), 2);
  EXPECT_EQ(dd::smallest_shared(a, c, 3), -1);
  EXPECT_EQ(dd::smallest_shared(b, e, 3), 2);
  EXPECT_EQ(dd::smallest_shared(c, c, 3), 9);
}

TEST(Dedup, StreamedSourceGivesTheSameGroups) {
  const auto data = dedup_test::planted(2000, 80, 4, 48, 0.05f, 21);
  DedupParams p = cpu_params(Metric::cosine, 0.95);
  p.chunk_rows = 333;
  const DedupResult in_memory = deduplicate(MatrixSource(data.x.data(), data.n, data.d), p);
  StreamedSource streamed(data.x.data(), data.n, data.d);
  const DedupResult r = deduplicate(streamed, p);
  EXPECT_GT(streamed.reads, 0);
  EXPECT_EQ(r.representative, in_memory.representative);
  EXPECT_EQ(r.representative, data.expected_rep);
  EXPECT_EQ(r.summary.pairs_compared, in_memory.summary.pairs_compared);
}

TEST(Dedup, ExactDuplicatesWithZeroRadiusAndCosineOne) {
  std::vector<float> x = {1, 2, 3, 4, 1, 2, 3, 4, 2, 4, 6, 8, -1, 0, 0, 1, 1, 2, 3, 4.001f};
  const MatrixSource src(x.data(), 5, 4);
  DedupParams p = cpu_params(Metric::l2, 0.0);
  const DedupResult r = deduplicate(src, p);
  EXPECT_EQ(r.representative, (std::vector<std::int64_t>{0, 0, 2, 3, 4}));
  p = cpu_params(Metric::cosine, 1.0);  // same direction: row 2 = 2 · row 0
  const DedupResult rc = deduplicate(src, p);
  EXPECT_EQ(rc.representative, (std::vector<std::int64_t>{0, 0, 0, 3, 0}));
}

TEST(Dedup, ProgressCoversEveryStageAndCanStop) {
  const auto data = dedup_test::planted(1000, 20, 3, 16, 0.05f, 2);
  const MatrixSource src(data.x.data(), data.n, data.d);
  DedupParams p = cpu_params(Metric::cosine, 0.95);
  p.check_sample = 50;
  std::set<std::string> stages;
  deduplicate(src, p, [&](const Progress& pr) {
    EXPECT_LE(pr.done, pr.total);
    stages.insert(pr.stage);
    return true;
  });
  EXPECT_EQ(stages, (std::set<std::string>{"fit", "assign", "compare", "check"}));
  for (const char* stop_at : {"fit", "assign", "compare"}) {
    try {
      deduplicate(src, p, [&](const Progress& pr) { return std::string(pr.stage) != stop_at; });
      ADD_FAILURE() << "no error when stopping at " << stop_at;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("interrupted"), std::string::npos) << e.what();
    }
  }
}

TEST(Dedup, GroupListingAndKeepList) {
  const std::vector<std::int64_t> rep = {0, 1, 0, 3, 1, 5, 0};
  const GroupList g = list_groups(rep);
  ASSERT_EQ(g.size(), 2);
  EXPECT_EQ(g.offsets, (std::vector<std::int64_t>{0, 3, 5}));
  EXPECT_EQ(g.members, (std::vector<std::int64_t>{0, 2, 6, 1, 4}));
  EXPECT_EQ(keep_list(rep), (std::vector<std::int64_t>{0, 1, 3, 5}));
  EXPECT_THROW(list_groups({1, 1}), Error);  // a representative must be its group's smallest row
}

}  // namespace

namespace {

class Tempered : public ::testing::TestWithParam<flashgmm::CovarianceType> {};

TEST_P(Tempered, PosteriorsArePowersRenormalised) {
  using namespace flashgmm;
  const std::int64_t n = 600;
  const int d = 6;
  const auto x = dedup_test::clustered(n, d, 5, 0.6f, 4);
  Params gp;
  gp.n_components = 5;
  gp.covariance_type = GetParam();
  gp.backend = BackendKind::cpu;
  GaussianMixture g(gp);
  g.fit(x.data(), n, d);
  const double t = 2.5;
  GaussianMixture gt(gp);
  gt.set_model(flashgmm::dedup::detail::tempered(g.model(), t));
  std::vector<float> p(n * 5), q(n * 5);
  g.predict_proba(x.data(), n, p.data());
  gt.predict_proba(x.data(), n, q.data());
  // Where posteriors are not vanishingly small, q = p^(1/t) / Σ p^(1/t).
  for (std::int64_t i = 0; i < n; ++i) {
    double z = 0;
    for (int k = 0; k < 5; ++k) z += std::pow(double(p[i * 5 + k]), 1.0 / t);
    for (int k = 0; k < 5; ++k)
      if (p[i * 5 + k] > 1e-20f) EXPECT_NEAR(q[i * 5 + k], std::pow(double(p[i * 5 + k]), 1.0 / t) / z, 2e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(Covariances, Tempered,
                         ::testing::Values(flashgmm::CovarianceType::spherical, flashgmm::CovarianceType::diag,
                                           flashgmm::CovarianceType::full, flashgmm::CovarianceType::tied));

}  // namespace
