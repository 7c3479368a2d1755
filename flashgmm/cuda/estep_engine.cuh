// flashgmm CUDA backend: the E-step engine. It owns the component parameters in device form, the
// per-pass float64 statistics accumulators and the bounded work buffers, and runs E-steps over
// rows that are already on the device. Two paths compute the same statistics:
//  - the chunked path (chunk_path.cu): rows in chunks of at most `chunk_rows_` rows; logits of a
//    chunk by cuBLAS, a per-row soft-max kernel, statistics by cuBLAS; handles every covariance
//    type, both precisions and every per-row output. Work memory is bounded (never N×K).
//  - the fused path (fused_path.cu): spherical and diagonal covariances in fast precision with
//    bf16 tensor-core kernels that never write logits to memory (log Z per row, then statistics).
//  - the fused full-covariance path (full_path.cu): full covariance in fast precision, D ≤ 128,
//    fp16/bf16 tensor-core kernels (log Z per row, then statistics per component).
//  - the cluster path (cluster_path.cu, sm_90): spherical in fast precision, one pass over the
//    rows per E-step with thread-block clusters sharing log Z through distributed shared memory.
// Statistics of one pass are accumulated in float64 on the device in a fixed order, so a pass is
// bitwise repeatable (no floating-point atomics anywhere).
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "cuda/device_memory.cuh"
#include "flashgmm/backend.hpp"

namespace flashgmm::cuda {

/// Component parameters prepared for the kernels (float32 on the device).
/// Logit of row i under component k (y = x − center):
///   spherical  c_k + y·bmat_k + rowcoef_k·‖y‖²           bmat_k = p_k μ_k, rowcoef_k = −½p_k
///   diag       c_k + [y, y²]·bmat_k                      bmat_k = [p_k∘μ_k, −½p_k]
///   tied       c_k + z·bmat_k − ½‖z‖²,  z = yP           bmat_k = μ_kP
///   full       c_k − ½‖yP_k − bmat_k‖²                   bmat_k = μ_kP_k
struct DeviceModel {
  CovarianceType type = CovarianceType::full;
  int k = 0, d = 0;
  int dl = 0;   ///< columns of bmat (2D for diag, D otherwise)
  int dg = 0;   ///< columns of the feature matrix G of the chunked path (see chunk_path.cu)
  int one_col = 0;  ///< column of G that holds 1 (its moment is N_k)
  DeviceArray<float> center, bmat, c, rowcoef, prec;
};

class EstepEngine {
 public:
  EstepEngine(const Params& p, int dim, MemoryTracker& mem, cudaStream_t stream);
  ~EstepEngine();
  EstepEngine(const EstepEngine&) = delete;
  EstepEngine& operator=(const EstepEngine&) = delete;

  void set_params(const ComponentParams& p);
  bool has_params() const { return model_.k > 0; }
  int n_components() const { return model_.k; }

  /// Zeroes the pass accumulators.
  void begin_pass();
  /// E-step over n rows at device address x (row-major float32, n·D), optional device weights
  /// w (nullptr = 1). Requested host outputs are written at global rows [row0, row0 + n).
  /// Work is queued on the engine's stream; returns before it finishes unless outputs are
  /// requested.
  void run(const float* x, const float* w, std::int64_t n, const RowOutputs& rows,
           std::int64_t row0, bool want_stats);
  /// Waits for the pass and adds its statistics to *stats (log-likelihood, N_k, moments).
  void end_pass(SuffStats* stats);

  /// Device bytes the work buffers need for chunks of up to `rows` rows (for budgeting).
  std::int64_t workspace_bytes(std::int64_t rows) const;
  /// Device bytes the work buffers hold now.
  std::int64_t workspace_in_use() const;
  /// Which path run() takes for these outputs ("fused" or "chunked").
  bool uses_fused_path(const RowOutputs& rows) const;
  /// Whether the current parameters run with bf16 products (Precision::fast and the parameters
  /// pass fast_products_ok(); otherwise float32 products, see fast_precision_guard.hpp).
  bool bf16_products() const { return bf16_products_; }
  /// Kernels the current parameters run with when no per-row outputs beyond log Z are asked:
  /// "cluster", "fused" or "chunked".
  const char* kernel_path() const {
    return cluster_active_                                    ? "cluster"
           : fused_supported() || full_fused_supported() ? "fused"
                                                          : "chunked";
  }
  /// set_params calls in fast precision whose parameters needed float32 products.
  std::int64_t fast_fallbacks() const { return fast_fallbacks_; }

 private:
  // chunked path (chunk_path.cu)
  void ensure_chunk_workspace(std::int64_t rows);
  void run_chunk(const float* x, const float* w, std::int64_t n, const RowOutputs& rows,
                 std::int64_t row0, bool want_stats);
  void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float* a,
            int lda, const float* b, int ldb, float* c, int ldc, float beta = 0.0f);
  void gemm_batched(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                    const float* a, int lda, long long sa, const float* b, int ldb, long long sb,
                    float* c, int ldc, long long sc, int batch);
  // fused path (fused_path.cu)
  bool fused_supported() const;        ///< fused path usable now (shape, bf16 products)
  bool fused_shape_supported() const;  ///< fused path usable for this shape in fast precision
  std::int64_t fused_workspace_bytes(std::int64_t rows) const;
  void ensure_cublas_workspace();
  void prepare_fused_params();
  void run_fused(const float* x, const float* w, std::int64_t n, const RowOutputs& rows,
                 std::int64_t row0, bool want_stats);
  // fused full-covariance path (full_path.cu)
  bool full_fused_supported() const;        ///< usable now (shape, fast products)
  bool full_fused_shape_supported() const;  ///< full covariance, fast precision, D ≤ 128
  std::int64_t full_fused_workspace_bytes(std::int64_t rows) const;
  void prepare_full_params(const ComponentParams& p);
  void run_full_fused(const float* x, const float* w, std::int64_t n, const RowOutputs& rows,
                      std::int64_t row0, bool want_stats);
  // cluster path (cluster_path.cu)
  bool cluster_supported() const;  ///< sm_90, spherical, fast, D ≤ 128, K ≤ 2048
  void prepare_cluster_params();
  void run_cluster(const float* x, const float* w, std::int64_t n, const RowOutputs& rows,
                   std::int64_t row0, bool want_stats);

  Params params_;
  int dim_;
  MemoryTracker& mem_;
  cudaStream_t stream_;
  cublasHandle_t cublas_ = nullptr;
  DeviceArray<char> cublas_workspace_;
  DeviceModel model_;
  int sm_count_ = 0;
  int cc_major_ = 0;
  bool bf16_products_ = false;       ///< fast precision and parameters that tolerate bf16
  std::int64_t fast_fallbacks_ = 0;  ///< fast-precision parameter sets computed in float32

  // pass accumulators (float64)
  DeviceArray<double> acc_nk_, acc_sx_, acc_sxx_, acc_ll_;

  // chunked-path work buffers, sized for chunk_cap_ rows
  std::int64_t chunk_rows_ = 0;   ///< rows per chunk for this K, D
  std::int64_t chunk_cap_ = 0;    ///< rows the buffers below hold now
  int comp_batch_ = 0;            ///< full covariance: components per batched product
  DeviceArray<float> g_, logits_, z_, rowscalar_, moments_, sxx_chunk_, wy_;
  DeviceArray<double> logz_dev_, rowll_;
  DeviceArray<std::int32_t> top_ids_dev_;
  DeviceArray<float> top_probs_dev_, proba_dev_;
  int top_cap_ = 0;
  bool proba_alloc_ = false;

  // fused-path buffers
  DeviceArray<__nv_bfloat16> fused_means_;  ///< K_pad × F_pad bf16 operands (bmat rows)
  DeviceArray<float> fused_c_, fused_rowcoef_, fused_logz_, fused_partials_;
  DeviceArray<double> fused_ll_, fused_logz_out_;
  DeviceArray<__nv_bfloat16> fused_feats_;  ///< one segment's bf16 features (kernel 1 → 2)
  DeviceArray<__nv_bfloat16> fused_tiles_;  ///< the operands tile-major (wgmma log Z kernel)
  DeviceArray<float> fused_tile_consts_;
  std::int64_t fused_seg_rows_ = 0;
  int fused_kpad_ = 0, fused_fpad_ = 0;

  // fused full-covariance buffers
  DeviceArray<__half> full_factors_;  ///< K × DP × DP fp16 precision factors (scaled, transposed)
  DeviceArray<float> full_bvec_, full_mus_, full_consts_;
  DeviceArray<__half> full_feats_;  ///< one segment's fp16 features (kernel 1 → 2)

  // cluster-path parameters (decided at set_params)
  bool cluster_active_ = false;
  DeviceArray<__half> cluster_params_;  ///< K_pad × F_pad fp16 operands b_k / t_k
  DeviceArray<float> cluster_consts_;   ///< [c'_k, rowcoef_k, t_k] × K_pad
  int cluster_kpad_ = 0, cluster_fpad_ = 0;
};

}  // namespace flashgmm::cuda
