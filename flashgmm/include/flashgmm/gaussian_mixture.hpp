// flashgmm: the GaussianMixture estimator (scikit-learn's API, C++ types).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "flashgmm/backend.hpp"
#include "flashgmm/communicator.hpp"
#include "flashgmm/data_source.hpp"
#include "flashgmm/model.hpp"
#include "flashgmm/params.hpp"

namespace flashgmm {

/// One EM iteration as it happened.
struct IterationStats {
  int init = 0;                 ///< which restart (0-based)
  int iteration = 0;            ///< 1-based, as scikit-learn's n_iter_
  double lower_bound = 0.0;     ///< mean per-sample log-likelihood of the E-step's parameters
  double change = 0.0;          ///< lower_bound − previous (inf on the first iteration)
  double seconds = 0.0;         ///< wall time of the whole iteration (E-step + M-step)
  double estep_seconds = 0.0;
  int reseeded = 0;             ///< components re-seeded after this iteration's M-step
  std::int64_t peak_device_bytes = 0;
};

/// Summary of the last fit().
struct FitInfo {
  bool converged = false;
  int n_iter = 0;               ///< iterations of the kept restart
  double lower_bound = 0.0;     ///< its final mean per-sample log-likelihood
  int best_init = 0;
  int total_reseeded = 0;
  double seconds = 0.0;
  std::string backend;
  std::vector<IterationStats> history;  ///< every iteration of every restart
};

/// Called after every iteration; return false to stop the fit (it then throws Error
/// "fit interrupted"). Used for progress output and for Ctrl-C from Python.
using IterationCallback = std::function<bool(const IterationStats&)>;

class GaussianMixture {
 public:
  explicit GaussianMixture(Params params = Params());
  ~GaussianMixture();
  GaussianMixture(GaussianMixture&&) noexcept;
  GaussianMixture& operator=(GaussianMixture&&) noexcept;

  const Params& params() const { return params_; }
  /// Replaces the parameters (the fitted model stays; validated at the next fit).
  void set_params(const Params& p);

  /// Fits on an in-memory row-major float32 matrix; sample_weight (n, ≥ 0) may be null.
  void fit(const float* x, std::int64_t n, int d, const float* sample_weight = nullptr);
  /// Fits on a streamed source (memory use does not grow with N·K).
  void fit(const DataSource& data, const float* sample_weight = nullptr);
  /// Distributed fit: this process holds `local` (its shard, ranks in row order) and the
  /// statistics of every pass are summed over `comm`. Every rank ends with the same model, the
  /// one a single process would fit on the concatenated shards (up to summation order).
  void fit(const DataSource& local, const float* sample_weight, Communicator& comm);

  bool fitted() const { return !model_.empty(); }
  const Model& model() const { return model_; }
  /// Installs a model (e.g. loaded from disk); later calls predict with it, and a fit with
  /// warm_start continues from it.
  void set_model(Model m);
  const FitInfo& fit_info() const { return info_; }
  void set_iteration_callback(IterationCallback cb) { callback_ = std::move(cb); }

  // Accessors (scikit-learn attribute names).
  const std::vector<double>& weights() const { return model_.weights; }
  const std::vector<double>& means() const { return model_.means; }
  const std::vector<double>& covariances() const { return model_.covariances; }
  const std::vector<double>& precisions_cholesky() const { return model_.precisions_cholesky; }
  bool converged() const { return info_.converged; }
  int n_iter() const { return info_.n_iter; }
  double lower_bound() const { return info_.lower_bound; }

  // Inference on a batch of n rows (row-major float32, dim D). Memory is O(n·out + K·D).
  void predict(const float* x, std::int64_t n, std::int32_t* labels) const;
  /// out: n·K posteriors, row-major (the caller sizes the batch).
  void predict_proba(const float* x, std::int64_t n, float* out) const;
  /// The m most probable components of each row and their posteriors, best first.
  void predict_topk(const float* x, std::int64_t n, int m, std::int32_t* ids, float* probs) const;
  /// log p(x_i) per row.
  void score_samples(const float* x, std::int64_t n, double* out) const;
  /// Mean per-sample log-likelihood (weighted when w is given).
  double score(const float* x, std::int64_t n, const float* w = nullptr) const;
  double score(const DataSource& data) const;
  double bic(const float* x, std::int64_t n) const;
  double aic(const float* x, std::int64_t n) const;
  /// n samples (row-major, into x) and their components (labels, may be null).
  void sample(std::int64_t n, float* x, std::int32_t* labels, std::uint64_t seed) const;

  void save(const std::string& path) const { save_model(model_, path); }
  static GaussianMixture load(const std::string& path, Params params = Params());

 private:
  Backend& inference_backend() const;
  void require_fitted(int d) const;

  Params params_;
  Model model_;
  FitInfo info_;
  IterationCallback callback_;
  mutable std::unique_ptr<Backend> infer_backend_;  // lazily created, params loaded
};

}  // namespace flashgmm
