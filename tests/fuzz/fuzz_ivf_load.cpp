// libFuzzer target: what a GMM sidecar's fields drive once loaded. The sidecar loader checks the
// bytes (fuzz_sidecar); this target checks the values: it keeps a small trained GMM IVF index on
// disk, rewrites its sidecar with fuzzed bookkeeping and parameters (copies, ids, multi-assignment
// rule and settings, routing settings) under a valid checksum, then loads the index and searches and adds.
// Every input must end in a flashgmm::Error or a working index: no crash, no undefined
// behaviour, no unbounded allocation (libFuzzer's -malloc_limit_mb catches those).
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/IDSelector.h>

#include "flashgmm/error.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"
#include "fuzz_support.hpp"
#include "flashgmm_faiss/sidecar.hpp"

namespace {

using flashgmm::ivf::GmmIvfIndex;
using flashgmm::ivf::Sidecar;

constexpr int kDim = 4;
constexpr int kNlist = 4;

struct Fixture {
  std::string dir, index_path;
  Sidecar original;
  std::vector<float> queries;

  Fixture() {
    char tmpl[] = "/tmp/flashgmm-fuzz-ivf-XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    dir = tmpl;
    index_path = dir + "/index.faiss";
    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    std::vector<float> x(400 * kDim);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = nd(rng) + 6.0f * static_cast<float>((i / kDim) % kNlist);
    flashgmm::ivf::GmmIvfParams p;
    p.gmm.seed = 1;
    GmmIvfIndex index(kDim, "IVF4,Flat", p);
    index.train(400, x.data());
    index.add(100, x.data());
    index.save(index_path);
    original = flashgmm::ivf::read_sidecar(GmmIvfIndex::sidecar_path(index_path));
    queries.assign(x.begin(), x.begin() + 3 * kDim);
  }
  ~Fixture() {
    std::remove(GmmIvfIndex::sidecar_path(index_path).c_str());
    std::remove(index_path.c_str());
    ::rmdir(dir.c_str());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fx;
  FuzzedDataProvider in(data, size);
  Sidecar s = fx.original;
  // Mostly small, sometimes extreme values for each field.
  auto i64 = [&](std::int64_t typical) {
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
      case 0: return typical;
      case 1: return in.ConsumeIntegralInRange<std::int64_t>(-4, 300);
      default: return in.ConsumeIntegral<std::int64_t>();
    }
  };
  auto i32 = [&](std::int32_t typical) {
    const std::int64_t v = i64(typical);
    return static_cast<std::int32_t>(v);
  };
  s.n_vectors = i64(s.n_vectors);
  // Uncapped: add() must refuse sequential ids that would run past INT64_MAX.
  s.next_id = i64(s.next_id);
  s.max_copies_stored = i32(s.max_copies_stored);
  s.assign.max_copies = i32(s.assign.max_copies);
  s.assign.min_posterior = in.ConsumeBool() ? s.assign.min_posterior : in.ConsumeFloatingPoint<float>();
  s.assign.chunk_rows = i64(s.assign.chunk_rows);
  s.assign.rule = static_cast<flashgmm::ivf::SpillRule>(in.ConsumeIntegralInRange<int>(0, 2));
  s.assign.neighbors = i32(s.assign.neighbors);
  s.assign.cost_weight = in.ConsumeBool() ? s.assign.cost_weight : in.ConsumeFloatingPoint<float>();
  s.assign.probe_depth = i32(s.assign.probe_depth);
  s.assign.search_nprobe = i32(s.assign.search_nprobe);
  s.assign.neighbors_batch_rows = i64(s.assign.neighbors_batch_rows);
  s.assign.pseudo_query_fraction =
      in.ConsumeBool() ? s.assign.pseudo_query_fraction : in.ConsumeFloatingPoint<float>();
  s.assign.soar_lambda = in.ConsumeBool() ? s.assign.soar_lambda : in.ConsumeFloatingPoint<float>();
  s.assign.candidates = i32(s.assign.candidates);
  s.assign.spill_fraction = in.ConsumeBool() ? s.assign.spill_fraction : in.ConsumeFloatingPoint<float>();
  s.assign.spill_threshold = in.ConsumeBool() ? s.assign.spill_threshold : in.ConsumeFloatingPoint<float>();
  s.routing.order = static_cast<flashgmm::ivf::ProbeOrder>(in.ConsumeIntegralInRange<int>(0, 1));
  s.routing.probe_mass = in.ConsumeBool() ? s.routing.probe_mass : in.ConsumeFloatingPoint<double>();
  s.routing.temperature = in.ConsumeBool() ? s.routing.temperature : in.ConsumeFloatingPoint<double>();
  s.routing.min_probes = i32(s.routing.min_probes);
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) s.ntotal = i64(s.ntotal);
  const int k = in.ConsumeIntegralInRange<int>(1, 20);
  const int nprobe = in.ConsumeIntegralInRange<int>(0, kNlist + 1);
  const float radius = in.ConsumeFloatingPointInRange<float>(0.0f, 50.0f);
  flashgmm::ivf::write_sidecar(GmmIvfIndex::sidecar_path(fx.index_path), s);
  try {
    GmmIvfIndex index = GmmIvfIndex::load(fx.index_path);
    std::vector<float> dist(static_cast<std::size_t>(3 * k));
    std::vector<faiss::Index::idx_t> labels(dist.size());
    index.search(3, fx.queries.data(), k, dist.data(), labels.data(), nprobe);
    for (auto l : labels) FUZZ_REQUIRE(l >= -1);
    faiss::RangeSearchResult within(3);
    index.range_search(3, fx.queries.data(), radius, &within, nprobe);
    for (size_t j = 0; j < within.lims[3]; ++j) FUZZ_REQUIRE(within.labels[j] >= 0 && within.distances[j] < radius);
    index.add(3, fx.queries.data());
    index.remove_ids(faiss::IDSelectorRange(0, 2));
    index.search(3, fx.queries.data(), k, dist.data(), labels.data(), nprobe);
  } catch (const flashgmm::Error&) {
  }
  return 0;
}
