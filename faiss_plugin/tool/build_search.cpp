// flashgmm-ivf build / search.
#include <chrono>
#include <cstdio>

#include "commands.hpp"
#include "flashgmm/error.hpp"
#include "tool_io.hpp"

namespace flashgmm_ivf_tool {

using flashgmm::ivf::GmmIvfIndex;
using idx_t = faiss::Index::idx_t;

flashgmm::ivf::GmmIvfParams make_params(const GmmOptions& o) {
  FLASHGMM_CHECK(o.nlist >= 1, "--nlist must be >= 1, got " << o.nlist);
  flashgmm::ivf::GmmIvfParams p;
  p.gmm.covariance_type = flashgmm::parse_covariance_type(o.covariance);
  p.gmm.backend = flashgmm::parse_backend(o.device);
  p.gmm.reg_covar = o.reg_covar;
  p.centroids = flashgmm::ivf::parse_centroid_source(o.centroids);
  p.gmm.init_sample_size = o.init_sample_size;
  p.gmm.init_kmeans_iter = o.init_iter;
  p.cp.niter = o.niter;
  p.cp.seed = o.seed;
  p.cp.max_points_per_centroid = o.max_points_per_centroid;
  p.cp.verbose = o.verbose;
  p.assign.max_copies = o.max_copies;
  p.assign.min_posterior = o.min_posterior;
  p.assign.rule = flashgmm::ivf::parse_spill_rule(o.spill);
  p.assign.soar_lambda = o.soar_lambda;
  p.assign.candidates = o.candidates;
  p.assign.spill_fraction = o.spill_fraction;
  p.assign.spill_ratio = o.spill_ratio;
  p.assign.neighbors = o.neighbors;
  p.assign.cost_weight = o.cost_weight;
  p.assign.probe_depth = o.probe_depth;
  p.assign.search_nprobe = o.search_nprobe;
  p.assign.max_entries_ratio = o.max_entries;
  p.assign.pseudo_query_fraction = o.pseudo_queries;
  p.centroid_niter = o.centroid_niter;
  p.centroid_max_points_per_centroid = o.centroid_max_points;
  FLASHGMM_CHECK(o.refine == 0 || o.refine == 1, "--refine must be 0 or 1, got " << o.refine);
  p.refine_centroids = o.refine == 1;
  p.refine_pseudo_query_fraction = o.refine_pseudo_queries;
  p.routing.order = flashgmm::ivf::parse_probe_order(o.routing);
  p.routing.probe_mass = o.probe_mass;
  p.routing.temperature = o.temperature;
  p.validate();
  return p;
}

int run_build(const BuildOptions& o) {
  const Matrix x = load_matrix(o.data, "data");
  const std::string key = expand_key(o.gmm.index_key, o.gmm.nlist);
  FLASHGMM_CHECK(x.rows >= o.gmm.nlist, "data has " << x.rows << " rows, fewer than --nlist " << o.gmm.nlist);
  GmmIvfIndex index(x.dim, key, make_params(o.gmm));
  std::fprintf(stderr, "training %s GMM quantizer (%s, K=%d) on %lld x %d ...\n", o.gmm.covariance.c_str(),
               key.c_str(), o.gmm.nlist, static_cast<long long>(x.rows), x.dim);
  index.train(x.rows, x.data.data());
  const auto t0 = std::chrono::steady_clock::now();
  Progress bar("adding", x.rows);
  // The neighbors rule assigns each add() call as one batch (its rows are one another's queries).
  const idx_t chunk = index.params().assign.rule == flashgmm::ivf::SpillRule::neighbors ? x.rows : 65536;
  for (idx_t c0 = 0; c0 < x.rows; c0 += chunk) {
    const idx_t nc = std::min(chunk, x.rows - c0);
    index.add(nc, x.data.data() + c0 * x.dim);
    bar.update(c0 + nc);
  }
  bar.finish();
  const double add_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  index.save(o.out);
  std::printf("index %s: %lld vectors, %lld list entries (%.3f per vector), imbalance %.3f, train %.2f s, add %.2f s\n",
              o.out.c_str(), static_cast<long long>(index.n_vectors()), static_cast<long long>(index.n_entries()),
              static_cast<double>(index.n_entries()) / static_cast<double>(index.n_vectors()), index.imbalance_factor(),
              index.train_seconds(), add_s);
  std::printf("mixture sidecar %s\n", GmmIvfIndex::sidecar_path(o.out).c_str());
  return 0;
}

int run_search(const SearchOptions& o) {
  FLASHGMM_CHECK(o.k >= 1, "--k must be >= 1");
  FLASHGMM_CHECK(o.nprobe >= 1, "--nprobe must be >= 1");
  GmmIvfIndex index = GmmIvfIndex::load(o.index);
  const Matrix q = load_matrix(o.queries, "queries");
  FLASHGMM_CHECK(q.dim == index.dim(), "queries have dimension " << q.dim << ", the index " << index.dim());
  if (o.probe_mass >= 0) {
    flashgmm::ivf::RoutingParams r = index.params().routing;
    r.probe_mass = o.probe_mass;
    index.set_routing(r);
  }
  std::vector<float> dis(static_cast<size_t>(q.rows) * o.k);
  std::vector<idx_t> ids(dis.size());
  flashgmm::ivf::SearchStats st;
  index.search(q.rows, q.data.data(), o.k, dis.data(), ids.data(), o.nprobe, &st);
  write_ids(o.out, std::vector<std::int64_t>(ids.begin(), ids.end()), q.rows, o.k);
  std::printf("%lld queries, k=%d, nprobe=%d: %.1f distance computations and %.2f lists per query, %.0f QPS -> %s\n",
              static_cast<long long>(q.rows), o.k, o.nprobe, static_cast<double>(st.ndis) / q.rows,
              static_cast<double>(st.lists_probed) / q.rows, q.rows / std::max(st.seconds, 1e-9), o.out.c_str());
  return 0;
}

}  // namespace flashgmm_ivf_tool
