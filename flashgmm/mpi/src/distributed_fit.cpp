#include "flashgmm_mpi/distributed_fit.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "flashgmm/backend.hpp"
#include "src/data_checks.hpp"

namespace flashgmm::mpi {

namespace {

std::uint64_t fnv1a(const void* data, std::size_t bytes, std::uint64_t h = 1469598103934665603ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string array_digest(const std::vector<double>& v) {
  if (v.empty()) return "none";
  std::ostringstream o;
  o << v.size() << " values, hash " << std::hex << fnv1a(v.data(), v.size() * sizeof(double));
  return o.str();
}

// One record per rank: "key=value" lines, parsed back into (key, value) pairs.
using Record = std::vector<std::pair<std::string, std::string>>;

std::string encode(const Record& r) {
  std::string s;
  for (const auto& [k, v] : r) s += k + "=" + v + "\n";
  return s;
}

Record decode(const std::string& s) {
  Record r;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    r.emplace_back(line.substr(0, eq), eq == std::string::npos ? "" : line.substr(eq + 1));
  }
  return r;
}

std::string value_of(const Record& r, const std::string& key) {
  for (const auto& [k, v] : r)
    if (k == key) return v;
  return "";
}

// Same message on every rank: the first field on which some rank differs from rank 0.
std::string first_disagreement(const std::vector<Record>& recs, const Record& keys) {
  for (const auto& [key, unused] : keys) {
    const std::string v0 = value_of(recs[0], key);
    for (size_t r = 1; r < recs.size(); ++r) {
      const std::string vr = value_of(recs[r], key);
      if (vr == v0) continue;
      std::ostringstream o;
      if (key == "dim") {
        o << "ranks disagree on the data dimension: rank 0 has " << v0 << " (" << value_of(recs[0], "source")
          << "), rank " << r << " has " << vr << " (" << value_of(recs[r], "source") << ")";
      } else {
        o << "ranks disagree on parameter " << key << ": rank 0 has " << v0 << ", rank " << r << " has " << vr;
      }
      return o.str();
    }
  }
  return "";
}

// The core re-seeds collapsed components from an E-step over the init sample that every rank
// runs with its own backend (em_driver.cpp, reseed()): different backends or GPU precisions could
// pick different rows and the ranks' models would silently diverge. Until that choice is made
// on one rank, require the same effective backend everywhere.
std::string effective_backend(const Params& p) {
  BackendKind b = p.backend;
  if (b == BackendKind::automatic) b = cuda_available() ? BackendKind::cuda : BackendKind::cpu;
  return b == BackendKind::cuda ? "cuda (" + to_string(p.precision) + ")" : to_string(b);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> model_defining_params(const Params& p) {
  return {
      {"n_components", std::to_string(p.n_components)},
      {"covariance_type", to_string(p.covariance_type)},
      {"max_iter", std::to_string(p.max_iter)},
      {"tol", exact(p.tol)},
      {"reg_covar", exact(p.reg_covar)},
      {"init", to_string(p.init)},
      {"n_init", std::to_string(p.n_init)},
      {"seed", std::to_string(p.seed)},
      {"warm_start", p.warm_start ? "true" : "false"},
      {"init_sample_size", std::to_string(p.init_sample_size)},
      {"init_kmeans_iter", std::to_string(p.init_kmeans_iter)},
      {"min_component_count", exact(p.min_component_count)},
      {"weights_init", array_digest(p.weights_init)},
      {"means_init", array_digest(p.means_init)},
      {"precisions_init", array_digest(p.precisions_init)},
  };
}

void fit_distributed(GaussianMixture& gm, const DataSource& local, const float* sample_weight,
                     MpiCommunicator& comm) {
  const MPI_Comm c = comm.comm();
  const Params& p = gm.params();
  // 1. Shape, weights and parameters agree across ranks.
  Record mine = {{"dim", std::to_string(local.dim())}, {"backend", effective_backend(p)}};
  for (auto& kv : model_defining_params(p)) mine.push_back(std::move(kv));
  if (p.warm_start) {
    const Model& m = gm.model();
    std::uint64_t h = fnv1a(m.weights.data(), m.weights.size() * sizeof(double));
    h = fnv1a(m.means.data(), m.means.size() * sizeof(double), h);
    h = fnv1a(m.covariances.data(), m.covariances.size() * sizeof(double), h);
    std::ostringstream o;
    o << (m.empty() ? std::string("none") : "K=" + std::to_string(m.n_components)) << ", hash " << std::hex << h;
    mine.emplace_back("warm_start model", o.str());
  }
  const std::string extra = "rows=" + std::to_string(local.rows()) + "\nsample_weight=" +
                            (sample_weight ? "1" : "0") + "\nsource=" + local.describe() + "\n";
  const std::vector<std::string> all = allgather_strings(c, encode(mine) + extra);
  std::vector<Record> recs;
  for (const auto& s : all) recs.push_back(decode(s));
  const std::string disagreement = first_disagreement(recs, mine);
  if (!disagreement.empty()) throw CollectiveError(disagreement);
  // Weights: all ranks with rows pass them or none does. A rank with no rows may pass nullptr
  // either way (an empty vector's data() often is); it then gets a dummy pointer for the core.
  int with_w = -1, without_w = -1;
  std::int64_t n_total = 0, offset = 0;
  for (size_t r = 0; r < recs.size(); ++r) {
    const std::int64_t n = std::stoll(value_of(recs[r], "rows"));
    if ((int)r < comm.rank()) offset += n;
    n_total += n;
    if (n == 0) continue;
    int& slot = value_of(recs[r], "sample_weight") == "1" ? with_w : without_w;
    if (slot < 0) slot = (int)r;
  }
  if (with_w >= 0 && without_w >= 0)
    throw CollectiveError("ranks disagree on sample weights: rank " + std::to_string(with_w) +
                          " passes them, rank " + std::to_string(without_w) + " does not");
  static const float kNoRows = 0.0f;
  if (with_w >= 0 && local.rows() == 0) sample_weight = &kNoRows;
  if (with_w < 0) sample_weight = nullptr;

  // 2. The parameters against the global shape (same inputs everywhere, so the same verdict
  //    everywhere).
  try {
    FLASHGMM_CHECK(n_total > 0, "no rank has any rows");
    p.validate(local.dim());
    FLASHGMM_CHECK(n_total >= p.n_components, "Expected n_samples >= n_components but got n_components = "
                                                  << p.n_components << ", n_samples = " << n_total
                                                  << " (over " << comm.size() << " ranks)");
  } catch (const Error& e) {
    throw CollectiveError(e.what());
  }

  // 3. Local data and weights, one error per rank, exchanged.
  std::string err;
  double wsum = 0;
  try {
    checks::require_finite(local, p.chunk_rows, offset);
    if (sample_weight) wsum = checks::require_valid_weights(sample_weight, local.rows());
  } catch (const Error& e) {
    err = std::string(e.what()) + " (" + local.describe() + ")";
  }
  agree_or_throw(c, err);
  if (sample_weight) {
    comm.allreduce_sum(&wsum, 1);
    if (!(wsum > 0)) throw CollectiveError("sample_weight sums to zero over all ranks");
  }
  gm.fit(local, sample_weight, comm);
}

}  // namespace flashgmm::mpi
