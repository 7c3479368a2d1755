// Persistence: stock faiss::write_index / read_index for the IVF index, a checked sidecar for the
// mixture, one call to restore both; corrupt or mismatched sidecars are rejected.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <typeinfo>

#include <unistd.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/index_io.h>

#include "faiss_test_data.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"

using namespace flashgmm::ivf;
using flashgmm_faiss_test::gaussian_blobs;
using idx_t = faiss::Index::idx_t;

namespace {

constexpr int kD = 10;
constexpr idx_t kN = 3000;

std::string temp_path(const std::string& name) {
  return testing::TempDir() + "flashgmm_faiss_" + std::to_string(::getpid()) + "_" + name;
}

GmmIvfIndex build(const std::string& key, std::uint64_t seed, RoutingParams r = RoutingParams()) {
  const auto x = gaussian_blobs(kN, kD, 16, 0.6f, seed);
  GmmIvfParams p;
  p.gmm.seed = seed;
  p.assign.max_copies = 2;
  p.assign.min_posterior = 0.1f;
  p.routing = r;
  GmmIvfIndex index(kD, key, p);
  index.train(kN, x.data());
  index.add(kN, x.data());
  return index;
}

std::vector<char> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
void spit(const std::string& path, const std::vector<char>& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(b.data(), static_cast<std::streamsize>(b.size()));
}

}  // namespace

TEST(Persistence, RoundTripAndStockFaissLoads) {
  for (const char* key : {"IVF16,Flat", "IVF16,PQ5x4"}) {
    RoutingParams r;
    r.order = ProbeOrder::posterior;
    r.probe_mass = 0.95;
    GmmIvfIndex index = build(key, 41, r);
    const std::string path = temp_path(std::string("rt_") + key[5] + ".index");
    index.save(path);

    // Stock FAISS: an ordinary IVF index with a plain IndexFlatL2 quantizer.
    std::unique_ptr<faiss::Index> stock(faiss::read_index(path.c_str()));
    auto* ivf = dynamic_cast<faiss::IndexIVF*>(stock.get());
    ASSERT_NE(ivf, nullptr);
    EXPECT_EQ(typeid(*ivf->quantizer), typeid(faiss::IndexFlatL2));
    EXPECT_EQ(ivf->ntotal, index.n_entries());
    const auto q = gaussian_blobs(20, kD, 16, 0.6f, 42);
    std::vector<float> d1(20 * 5), d2(20 * 5);
    std::vector<idx_t> i1(20 * 5), i2(20 * 5);
    ivf->nprobe = 16;
    ivf->search(20, q.data(), 5, d1.data(), i1.data());
    EXPECT_GE(i1[0], 0);

    // One call restores index + mixture + settings; results are identical.
    GmmIvfIndex back = GmmIvfIndex::load(path);
    EXPECT_EQ(back.n_vectors(), index.n_vectors());
    EXPECT_EQ(back.n_entries(), index.n_entries());
    EXPECT_EQ(back.n_added(), index.n_added());
    EXPECT_EQ(back.params().routing.order, ProbeOrder::posterior);
    EXPECT_EQ(back.params().routing.probe_mass, 0.95);
    EXPECT_EQ(back.params().assign.max_copies, 2);
    EXPECT_EQ(back.params().assign.rule, index.params().assign.rule);
    EXPECT_EQ(back.params().assign.soar_lambda, index.params().assign.soar_lambda);
    EXPECT_EQ(back.params().assign.candidates, index.params().assign.candidates);
    EXPECT_EQ(back.params().assign.spill_fraction, index.params().assign.spill_fraction);
    EXPECT_EQ(back.params().assign.spill_threshold, index.params().assign.spill_threshold);  // later adds: same rule
    EXPECT_EQ(back.mixture().means(), index.mixture().means());
    EXPECT_EQ(back.mixture().weights(), index.mixture().weights());
    index.search(20, q.data(), 5, d1.data(), i1.data(), 4);
    back.search(20, q.data(), 5, d2.data(), i2.data(), 4);
    EXPECT_EQ(i1, i2);
    EXPECT_EQ(d1, d2);
    std::remove(path.c_str());
    std::remove(GmmIvfIndex::sidecar_path(path).c_str());
  }
}

TEST(Persistence, CorruptSidecarRejected) {
  GmmIvfIndex index = build("IVF16,Flat", 43);
  const std::string path = temp_path("corrupt.index");
  index.save(path);
  const std::string side = GmmIvfIndex::sidecar_path(path);
  const std::vector<char> good = slurp(side);
  ASSERT_GT(good.size(), 100u);

  auto expect_error = [&](const std::string& what, const std::string& needle) {
    try {
      GmmIvfIndex::load(path);
      ADD_FAILURE() << what << ": no error";
    } catch (const flashgmm::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << what << ": " << e.what();
    }
  };
  for (size_t pos : {size_t(20), good.size() / 2, good.size() - 12}) {
    std::vector<char> bad = good;
    bad[pos] ^= 0x5a;
    spit(side, bad);
    expect_error("flipped byte", "corrupted");
  }
  spit(side, std::vector<char>(good.begin(), good.begin() + good.size() / 2));
  expect_error("truncated", "truncated");
  std::vector<char> magic = good;
  magic[0] = 'X';
  spit(side, magic);
  expect_error("bad magic", "not a flashgmm GMM sidecar");
  std::remove(side.c_str());
  expect_error("missing", "cannot open GMM sidecar");
  spit(side, good);
  EXPECT_NO_THROW(GmmIvfIndex::load(path));
  std::remove(path.c_str());
  std::remove(side.c_str());
}

TEST(Persistence, MismatchedSidecarRejected) {
  GmmIvfIndex a = build("IVF16,Flat", 44);
  GmmIvfIndex b = build("IVF16,Flat", 45);  // other data: other centroids
  const std::string pa = temp_path("mis_a.index"), pb = temp_path("mis_b.index");
  a.save(pa);
  b.save(pb);
  spit(GmmIvfIndex::sidecar_path(pa), slurp(GmmIvfIndex::sidecar_path(pb)));
  try {
    GmmIvfIndex::load(pa);
    ADD_FAILURE() << "mismatched sidecar accepted";
  } catch (const flashgmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not match"), std::string::npos) << e.what();
  }
  // Entries added after the sidecar was written: counts disagree.
  a.save(pa);
  const std::string keep = temp_path("keep.gmm");
  spit(keep, slurp(GmmIvfIndex::sidecar_path(pa)));
  const auto x = gaussian_blobs(5, kD, 16, 0.6f, 44);
  a.add(5, x.data());
  a.save(pa);
  spit(GmmIvfIndex::sidecar_path(pa), slurp(keep));
  EXPECT_THROW(GmmIvfIndex::load(pa), flashgmm::Error);
  EXPECT_THROW(GmmIvfIndex::load(temp_path("does_not_exist.index")), flashgmm::Error);
  for (const auto& p : {pa, pb, keep, GmmIvfIndex::sidecar_path(pa), GmmIvfIndex::sidecar_path(pb)})
    std::remove(p.c_str());
}
