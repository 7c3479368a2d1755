// flashgmm CUDA backend: the engine's shared parts (parameters, accumulators, path choice).
#include <cmath>

#include "cuda/cuda_check.cuh"
#include "cuda/estep_engine.cuh"
#include "cuda/fast_precision_guard.hpp"
#include "cuda/reduce_kernels.cuh"
#include "flashgmm/model.hpp"

namespace flashgmm::cuda {

EstepEngine::EstepEngine(const Params& p, int dim, MemoryTracker& mem, cudaStream_t stream)
    : params_(p), dim_(dim), mem_(mem), stream_(stream) {
  int dev = 0;
  FLASHGMM_CUDA_CHECK(cudaGetDevice(&dev));
  FLASHGMM_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, dev));
  FLASHGMM_CUDA_CHECK(cudaDeviceGetAttribute(&cc_major_, cudaDevAttrComputeCapabilityMajor, dev));
  FLASHGMM_CUBLAS_CHECK(cublasCreate(&cublas_));
  FLASHGMM_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  FLASHGMM_CUBLAS_CHECK(cublasSetPointerMode(cublas_, CUBLAS_POINTER_MODE_HOST));
}

// Our own workspace, so that cuBLAS's memory is counted in the peak and its results do not
// depend on what else runs (cuBLAS is bitwise reproducible for a fixed workspace and stream).
// Allocated at the first product: the fused path needs none.
void EstepEngine::ensure_cublas_workspace() {
  if (!cublas_workspace_.empty()) return;
  const std::size_t ws = 32u << 20;
  cublas_workspace_ = DeviceArray<char>(mem_, ws, "cuBLAS workspace");
  FLASHGMM_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_.get(), ws));
}

EstepEngine::~EstepEngine() {
  if (cublas_) cublasDestroy(cublas_);
}

namespace {
std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

template <typename T>
void upload(DeviceArray<T>& dst, MemoryTracker& mem, const std::vector<T>& src, const char* what,
            cudaStream_t s) {
  if (dst.size() != src.size()) dst = DeviceArray<T>(mem, src.size(), what);
  if (!src.empty())
    FLASHGMM_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.data(), src.size() * sizeof(T),
                                        cudaMemcpyHostToDevice, s));
  // The host vectors die at return: the copy must have happened.
  FLASHGMM_CUDA_CHECK(cudaStreamSynchronize(s));
}
}  // namespace

void EstepEngine::set_params(const ComponentParams& p) {
  const int k = p.n_components, d = p.dim;
  FLASHGMM_CHECK(d == dim_, "CUDA backend: component parameters have dimension "
                                << d << " but the backend was created for dimension " << dim_);
  FLASHGMM_CHECK(k >= 1, "CUDA backend: n_components must be >= 1, got " << k);
  const std::size_t kk = k, dd = d;
  FLASHGMM_CHECK(p.center.size() == dd && p.means.size() == kk * dd && p.log_norm.size() == kk &&
                     p.prec.size() == covariance_size(p.covariance_type, k, d),
                 "CUDA backend: component parameter arrays have the wrong sizes for K="
                     << k << ", D=" << d << ", covariance " << to_string(p.covariance_type));
  // bf16 row features are only as good as the components are wide (fast_precision_guard.hpp):
  // parameters that would make their logits wrong by more than a nat run in float32 instead.
  bf16_products_ = params_.precision == Precision::fast && fast_products_ok(p);
  if (params_.precision == Precision::fast && !bf16_products_) ++fast_fallbacks_;
  DeviceModel& m = model_;
  const bool changed_shape = m.k != k || m.type != p.covariance_type;
  m.type = p.covariance_type;
  m.k = k;
  m.d = d;
  std::vector<double> bmat, c(kk), rowcoef(kk, 0.0), prec;
  switch (m.type) {
    case CovarianceType::spherical:
      m.dl = d;
      bmat.resize(kk * dd);
      for (std::size_t j = 0; j < kk; ++j) {
        double pk = p.prec[j], mm = 0;
        for (std::size_t t = 0; t < dd; ++t) {
          const double mu = p.means[j * dd + t];
          bmat[j * dd + t] = pk * mu;
          mm += mu * mu;
        }
        c[j] = p.log_norm[j] - 0.5 * pk * mm;
        rowcoef[j] = -0.5 * pk;
      }
      break;
    case CovarianceType::diag:
      m.dl = 2 * d;
      bmat.resize(kk * 2 * dd);
      for (std::size_t j = 0; j < kk; ++j) {
        double acc = 0;
        for (std::size_t t = 0; t < dd; ++t) {
          const double mu = p.means[j * dd + t], pk = p.prec[j * dd + t];
          bmat[j * 2 * dd + t] = pk * mu;
          bmat[j * 2 * dd + dd + t] = -0.5 * pk;
          acc += pk * mu * mu;
        }
        c[j] = p.log_norm[j] - 0.5 * acc;
      }
      break;
    case CovarianceType::tied:
    case CovarianceType::full: {
      m.dl = d;
      const bool tied = m.type == CovarianceType::tied;
      bmat.resize(kk * dd);
      for (std::size_t j = 0; j < kk; ++j) {
        const double* pk = p.prec.data() + (tied ? 0 : j * dd * dd);
        double bb = 0;
        for (std::size_t col = 0; col < dd; ++col) {
          double s = 0;
          for (std::size_t t = 0; t < dd; ++t) s += p.means[j * dd + t] * pk[t * dd + col];
          bmat[j * dd + col] = s;
          bb += s * s;
        }
        c[j] = tied ? p.log_norm[j] - 0.5 * bb : p.log_norm[j];
        rowcoef[j] = tied ? -0.5 : 0.0;
      }
      prec = p.prec;
      break;
    }
  }
  // Feature matrix G of the chunked path: [y | extra moment columns | 1 | zero padding].
  switch (m.type) {
    case CovarianceType::spherical: m.one_col = d + 1; break;  // [y | ‖y‖² | 1]
    case CovarianceType::diag: m.one_col = 2 * d; break;       // [y | y² | 1]
    default: m.one_col = d; break;                             // [y | 1]
  }
  m.dg = (m.one_col + 1 + 3) / 4 * 4;
  upload(m.center, mem_, to_float(p.center), "component centre", stream_);
  upload(m.bmat, mem_, to_float(bmat), "component parameters", stream_);
  upload(m.c, mem_, to_float(c), "component constants", stream_);
  upload(m.rowcoef, mem_, to_float(rowcoef), "component constants", stream_);
  if (!prec.empty()) upload(m.prec, mem_, to_float(prec), "precision factors", stream_);

  if (changed_shape || acc_nk_.empty()) {
    const std::size_t n2 = covariance_size(m.type, k, d);
    acc_nk_ = DeviceArray<double>(mem_, kk, "statistics N_k");
    acc_sx_ = DeviceArray<double>(mem_, kk * dd, "statistics sum r x");
    acc_sxx_ = DeviceArray<double>(mem_, n2, "statistics second moments");
    acc_ll_ = DeviceArray<double>(mem_, 1, "log-likelihood");
    chunk_cap_ = 0;  // work buffers depend on K
    g_ = {}, logits_ = {}, z_ = {}, rowscalar_ = {}, rowll_ = {}, moments_ = {}, sxx_chunk_ = {},
    wy_ = {}, logz_dev_ = {}, top_ids_dev_ = {}, top_probs_dev_ = {}, proba_dev_ = {};
    top_cap_ = 0;
    proba_alloc_ = false;
  }
  // Rows per chunk: the logits (rows × K) and features (rows × dg) take at most 32 MiB each.
  const std::int64_t cap = (std::int64_t(8) << 20) / std::max<std::int64_t>(k, m.dg);
  chunk_rows_ = std::max<std::int64_t>(64, std::min<std::int64_t>(65536, cap));
  cluster_active_ = cluster_supported();
  if (cluster_active_) prepare_cluster_params();
  else if (fused_supported()) prepare_fused_params();
  else if (full_fused_supported()) prepare_full_params(p);
  begin_pass();
}

void EstepEngine::begin_pass() {
  if (!has_params()) return;
  FLASHGMM_CUDA_CHECK(cudaMemsetAsync(acc_nk_.get(), 0, acc_nk_.bytes(), stream_));
  FLASHGMM_CUDA_CHECK(cudaMemsetAsync(acc_sx_.get(), 0, acc_sx_.bytes(), stream_));
  FLASHGMM_CUDA_CHECK(cudaMemsetAsync(acc_sxx_.get(), 0, acc_sxx_.bytes(), stream_));
  FLASHGMM_CUDA_CHECK(cudaMemsetAsync(acc_ll_.get(), 0, acc_ll_.bytes(), stream_));
}

bool EstepEngine::uses_fused_path(const RowOutputs& rows) const {
  const bool extra_outputs = rows.top_m > 0 || rows.proba != nullptr;
  return !extra_outputs && (fused_supported() || full_fused_supported());
}

void EstepEngine::run(const float* x, const float* w, std::int64_t n, const RowOutputs& rows,
                      std::int64_t row0, bool want_stats) {
  FLASHGMM_CHECK(has_params(), "CUDA backend: estep called before set_params");
  if (n <= 0) return;
  FLASHGMM_CHECK(rows.top_m >= 0 && rows.top_m <= model_.k,
                 "RowOutputs::top_m must be in [0, K=" << model_.k << "], got " << rows.top_m);
  FLASHGMM_CHECK(rows.top_m == 0 || rows.top_ids || rows.top_probs,
                 "RowOutputs::top_m > 0 needs top_ids or top_probs");
  if (uses_fused_path(rows)) {
    if (cluster_active_) run_cluster(x, w, n, rows, row0, want_stats);
    else if (full_fused_supported()) run_full_fused(x, w, n, rows, row0, want_stats);
    else run_fused(x, w, n, rows, row0, want_stats);
    return;
  }
  for (std::int64_t b = 0; b < n; b += chunk_rows_) {
    const std::int64_t cnt = std::min(chunk_rows_, n - b);
    run_chunk(x + b * dim_, w ? w + b : nullptr, cnt, rows, row0 + b, want_stats);
  }
}

void EstepEngine::end_pass(SuffStats* stats) {
  FLASHGMM_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (!stats) return;
  const DeviceModel& m = model_;
  if (stats->nk.size() != std::size_t(m.k) || stats->dim != m.d ||
      stats->covariance_type != m.type) {
    FLASHGMM_CHECK(stats->nk.empty() && stats->sx.empty(),
                   "CUDA backend: SuffStats has shapes for another model (K="
                       << stats->n_components << ", D=" << stats->dim << ")");
    stats->reset(m.type, m.k, m.d);
  }
  std::vector<double> nk(acc_nk_.size()), sx(acc_sx_.size()), sxx(acc_sxx_.size());
  double ll = 0;
  FLASHGMM_CUDA_CHECK(cudaMemcpy(nk.data(), acc_nk_.get(), acc_nk_.bytes(), cudaMemcpyDeviceToHost));
  FLASHGMM_CUDA_CHECK(cudaMemcpy(sx.data(), acc_sx_.get(), acc_sx_.bytes(), cudaMemcpyDeviceToHost));
  FLASHGMM_CUDA_CHECK(
      cudaMemcpy(sxx.data(), acc_sxx_.get(), acc_sxx_.bytes(), cudaMemcpyDeviceToHost));
  FLASHGMM_CUDA_CHECK(cudaMemcpy(&ll, acc_ll_.get(), sizeof(double), cudaMemcpyDeviceToHost));
  for (std::size_t i = 0; i < nk.size(); ++i) stats->nk[i] += nk[i];
  for (std::size_t i = 0; i < sx.size(); ++i) stats->sx[i] += sx[i];
  for (std::size_t i = 0; i < sxx.size(); ++i) stats->sxx[i] += sxx[i];
  stats->log_likelihood += ll;
}

std::int64_t EstepEngine::workspace_bytes(std::int64_t rows) const {
  if (!has_params() || rows <= 0) return 0;
  const std::int64_t r = std::min((rows + 255) / 256 * 256, chunk_rows_);
  const std::int64_t k = model_.k, dg = model_.dg, d = model_.d;
  std::int64_t b = r * (k + dg + 1 + 8 + 8) * 4 + k * dg * 4;
  if (model_.type == CovarianceType::full)
    b += std::min<std::int64_t>(k * r * d, 8 << 20) * 4 + std::min<std::int64_t>(k, std::max<std::int64_t>(1, (8 << 20) / (r * d))) * d * d * 4;
  if (model_.type == CovarianceType::tied) b += r * (d + dg) * 4 + d * d * 4;
  if (cublas_workspace_.empty()) b += 32 << 20;
  return b + fused_workspace_bytes(rows) + full_fused_workspace_bytes(rows);
}

std::int64_t EstepEngine::workspace_in_use() const {
  return std::int64_t(g_.bytes() + logits_.bytes() + z_.bytes() + rowscalar_.bytes() +
                      moments_.bytes() + sxx_chunk_.bytes() + wy_.bytes() + logz_dev_.bytes() +
                      rowll_.bytes() + top_ids_dev_.bytes() + top_probs_dev_.bytes() +
                      proba_dev_.bytes() + fused_logz_.bytes() + fused_partials_.bytes() +
                      fused_ll_.bytes() + fused_logz_out_.bytes() + fused_feats_.bytes() +
                      full_feats_.bytes());
}

}  // namespace flashgmm::cuda
