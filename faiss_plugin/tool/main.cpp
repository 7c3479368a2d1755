// flashgmm-ivf: build, search and evaluate GMM multi-assignment IVF indexes.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <faiss/impl/FaissException.h>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "flashgmm/error.hpp"

using namespace flashgmm_ivf_tool;

namespace {

void add_gmm_options(CLI::App* app, GmmOptions& g) {
  app->add_option("--nlist", g.nlist, "number of inverted lists (mixture components)")->required();
  app->add_option("--index", g.index_key, "FAISS factory key of the IVF index; {nlist} is replaced")
      ->capture_default_str();
  app->add_option("--covariance", g.covariance, "mixture covariance: spherical, diag, full, tied")
      ->capture_default_str();
  app->add_option("--centroids", g.centroids,
                  "IVF centroids: kmeans (FAISS k-means, mixture fitted from them) or mixture (the GMM means)")
      ->capture_default_str();
  app->add_option("--reg-covar", g.reg_covar,
                  "added to every variance: a floor that keeps components' spreads (and lists) comparable")
      ->capture_default_str();
  app->add_option("--init-sample-size", g.init_sample_size,
                  "rows for the k-means initialisation of EM (0 = automatic, see flashgmm::Params)")
      ->capture_default_str();
  app->add_option("--init-iter", g.init_iter, "Lloyd iterations of the k-means initialisation of EM")
      ->capture_default_str();
  app->add_option("--max-copies", g.max_copies, "lists per vector at most (1 = no multi-assignment)")
      ->capture_default_str();
  app->add_option("--spill", g.spill,
                  "how each vector's lists are chosen: neighbors (reverse-neighbour benefit vs scan cost), soar "
                  "(residual-aware L2 spilling) or posterior")
      ->capture_default_str();
  app->add_option("--min-posterior", g.min_posterior, "posterior rule: posterior a further list needs")
      ->capture_default_str();
  app->add_option("--soar-lambda", g.soar_lambda, "soar rule: penalty on residuals parallel to the primary one")
      ->capture_default_str();
  app->add_option("--candidates", g.candidates, "neighbors / soar rules: nearest lists considered")
      ->capture_default_str();
  app->add_option("--spill-fraction", g.spill_fraction,
                  "soar rule: at most this fraction of vectors get extra copies (entries <= N(1 + f(max_copies-1)))")
      ->capture_default_str();
  app->add_option("--spill-ratio", g.spill_ratio,
                  "soar rule: and only vectors whose best extra list scores <= this x their primary distance (inf = no limit)")
      ->capture_default_str();
  app->add_option("--neighbors", g.neighbors, "neighbors rule: neighbours per pseudo-query")->capture_default_str();
  app->add_option("--cost-weight", g.cost_weight, "neighbors rule: weight of the scan cost against the benefit")
      ->capture_default_str();
  app->add_option("--pseudo-queries", g.pseudo_queries,
                  "neighbors rule: share of the rows used as pseudo-queries (less = faster build)")
      ->capture_default_str();
  app->add_option("--probe-depth", g.probe_depth, "neighbors rule: central probe depth (0 = nlist/64)")
      ->capture_default_str();
  app->add_option("--search-nprobe", g.search_nprobe,
                  "neighbors rule: lists probed by the neighbour search over the rows (0 = 4 x probe depth)")
      ->capture_default_str();
  app->add_option("--max-entries", g.max_entries,
                  "neighbors rule: index entries per vector at most (the cost weight rises until they fit; 0 = no bound)")
      ->capture_default_str();
  app->add_option("--centroid-niter", g.centroid_niter, "k-means iterations for the IVF centroids (0 = --niter)")
      ->capture_default_str();
  app->add_option("--centroid-max-points", g.centroid_max_points,
                  "k-means training points per list for the IVF centroids (0 = --max-points-per-centroid)")
      ->capture_default_str();
  app->add_option("--refine", g.refine,
                  "with --spill neighbors: move each k-means centroid once to the mean of its list (1) or not (0)")
      ->capture_default_str();
  app->add_option("--refine-pseudo-queries", g.refine_pseudo_queries,
                  "share of the training rows used as pseudo-queries by the refinement (less = faster train)")
      ->capture_default_str();
  app->add_option("--routing", g.routing, "query probe order: l2 or posterior")->capture_default_str();
  app->add_option("--probe-mass", g.probe_mass, "adaptive probing: stop at this posterior mass (1 = off)")
      ->capture_default_str();
  app->add_option("--temperature", g.temperature, "posterior temperature for adaptive probing")->capture_default_str();
  app->add_option("--device", g.device, "EM backend: cpu, cuda or auto")->capture_default_str();
  app->add_option("--niter", g.niter, "EM / k-means iterations")->capture_default_str();
  app->add_option("--max-points-per-centroid", g.max_points_per_centroid,
                  "training sample = nlist x this (FAISS's subsampling)")
      ->capture_default_str();
  app->add_option("--seed", g.seed, "random seed")->capture_default_str();
  app->add_flag("--verbose", g.verbose, "per-iteration training output");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flashgmm-ivf: IVF indexes with Gaussian-mixture coarse quantizers and multi-assignment lists"};
  app.require_subcommand(1);

  BuildOptions bo;
  CLI::App* build = app.add_subcommand("build", "train a GMM quantizer, add the data with multi-assignment, save");
  build->add_option("--data", bo.data, "vectors (.fvecs, .bvecs, .npy)")->required();
  build->add_option("--out", bo.out, "index file (the mixture goes to INDEX.gmm)")->required();
  add_gmm_options(build, bo.gmm);

  SearchOptions so;
  CLI::App* search = app.add_subcommand("search", "search a saved index (each id at most once per query)");
  search->add_option("--index", so.index, "index written by build")->required();
  search->add_option("--queries", so.queries, "query vectors (.fvecs, .bvecs, .npy)")->required();
  search->add_option("--k", so.k, "neighbours per query")->capture_default_str();
  search->add_option("--nprobe", so.nprobe, "lists to probe (upper bound with adaptive probing)")->capture_default_str();
  search->add_option("--probe-mass", so.probe_mass, "override the stored adaptive probing mass");
  search->add_option("--out", so.out, "neighbour ids (.ivecs int32 or .npy int64)")->required();

  EvalOptions eo;
  CLI::App* eval = app.add_subcommand("eval", "compare our multi-assignment IVF with FAISS k-means IVF (equal budget and FAISS defaults), top-2 spilling and k-means + SOAR");
  eval->add_option("--data", eo.data, "database vectors")->required();
  eval->add_option("--queries", eo.queries, "query vectors")->required();
  eval->add_option("--gt", eo.gt, "ground-truth neighbour ids (.ivecs); computed exactly when absent");
  eval->add_option("--k", eo.k, "recall@k used for the summary: 1, 10 or 100")->capture_default_str();
  eval->add_option("--nprobe", eo.nprobe, "nprobe values to sweep")->capture_default_str();
  eval->add_option("--probe-masses", eo.probe_masses,
                   "also sweep adaptive probing masses (method <ours>+adaptive, nprobe cap = largest --nprobe)");
  eval->add_option("--target-recall", eo.target_recall, "recall at which methods are compared")->capture_default_str();
  eval->add_option("--csv", eo.csv, "write every measured point to this CSV");
  eval->add_option("--plot", eo.plot, "PNG plot of recall vs distance computations (needs --csv, matplotlib)");
  eval->add_option("--name", eo.name, "data set name for the plot title");
  eval->add_option("--kmeans-niter", eo.kmeans_niter, "k-means iterations of the equal-budget FAISS baseline (0 = our centroids' iterations: --centroid-niter, or --niter with --centroids mixture)")
      ->capture_default_str();
  eval->add_flag("--json", eo.json, "print a JSON summary as the last line");
  add_gmm_options(eval, eo.gmm);

  // One exit-code scheme with the other tools (flashgmm/cli/exit_codes.hpp: 0 ok, 1 error, 2 usage).
  return flashgmm::cli::run_mapping_errors(app, "flashgmm-ivf", [&] {
    app.parse(argc, argv);
    try {
      if (*build) return run_build(bo);
      if (*search) return run_search(so);
      if (*eval) return run_eval(eo);
    } catch (const faiss::FaissException& e) {
      throw flashgmm::Error(std::string("FAISS: ") + e.what());
    }
    return flashgmm::cli::kExitOk;
  });
}
