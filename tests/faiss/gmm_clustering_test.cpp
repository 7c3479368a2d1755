// GmmClustering: the faiss::Clustering contract (centroids in the index, stats, parameters,
// subsampling and warnings) and IVF training that skips FAISS's k-means.
#include <gtest/gtest.h>

#include <cmath>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>

#include "faiss_test_data.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm_faiss/gmm_clustering.hpp"

using flashgmm::ivf::GmmClustering;
using flashgmm_faiss_test::gaussian_blobs;

namespace {
constexpr int kD = 8;
constexpr int kK = 16;
}  // namespace

TEST(GmmClustering, LeavesCentroidsInIndexAndIvfSkipsKmeans) {
  const auto x = gaussian_blobs(4000, kD, kK, 0.3f, 1);
  GmmClustering clus(kD, kK);
  faiss::IndexFlatL2 q(kD);
  clus.train(4000, x.data(), q);
  ASSERT_EQ(q.ntotal, kK);
  ASSERT_EQ(clus.centroids.size(), static_cast<size_t>(kK * kD));
  const auto& means = clus.mixture().means();
  for (size_t i = 0; i < clus.centroids.size(); ++i) {
    EXPECT_EQ(clus.centroids[i], static_cast<float>(means[i]));
    EXPECT_EQ(q.get_xb()[i], clus.centroids[i]);
  }
  ASSERT_FALSE(clus.iteration_stats.empty());
  for (const auto& st : clus.iteration_stats) EXPECT_TRUE(std::isfinite(st.obj));
  EXPECT_GE(clus.iteration_stats.back().imbalance_factor, 1.0);
  // EM never increases the negative log-likelihood (within one restart).
  for (size_t i = 1; i < clus.iteration_stats.size(); ++i)
    EXPECT_LE(clus.iteration_stats[i].obj, clus.iteration_stats[i - 1].obj + 1e-3f * std::fabs(clus.iteration_stats[i - 1].obj));

  const std::vector<float> before(q.get_xb(), q.get_xb() + kK * kD);
  faiss::IndexIVFFlat ivf(&q, kD, kK);
  ivf.train(4000, x.data());  // quantizer trained with nlist centroids: no k-means
  EXPECT_TRUE(ivf.is_trained);
  for (size_t i = 0; i < before.size(); ++i) ASSERT_EQ(q.get_xb()[i], before[i]);
  ivf.add(4000, x.data());
  EXPECT_EQ(ivf.ntotal, 4000);
  std::vector<float> dis(5);
  std::vector<faiss::Index::idx_t> ids(5);
  ivf.nprobe = kK;
  ivf.search(1, x.data(), 5, dis.data(), ids.data());
  EXPECT_EQ(ids[0], 0);
}

TEST(GmmClustering, HonoursNiterNredoAndSeed) {
  const auto x = gaussian_blobs(3000, kD, kK, 0.5f, 2);
  faiss::ClusteringParameters cp;
  cp.niter = 3;
  cp.nredo = 2;
  cp.seed = 77;
  GmmClustering a(kD, kK, cp);
  a.gmm.tol = 0.0;  // run every iteration
  faiss::IndexFlatL2 qa(kD);
  a.train(3000, x.data(), qa);
  EXPECT_EQ(a.iteration_stats.size(), 6u);  // niter × nredo
  EXPECT_EQ(a.mixture().params().max_iter, 3);
  EXPECT_EQ(a.mixture().params().n_init, 2);

  GmmClustering b(kD, kK, cp);
  b.gmm.tol = 0.0;
  faiss::IndexFlatL2 qb(kD);
  b.train(3000, x.data(), qb);
  EXPECT_EQ(a.centroids, b.centroids);  // same seed, same result
}

TEST(GmmClustering, SubsamplesWithFaissMessage) {
  const auto x = gaussian_blobs(3000, kD, kK, 0.5f, 3);
  faiss::ClusteringParameters cp;
  cp.max_points_per_centroid = 50;  // 16·50 = 800 < 3000
  cp.verbose = true;
  GmmClustering clus(kD, kK, cp);
  faiss::IndexFlatL2 q(kD);
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  clus.train(3000, x.data(), q);
  const std::string out = testing::internal::GetCapturedStdout();
  testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("Sampling a subset of 800 / 3000 for training"), std::string::npos) << out;
  EXPECT_EQ(q.ntotal, kK);
}

TEST(GmmClustering, WarnsAboutTooFewPoints) {
  const auto x = gaussian_blobs(200, kD, kK, 0.5f, 4);
  GmmClustering clus(kD, kK);  // min_points_per_centroid 39 → wants 624
  faiss::IndexFlatL2 q(kD);
  testing::internal::CaptureStderr();
  clus.train(200, x.data(), q);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("WARNING clustering 200 points to 16 centroids: please provide at least 624 training points"),
            std::string::npos)
      << err;
}

TEST(GmmClustering, RejectsBadInput) {
  const auto x = gaussian_blobs(10, kD, 2, 0.5f, 5);
  faiss::IndexFlatL2 q(kD);
  GmmClustering few(kD, kK);
  EXPECT_THROW(few.train(10, x.data(), q), flashgmm::Error);
  GmmClustering sph(kD, 2);
  sph.spherical = true;
  EXPECT_THROW(sph.train(10, x.data(), q), flashgmm::Error);
  faiss::IndexFlatL2 wrong(kD + 1);
  GmmClustering dim(kD, 2);
  EXPECT_THROW(dim.train(10, x.data(), wrong), flashgmm::Error);
  EXPECT_THROW(dim.mixture(), flashgmm::Error);
}

TEST(GmmClustering, CentroidsOnInputInitialise) {
  const auto x = gaussian_blobs(2000, kD, 4, 0.2f, 6);
  faiss::ClusteringParameters cp;
  cp.niter = 1;
  GmmClustering clus(kD, 4, cp);
  clus.centroids.assign(x.begin(), x.begin() + 4 * kD);  // four data rows
  faiss::IndexFlatL2 q(kD);
  clus.train(2000, x.data(), q);
  EXPECT_EQ(q.ntotal, 4);
  clus.centroids.assign(3, 0.0f);  // wrong size
  EXPECT_THROW(clus.train(2000, x.data(), q), flashgmm::Error);
}
