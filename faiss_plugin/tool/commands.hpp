// flashgmm-ivf subcommands.
#pragma once

#include <string>

#include "flashgmm_faiss/gmm_clustering.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"

namespace flashgmm_ivf_tool {

/// Options shared by build and eval: how the GMM index is trained and filled.
struct GmmOptions {
  int nlist = 1024;
  std::string index_key = "IVF{nlist},Flat";
  std::string covariance = "spherical";
  std::string centroids = flashgmm::ivf::to_string(flashgmm::ivf::GmmIvfParams().centroids);
  double reg_covar = flashgmm::ivf::default_quantizer_params().reg_covar;
  std::int64_t init_sample_size = flashgmm::ivf::default_quantizer_params().init_sample_size;
  int init_iter = flashgmm::ivf::default_quantizer_params().init_kmeans_iter;
  int max_copies = flashgmm::ivf::MultiAssignParams().max_copies;
  float min_posterior = flashgmm::ivf::MultiAssignParams().min_posterior;
  std::string spill = flashgmm::ivf::to_string(flashgmm::ivf::MultiAssignParams().rule);
  float soar_lambda = flashgmm::ivf::MultiAssignParams().soar_lambda;
  int candidates = flashgmm::ivf::MultiAssignParams().candidates;
  float spill_fraction = flashgmm::ivf::MultiAssignParams().spill_fraction;
  float spill_ratio = flashgmm::ivf::MultiAssignParams().spill_ratio;
  int neighbors = flashgmm::ivf::MultiAssignParams().neighbors;
  float cost_weight = flashgmm::ivf::MultiAssignParams().cost_weight;
  int probe_depth = flashgmm::ivf::MultiAssignParams().probe_depth;
  int search_nprobe = flashgmm::ivf::MultiAssignParams().search_nprobe;
  float max_entries = flashgmm::ivf::MultiAssignParams().max_entries_ratio;
  float pseudo_queries = flashgmm::ivf::MultiAssignParams().pseudo_query_fraction;
  int centroid_niter = flashgmm::ivf::GmmIvfParams().centroid_niter;
  int centroid_max_points = flashgmm::ivf::GmmIvfParams().centroid_max_points_per_centroid;
  int refine = flashgmm::ivf::GmmIvfParams().refine_centroids ? 1 : 0;
  float refine_pseudo_queries = flashgmm::ivf::GmmIvfParams().refine_pseudo_query_fraction;
  std::string routing = "l2";
  double probe_mass = 1.0;
  double temperature = 1.0;
  std::string device = "cpu";
  int niter = 10;                      // FAISS's default for IVF quantizers
  int max_points_per_centroid = 256;   // FAISS's default training subsample
  int seed = 1234;
  bool verbose = false;
};
flashgmm::ivf::GmmIvfParams make_params(const GmmOptions& o);

struct BuildOptions {
  std::string data, out;
  GmmOptions gmm;
};
int run_build(const BuildOptions& o);

struct SearchOptions {
  std::string index, queries, out;
  int k = 10;
  int nprobe = 1;
  double probe_mass = -1;  // < 0: as stored
};
int run_search(const SearchOptions& o);

struct EvalOptions {
  std::string data, queries, gt, csv, plot, name;
  int k = 10;  // recall@k used for the summary (1, 10 or 100)
  std::string nprobe = "1,2,4,8,16,32,64,128";
  std::string probe_masses;  // optional adaptive sweep (method gmm-adaptive)
  double target_recall = 0.9;
  int kmeans_niter = 0;  // FAISS k-means iterations of the baselines; 0 = --niter
  bool json = false;
  GmmOptions gmm;
};
int run_eval(const EvalOptions& o);

}  // namespace flashgmm_ivf_tool
