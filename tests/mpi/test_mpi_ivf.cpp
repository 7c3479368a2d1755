// Run under mpirun with 1, 2 or 3 ranks: per-shard multi-assignment adds merged into one
// GmmIvfIndex equal the index built by one process adding every row.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "flashgmm_mpi/collective_errors.hpp"
#include "flashgmm_mpi/ivf_shards.hpp"
#include "mpi_test_data.hpp"

namespace flashgmm::mpi {
namespace {

constexpr std::int64_t kRows = 3000;
constexpr int kDim = 8;

// A directory every rank sees, made by rank 0.
std::string shared_tmpdir(MPI_Comm c) {
  int rank = 0;
  MPI_Comm_rank(c, &rank);
  std::string dir;
  if (rank == 0) {
    char tmpl[] = "/tmp/flashgmm_mpi_ivf_XXXXXX";
    dir = mkdtemp(tmpl);
  }
  return allgather_strings(c, dir)[0];
}

bool exists(const std::string& p) { return std::ifstream(p).good(); }

class IvfShards : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = shared_tmpdir(comm_.comm());
    all_ = mpi_test::clustered(kRows, kDim, 3, 5);  // 16 lists over 3 clusters: overlapping components
    trained_ = dir_ + "/trained.index";
    if (comm_.rank() == 0) {  // trained once, loaded by every rank
      ivf::GmmIvfParams p;
      p.gmm.seed = 3;
      p.assign.max_copies = 2;
      p.assign.min_posterior = 0.1f;  // many rows in two lists
      // A rule that assigns each row on its own (the default neighbors rule makes the rows of one
      // add() call one another's queries, so shards of 700 rows would differ from one add).
      p.assign.rule = ivf::SpillRule::soar;
      ivf::GmmIvfIndex idx(kDim, "IVF16,Flat", p);
      idx.train(kRows, all_.data());
      idx.save(trained_);
    }
    MPI_Barrier(comm_.comm());
  }
  void TearDown() override {
    MPI_Barrier(comm_.comm());
    if (comm_.rank() == 0) std::system(("rm -rf " + dir_).c_str());
  }
  MpiCommunicator comm_;
  std::string dir_, trained_;
  std::vector<float> all_;
};

TEST_F(IvfShards, MergedIndexEqualsOneProcessAddingEveryRow) {
  const int R = comm_.size(), me = comm_.rank();
  const auto off = mpi_test::uneven_offsets(kRows, R, R >= 3 ? 1 : -1);
  const MatrixSource local(off[me + 1] > off[me] ? all_.data() + off[me] * kDim : nullptr, off[me + 1] - off[me],
                           kDim);
  ivf::GmmIvfIndex mine = ivf::GmmIvfIndex::load(trained_);
  const std::string merged_path = dir_ + "/merged.index";
  add_shards_and_merge(mine, local, comm_, merged_path, 700);
  EXPECT_TRUE(exists(merged_path));
  for (int r = 0; r < R; ++r) EXPECT_FALSE(exists(ivf_shard_path(merged_path, r))) << "shard file left behind";
  if (me != 0) return;

  ivf::GmmIvfIndex merged = ivf::GmmIvfIndex::load(merged_path);
  ivf::GmmIvfIndex single = ivf::GmmIvfIndex::load(trained_);
  single.add(kRows, all_.data());
  EXPECT_EQ(merged.n_vectors(), kRows);
  EXPECT_EQ(merged.n_added(), kRows);
  ASSERT_EQ(merged.n_entries(), single.n_entries());
  EXPECT_GT(single.n_entries(), kRows) << "the test needs multi-assigned rows";
  const faiss::InvertedLists* a = merged.ivf().invlists;
  const faiss::InvertedLists* b = single.ivf().invlists;
  for (size_t l = 0; l < a->nlist; ++l) {
    ASSERT_EQ(a->list_size(l), b->list_size(l)) << "list " << l;
    faiss::InvertedLists::ScopedIds ia(a, l), ib(b, l);
    std::vector<faiss::Index::idx_t> va(ia.get(), ia.get() + a->list_size(l)), vb(ib.get(), ib.get() + b->list_size(l));
    std::sort(va.begin(), va.end());
    std::sort(vb.begin(), vb.end());
    EXPECT_EQ(va, vb) << "list " << l;
  }
  const int nq = 40, k = 10;
  std::vector<float> da(nq * k), db(nq * k);
  std::vector<faiss::Index::idx_t> la(nq * k), lb(nq * k);
  merged.search(nq, all_.data() + 17 * kDim, k, da.data(), la.data(), 4);
  single.search(nq, all_.data() + 17 * kDim, k, db.data(), lb.data(), 4);
  EXPECT_EQ(la, lb);
  EXPECT_EQ(da, db);
}

TEST_F(IvfShards, AWrongDimensionOnOneRankStopsEveryRankAndWritesNothing) {
  const int R = comm_.size(), me = comm_.rank();
  const int d = me == R - 1 ? kDim + 1 : kDim;
  std::vector<float> x((size_t)50 * d, 0.5f);
  const MatrixSource local(x.data(), 50, d);
  ivf::GmmIvfIndex mine = ivf::GmmIvfIndex::load(trained_);
  const std::string merged_path = dir_ + "/bad.index";
  std::string what;
  try {
    add_shards_and_merge(mine, local, comm_, merged_path);
  } catch (const CollectiveError& e) {
    what = e.what();
  }
  EXPECT_NE(what.find("rank " + std::to_string(R - 1) + ": the shard has 9 dimensions, the index 8"), std::string::npos)
      << what;
  MPI_Barrier(comm_.comm());
  EXPECT_FALSE(exists(merged_path));
  EXPECT_FALSE(exists(ivf_shard_path(merged_path, me)));
}

TEST(MergeIvfShards, RejectsShardsOfDifferentMixtures) {
  MpiCommunicator comm;
  if (comm.rank() != 0) return;
  char tmpl[] = "/tmp/flashgmm_mpi_ivf_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  for (int s = 0; s < 2; ++s) {
    const std::vector<float> x = mpi_test::clustered(800, 4, 4, 9 + s);  // another mixture
    ivf::GmmIvfIndex idx(4, "IVF4,Flat");
    idx.train(800, x.data());
    idx.add(100, x.data());
    idx.save(dir + "/s" + std::to_string(s));
  }
  try {
    merge_ivf_shards({dir + "/s0", dir + "/s1"});
    ADD_FAILURE() << "merged shards of different mixtures";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another mixture"), std::string::npos) << e.what();
  }
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace flashgmm::mpi

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) delete ::testing::UnitTest::GetInstance()->listeners().Release(
      ::testing::UnitTest::GetInstance()->listeners().default_result_printer());
  const int rc = RUN_ALL_TESTS();
  MPI_Finalize();
  return rc;
}
