// flashgmm CUDA backend, chunked path: rows in bounded chunks. Per chunk:
//   1. features G = [y | moment columns | 1] with y = x − center (one warp per row);
//   2. logits by cuBLAS (tied: z = yP first; full: z_k = yP_k batched, then ‖z_k − b_k‖²);
//   3. one warp per row: log-sum-exp over K, log Z, top-m, posteriors; logits are overwritten
//      by w_i·r_ik in place;
//   4. moments Rᵀ·G by cuBLAS (N_k, Σr·y and the spherical/diagonal second moments in one
//      product), full covariance Σ r y yᵀ by batched products, tied Σ w y yᵀ by one product;
//      each chunk's float32 result is added to the float64 pass accumulators in a fixed order.
// Work memory is O(chunk·(K + D)), never N×K.
#include <cfloat>
#include <climits>

#include "cuda/cuda_check.cuh"
#include "cuda/estep_engine.cuh"
#include "cuda/reduce_kernels.cuh"

namespace flashgmm::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

int row_blocks(std::int64_t n) { return int((n + kWarpsPerBlock - 1) / kWarpsPerBlock); }

__global__ void prep_features_kernel(const float* __restrict__ x, int n, int d,
                                     const float* __restrict__ center, int type, float* g, int dg,
                                     int one_col, float* __restrict__ rowscalar) {
  const int row = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= n) return;
  const float* xr = x + std::int64_t(row) * d;
  float* gr = g + std::int64_t(row) * dg;
  float s = 0;
  for (int t = lane; t < d; t += 32) {
    const float y = xr[t] - center[t];
    gr[t] = y;
    s = fmaf(y, y, s);
    if (type == int(CovarianceType::diag)) gr[d + t] = y * y;
  }
  s = warp_sum(s);
  if (type == int(CovarianceType::spherical) && lane == 0) {
    gr[d] = s;
    rowscalar[row] = s;
  }
  for (int t = one_col + lane; t < dg; t += 32) gr[t] = t == one_col ? 1.0f : 0.0f;
}

__global__ void row_norms_kernel(const float* __restrict__ z, int n, int d, float* rowscalar) {
  const int row = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= n) return;
  const float* zr = z + std::int64_t(row) * d;
  float s = 0;
  for (int t = lane; t < d; t += 32) s = fmaf(zr[t], zr[t], s);
  s = warp_sum(s);
  if (lane == 0) rowscalar[row] = s;
}

// L[i, k0 + j] = ‖z_j[i] − b_{k0+j}‖² for a batch of kb components; one warp per (j, i).
__global__ void maha_kernel(const float* __restrict__ z, int n, int d, int kb,
                            const float* __restrict__ b, float* __restrict__ logits, int k,
                            int k0) {
  const std::int64_t wid = std::int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (wid >= std::int64_t(n) * kb) return;
  const int j = int(wid / n), i = int(wid % n);
  const float* zr = z + (std::int64_t(j) * n + i) * d;
  const float* br = b + std::int64_t(k0 + j) * d;
  float s = 0;
  for (int t = lane; t < d; t += 32) {
    const float u = zr[t] - br[t];
    s = fmaf(u, u, s);
  }
  s = warp_sum(s);
  if (lane == 0) logits[std::int64_t(i) * k + k0 + j] = s;
}

struct RowSoftmaxArgs {
  float* logits;  // n × K; on return w_i·r_ik
  int n, k;
  const float* c;
  const float* rowcoef;
  const float* rowscalar;  // nullable
  float scale;             // multiplies the raw logits (−½ for Mahalanobis distances)
  const float* w;          // nullable
  double* logz;            // nullable
  double* rowll;           // nullable: w_i·log Z_i
  int top_m;
  std::int32_t* top_ids;   // nullable
  float* top_probs;        // nullable
  float* proba;            // nullable
};

__global__ void row_softmax_kernel(RowSoftmaxArgs a) {
  const int row = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= a.n) return;
  float* l = a.logits + std::int64_t(row) * a.k;
  const float s = a.rowscalar ? a.rowscalar[row] : 0.0f;
  auto logit = [&](int j) {
    float v = fmaf(a.scale, l[j], a.c[j]);
    if (a.rowscalar) v = fmaf(a.rowcoef[j], s, v);
    return v;
  };
  float mx = -FLT_MAX;
  for (int j = lane; j < a.k; j += 32) mx = fmaxf(mx, logit(j));
  mx = warp_max(mx);
  float sum = 0;
  for (int j = lane; j < a.k; j += 32) sum += __expf(logit(j) - mx);
  sum = warp_sum(sum);
  const double lse = double(mx) + log(double(sum));
  const float lsef = float(lse);
  const float wi = a.w ? a.w[row] : 1.0f;
  if (lane == 0) {
    if (a.logz) a.logz[row] = lse;
    if (a.rowll) a.rowll[row] = double(wi) * lse;
  }
  // Top-m: m rounds of a warp arg-max over (value descending, index ascending).
  float prev_v = FLT_MAX;
  int prev_i = -1;
  for (int r = 0; r < a.top_m; ++r) {
    float bv = -FLT_MAX;
    int bi = INT_MAX;
    for (int j = lane; j < a.k; j += 32) {
      const float v = logit(j);
      const bool eligible = v < prev_v || (v == prev_v && j > prev_i);
      if (eligible && (v > bv || (v == bv && j < bi))) bv = v, bi = j;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (ov > bv || (ov == bv && oi < bi)) bv = ov, bi = oi;
    }
    if (lane == 0) {
      const bool ok = bi != INT_MAX;
      if (a.top_ids) a.top_ids[std::int64_t(row) * a.top_m + r] = ok ? bi : -1;
      if (a.top_probs) a.top_probs[std::int64_t(row) * a.top_m + r] = ok ? __expf(bv - lsef) : 0.0f;
    }
    prev_v = bv, prev_i = bi;
  }
  float* pr = a.proba ? a.proba + std::int64_t(row) * a.k : nullptr;
  for (int j = lane; j < a.k; j += 32) {
    const float p = __expf(logit(j) - lsef);
    if (pr) pr[j] = p;
    l[j] = wi * p;
  }
}

// moments (K × dg, row-major) → pass accumulators.
__global__ void accumulate_moments_kernel(const float* __restrict__ mom, int k, int d, int dg,
                                          int one_col, int type, double* nk, double* sx,
                                          double* sxx) {
  const std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= std::int64_t(k) * d) return;
  const int j = int(idx / d), t = int(idx % d);
  const float* mr = mom + std::int64_t(j) * dg;
  sx[idx] += double(mr[t]);
  if (type == int(CovarianceType::diag)) sxx[idx] += double(mr[d + t]);
  if (t == 0) {
    nk[j] += double(mr[one_col]);
    if (type == int(CovarianceType::spherical)) sxx[j] += double(mr[d]);
  }
}

// out_j[i][t] = R[i, k0+j] · y[i][t] for a batch of kb components (full covariance moments).
__global__ void scale_rows_kernel(const float* __restrict__ r, int k, int k0, int kb,
                                  const float* __restrict__ g, int dg, int n, int d,
                                  float* __restrict__ out) {
  const std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t per = std::int64_t(n) * d;
  if (idx >= per * kb) return;
  const int j = int(idx / per);
  const std::int64_t rem = idx % per;
  const int i = int(rem / d), t = int(rem % d);
  out[idx] = r[std::int64_t(i) * k + k0 + j] * g[std::int64_t(i) * dg + t];
}

// out[i][t] = w_i · g[i][t] (tied covariance: Σ w y yᵀ).
__global__ void weight_rows_kernel(const float* __restrict__ w, const float* __restrict__ g,
                                   int dg, int n, float* __restrict__ out) {
  const std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= std::int64_t(n) * dg) return;
  out[idx] = w[idx / dg] * g[idx];
}

int blocks_for(std::int64_t n, int threads) { return int((n + threads - 1) / threads); }

}  // namespace

void EstepEngine::gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                       const float* a, int lda, const float* b, int ldb, float* c, int ldc,
                       float beta) {
  ensure_cublas_workspace();
  const float alpha = 1.0f;
  const cublasComputeType_t ct = bf16_products_
                                     ? CUBLAS_COMPUTE_32F_FAST_16BF
                                     : CUBLAS_COMPUTE_32F;
  FLASHGMM_CUBLAS_CHECK(cublasGemmEx(cublas_, ta, tb, m, n, k, &alpha, a, CUDA_R_32F, lda, b,
                                     CUDA_R_32F, ldb, &beta, c, CUDA_R_32F, ldc, ct,
                                     CUBLAS_GEMM_DEFAULT));
}

void EstepEngine::gemm_batched(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                               const float* a, int lda, long long sa, const float* b, int ldb,
                               long long sb, float* c, int ldc, long long sc, int batch) {
  ensure_cublas_workspace();
  const float alpha = 1.0f, beta = 0.0f;
  const cublasComputeType_t ct = bf16_products_
                                     ? CUBLAS_COMPUTE_32F_FAST_16BF
                                     : CUBLAS_COMPUTE_32F;
  FLASHGMM_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      cublas_, ta, tb, m, n, k, &alpha, a, CUDA_R_32F, lda, sa, b, CUDA_R_32F, ldb, sb, &beta, c,
      CUDA_R_32F, ldc, sc, batch, ct, CUBLAS_GEMM_DEFAULT));
}

void EstepEngine::ensure_chunk_workspace(std::int64_t rows) {
  const DeviceModel& m = model_;
  const std::int64_t need = std::min(rows, chunk_rows_);
  if (need <= chunk_cap_) return;
  // Sized to the request (rounded up), so that small streamed chunks keep the footprint small.
  const std::int64_t cap = std::min(chunk_rows_, (need + 255) / 256 * 256);
  const std::int64_t k = m.k, d = m.d;
  g_ = {}, logits_ = {}, z_ = {}, rowscalar_ = {}, rowll_ = {}, moments_ = {}, sxx_chunk_ = {},
  wy_ = {}, logz_dev_ = {}, top_ids_dev_ = {}, top_probs_dev_ = {}, proba_dev_ = {};
  top_cap_ = 0;
  proba_alloc_ = false;
  g_ = DeviceArray<float>(mem_, cap * m.dg, "chunk features");
  logits_ = DeviceArray<float>(mem_, cap * k, "chunk logits");
  rowscalar_ = DeviceArray<float>(mem_, cap, "chunk row norms");
  rowll_ = DeviceArray<double>(mem_, cap, "chunk row log-likelihoods");
  logz_dev_ = DeviceArray<double>(mem_, cap, "chunk log Z");
  moments_ = DeviceArray<float>(mem_, k * m.dg, "chunk moments");
  if (m.type == CovarianceType::tied) {
    z_ = DeviceArray<float>(mem_, cap * d, "chunk whitened rows");
    wy_ = DeviceArray<float>(mem_, cap * m.dg, "chunk weighted rows");
    sxx_chunk_ = DeviceArray<float>(mem_, d * d, "chunk second moments");
  } else if (m.type == CovarianceType::full) {
    const std::int64_t per = cap * d;
    comp_batch_ = int(std::max<std::int64_t>(1, std::min<std::int64_t>(k, (8 << 20) / per)));
    z_ = DeviceArray<float>(mem_, per * comp_batch_, "chunk whitened rows");
    sxx_chunk_ = DeviceArray<float>(mem_, std::int64_t(comp_batch_) * d * d,
                                    "chunk second moments");
  }
  chunk_cap_ = cap;
}

void EstepEngine::run_chunk(const float* x, const float* w, std::int64_t n64,
                            const RowOutputs& rows, std::int64_t row0, bool want_stats) {
  ensure_chunk_workspace(n64);
  const DeviceModel& m = model_;
  const int n = int(n64), k = m.k, d = m.d, dg = m.dg;
  const cudaStream_t s = stream_;
  if (rows.top_m > top_cap_) {
    top_ids_dev_ = DeviceArray<std::int32_t>(mem_, chunk_cap_ * rows.top_m, "chunk top-m ids");
    top_probs_dev_ = DeviceArray<float>(mem_, chunk_cap_ * rows.top_m, "chunk top-m posteriors");
    top_cap_ = rows.top_m;
  }
  if (rows.proba && !proba_alloc_) {
    proba_dev_ = DeviceArray<float>(mem_, chunk_cap_ * k, "chunk posteriors");
    proba_alloc_ = true;
  }

  prep_features_kernel<<<row_blocks(n), 32 * kWarpsPerBlock, 0, s>>>(
      x, n, d, m.center.get(), int(m.type), g_.get(), dg, m.one_col, rowscalar_.get());
  FLASHGMM_CUDA_CHECK_LAUNCH();

  const float* rowscalar = nullptr;
  float scale = 1.0f;
  switch (m.type) {
    case CovarianceType::spherical:
      gemm(CUBLAS_OP_T, CUBLAS_OP_N, k, n, m.dl, m.bmat.get(), m.dl, g_.get(), dg, logits_.get(), k);
      rowscalar = rowscalar_.get();
      break;
    case CovarianceType::diag:
      gemm(CUBLAS_OP_T, CUBLAS_OP_N, k, n, m.dl, m.bmat.get(), m.dl, g_.get(), dg, logits_.get(), k);
      break;
    case CovarianceType::tied:
      gemm(CUBLAS_OP_N, CUBLAS_OP_N, d, n, d, m.prec.get(), d, g_.get(), dg, z_.get(), d);
      row_norms_kernel<<<row_blocks(n), 32 * kWarpsPerBlock, 0, s>>>(z_.get(), n, d,
                                                                    rowscalar_.get());
      FLASHGMM_CUDA_CHECK_LAUNCH();
      gemm(CUBLAS_OP_T, CUBLAS_OP_N, k, n, d, m.bmat.get(), d, z_.get(), d, logits_.get(), k);
      rowscalar = rowscalar_.get();
      break;
    case CovarianceType::full:
      for (int k0 = 0; k0 < k; k0 += comp_batch_) {
        const int kb = std::min(comp_batch_, k - k0);
        gemm_batched(CUBLAS_OP_N, CUBLAS_OP_N, d, n, d, m.prec.get() + std::int64_t(k0) * d * d, d,
                     std::int64_t(d) * d, g_.get(), dg, 0, z_.get(), d, std::int64_t(n) * d, kb);
        const std::int64_t warps = std::int64_t(n) * kb;
        maha_kernel<<<int((warps + kWarpsPerBlock - 1) / kWarpsPerBlock), 32 * kWarpsPerBlock, 0,
                      s>>>(z_.get(), n, d, kb, m.bmat.get(), logits_.get(), k, k0);
        FLASHGMM_CUDA_CHECK_LAUNCH();
      }
      scale = -0.5f;
      break;
  }

  RowSoftmaxArgs a{};
  a.logits = logits_.get();
  a.n = n;
  a.k = k;
  a.c = m.c.get();
  a.rowcoef = m.rowcoef.get();
  a.rowscalar = rowscalar;
  a.scale = scale;
  a.w = w;
  a.logz = rows.log_z ? logz_dev_.get() : nullptr;
  a.rowll = want_stats ? rowll_.get() : nullptr;
  a.top_m = rows.top_m;
  a.top_ids = rows.top_m && rows.top_ids ? top_ids_dev_.get() : nullptr;
  a.top_probs = rows.top_m && rows.top_probs ? top_probs_dev_.get() : nullptr;
  a.proba = rows.proba ? proba_dev_.get() : nullptr;
  row_softmax_kernel<<<row_blocks(n), 32 * kWarpsPerBlock, 0, s>>>(a);
  FLASHGMM_CUDA_CHECK_LAUNCH();

  if (want_stats) {
    sum_into(acc_ll_.get(), a.rowll, n, s);
    // moments (K × dg) = Rᵀ G: column-major dg × K = Gᵀ(dg × n) · R(n × K).
    gemm(CUBLAS_OP_N, CUBLAS_OP_T, dg, k, n, g_.get(), dg, logits_.get(), k, moments_.get(), dg);
    accumulate_moments_kernel<<<blocks_for(std::int64_t(k) * d, 256), 256, 0, s>>>(
        moments_.get(), k, d, dg, m.one_col, int(m.type), acc_nk_.get(), acc_sx_.get(),
        acc_sxx_.get());
    FLASHGMM_CUDA_CHECK_LAUNCH();
    if (m.type == CovarianceType::tied) {
      const float* wy = g_.get();
      if (w) {
        weight_rows_kernel<<<blocks_for(std::int64_t(n) * dg, 256), 256, 0, s>>>(w, g_.get(), dg,
                                                                                n, wy_.get());
        FLASHGMM_CUDA_CHECK_LAUNCH();
        wy = wy_.get();
      }
      gemm(CUBLAS_OP_N, CUBLAS_OP_T, d, d, n, g_.get(), dg, wy, dg, sxx_chunk_.get(), d);
      add_float_to_double(acc_sxx_.get(), sxx_chunk_.get(), std::int64_t(d) * d, s);
    } else if (m.type == CovarianceType::full) {
      for (int k0 = 0; k0 < k; k0 += comp_batch_) {
        const int kb = std::min(comp_batch_, k - k0);
        const std::int64_t total = std::int64_t(kb) * n * d;
        scale_rows_kernel<<<blocks_for(total, 256), 256, 0, s>>>(logits_.get(), k, k0, kb, g_.get(),
                                                                 dg, n, d, z_.get());
        FLASHGMM_CUDA_CHECK_LAUNCH();
        gemm_batched(CUBLAS_OP_N, CUBLAS_OP_T, d, d, n, g_.get(), dg, 0, z_.get(), d,
                     std::int64_t(n) * d, sxx_chunk_.get(), d, std::int64_t(d) * d, kb);
        add_float_to_double(acc_sxx_.get() + std::int64_t(k0) * d * d, sxx_chunk_.get(),
                            std::int64_t(kb) * d * d, s);
      }
    }
  }

  // Per-row outputs to the caller's host arrays (pageable: these copies complete on return).
  if (rows.log_z)
    FLASHGMM_CUDA_CHECK(cudaMemcpyAsync(rows.log_z + row0, logz_dev_.get(), sizeof(double) * n,
                                        cudaMemcpyDeviceToHost, s));
  if (rows.top_m && rows.top_ids)
    FLASHGMM_CUDA_CHECK(cudaMemcpyAsync(rows.top_ids + row0 * rows.top_m, top_ids_dev_.get(),
                                        sizeof(std::int32_t) * n * rows.top_m,
                                        cudaMemcpyDeviceToHost, s));
  if (rows.top_m && rows.top_probs)
    FLASHGMM_CUDA_CHECK(cudaMemcpyAsync(rows.top_probs + row0 * rows.top_m, top_probs_dev_.get(),
                                        sizeof(float) * n * rows.top_m, cudaMemcpyDeviceToHost, s));
  if (rows.proba)
    FLASHGMM_CUDA_CHECK(cudaMemcpyAsync(rows.proba + row0 * k, proba_dev_.get(),
                                        sizeof(float) * std::int64_t(n) * k,
                                        cudaMemcpyDeviceToHost, s));
  if (rows.any()) FLASHGMM_CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace flashgmm::cuda
