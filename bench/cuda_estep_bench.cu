// E-step benchmark of the CUDA backend: medians of warm passes (resident data) at the issue's
// shapes, each with its ratio to (a) a straightforward cuBLAS E-step that materializes the N×K
// logits (where that fits) and (b) the tensor-core floor 4·N·K·D / (bf16 GEMM rate measured
// here), plus peak device memory. Rows are synthesized on the fly (a generator DataSource).
//   cuda_estep_bench [--quick] [--only NAME]   (NAME: spherical, diag, full, naive)
//   cuda_estep_bench --fit-overhead            (first fit call vs the second, fresh process)
//   cuda_estep_bench --em-iterations N         (two whole EM iterations on N rows, streamed)
//   cuda_estep_bench --stream N [--generated M]   streaming: N rows from pinned host memory
//                    with a 4 GiB GPU budget; M generated rows in one pass (e.g. 1000000000)
//   cuda_estep_bench --npy DIR --type T [--reps R]   one fast E-step on given data and
//                    parameters (bench/side_by_side.py writes them): DIR/x.npy (N×D), means.npy
//                    (K×D), prec.npy (K×1 spherical, K×D diag, K·D×D full precision Cholesky
//                    factors), log_norm.npy (K×1); prints the median of R warm passes and writes
//                    the statistics to DIR/ours_{nk,sx,sxx}.npy (float64)
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cuda/cuda_backend.hpp"
#include "flashgmm/backend.hpp"
#include "flashgmm/data_source.hpp"
#include "flashgmm/params.hpp"
#include "flashgmm/gaussian_mixture.hpp"
#include "flashgmm/model.hpp"

using namespace flashgmm;

#define CK(x)                                                                          \
  do {                                                                                 \
    cudaError_t e_ = (x);                                                              \
    if (e_ != cudaSuccess) {                                                           \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                    \
    }                                                                                  \
  } while (0)
#define CB(x)                                                                          \
  do {                                                                                 \
    cublasStatus_t s_ = (x);                                                           \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                 \
      std::fprintf(stderr, "%s:%d %s: cuBLAS %d\n", __FILE__, __LINE__, #x, int(s_));  \
      std::exit(1);                                                                    \
    }                                                                                  \
  } while (0)

namespace {

__host__ __device__ inline std::uint64_t mix(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// Approximately N(0,1): sum of four uniforms, rescaled.
__host__ __device__ inline float noise(std::uint64_t h) {
  const float s = float(h & 0xffff) + float((h >> 16) & 0xffff) + float((h >> 32) & 0xffff) +
                  float((h >> 48) & 0xffff);
  return (s / 65536.0f - 2.0f) * 1.7320508f;
}

constexpr int kClusters = 256;
constexpr float kSigma = 0.5f;

float centre(int c, int d) { return noise(mix(0x1234567ull + std::uint64_t(c) * 1000003ull + d)); }

/// Rows from kClusters Gaussian-like clusters, synthesized on read (N may exceed memory).
class GeneratorSource final : public DataSource {
 public:
  GeneratorSource(std::int64_t n, int d) : n_(n), d_(d), c_(std::size_t(kClusters) * d) {
    for (int c = 0; c < kClusters; ++c)
      for (int t = 0; t < d; ++t) c_[std::size_t(c) * d + t] = centre(c, t);
  }
  std::int64_t rows() const override { return n_; }
  int dim() const override { return d_; }
  void read(std::int64_t begin, std::int64_t count, float* out) const override {
    for (std::int64_t i = 0; i < count; ++i) {
      const std::uint64_t h = mix(std::uint64_t(begin + i));
      const float* cen = c_.data() + std::size_t(h % kClusters) * d_;
      for (int t = 0; t < d_; ++t)
        out[i * d_ + t] = cen[t] + kSigma * noise(mix(h ^ (std::uint64_t(t) << 40)));
    }
  }
  std::string describe() const override { return "generated rows"; }

 private:
  std::int64_t n_;
  int d_;
  std::vector<float> c_;
};

ComponentParams make_params(CovarianceType type, int k, int d) {
  ComponentParams p;
  p.covariance_type = type;
  p.n_components = k;
  p.dim = d;
  p.center.assign(d, 0.0);
  p.means.resize(std::size_t(k) * d);
  for (int j = 0; j < k; ++j)
    for (int t = 0; t < d; ++t)
      p.means[std::size_t(j) * d + t] =
          centre(j % kClusters, t) + 0.3 * kSigma * noise(mix(777 + std::uint64_t(j) * d + t));
  const double prec = 1.0 / (kSigma * kSigma);
  p.prec.assign(covariance_size(type, k, d), 0.0);
  double logdet = 0.5 * d * std::log(prec);
  switch (type) {
    case CovarianceType::spherical:
    case CovarianceType::diag:
      std::fill(p.prec.begin(), p.prec.end(), prec);
      break;
    case CovarianceType::full:
    case CovarianceType::tied:
      for (std::size_t b = 0; b < p.prec.size(); b += std::size_t(d) * d)
        for (int t = 0; t < d; ++t) p.prec[b + std::size_t(t) * d + t] = std::sqrt(prec);
      break;
  }
  p.log_norm.assign(k, std::log(1.0 / k) - 0.5 * d * std::log(2 * M_PI) + logdet);
  return p;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

__global__ void fill_bf16(__nv_bfloat16* p, std::int64_t n, std::uint64_t seed) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    p[i] = __float2bfloat16(noise(mix(seed + i)));
}

/// bf16 GEMM rate (TFLOP/s) of cuBLAS at 8192³ on random data.
double measure_bf16_rate(cublasHandle_t h) {
  const int n = 8192;
  __nv_bfloat16 *a, *b, *c;
  CK(cudaMalloc(&a, sizeof(__nv_bfloat16) * n * n));
  CK(cudaMalloc(&b, sizeof(__nv_bfloat16) * n * n));
  CK(cudaMalloc(&c, sizeof(__nv_bfloat16) * n * n));
  fill_bf16<<<1024, 256>>>(a, std::int64_t(n) * n, 1);
  fill_bf16<<<1024, 256>>>(b, std::int64_t(n) * n, 2);
  const float alpha = 1, beta = 0;
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  std::vector<double> t;
  for (int r = 0; r < 13; ++r) {
    CK(cudaEventRecord(e0));
    CB(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a, CUDA_R_16BF, n, b, CUDA_R_16BF,
                    n, &beta, c, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    if (r >= 3) t.push_back(ms);
  }
  CK(cudaFree(a));
  CK(cudaFree(b));
  CK(cudaFree(c));
  return 2.0 * n * n * double(n) / (median(t) * 1e-3) / 1e12;
}

// ---- the straightforward cuBLAS E-step (spherical): logits N×K, soft-max, Rᵀ·[X | 1 | ‖x‖²].
__global__ void naive_softmax(float* l, std::int64_t n, int k, const float* c, const float* rc,
                              const float* xa, int lda, int d) {
  const std::int64_t row = blockIdx.x * std::int64_t(blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= n) return;
  float* lr = l + row * k;
  const float s = xa[row * lda + d + 1];
  float mx = -3e38f;
  for (int j = lane; j < k; j += 32) mx = fmaxf(mx, lr[j] = c[j] + lr[j] + rc[j] * s);
  for (int o = 16; o; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(~0u, mx, o));
  float sum = 0;
  for (int j = lane; j < k; j += 32) sum += __expf(lr[j] - mx);
  for (int o = 16; o; o >>= 1) sum += __shfl_xor_sync(~0u, sum, o);
  const float lse = mx + __logf(sum);
  for (int j = lane; j < k; j += 32) lr[j] = __expf(lr[j] - lse);
}

__global__ void naive_features(const float* x, std::int64_t n, int d, float* xa, int lda) {
  const std::int64_t row = blockIdx.x * std::int64_t(blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= n) return;
  float s = 0;
  for (int t = lane; t < d; t += 32) {
    const float v = x[row * d + t];
    xa[row * lda + t] = v;
    s += v * v;
  }
  for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(~0u, s, o);
  if (lane == 0) xa[row * lda + d] = 1, xa[row * lda + d + 1] = s, xa[row * lda + d + 2] = 0,
                 xa[row * lda + d + 3] = 0;
}

/// Median ms of the naive E-step, or a negative value when N×K does not fit.
double naive_estep_ms(cublasHandle_t h, const DataSource& src, int k, std::int64_t* bytes) {
  const std::int64_t n = src.rows();
  const int d = src.dim(), lda = d + 4;
  const std::size_t need = std::size_t(n) * (k + lda + d) * 4;
  std::size_t free_b, total_b;
  CK(cudaMemGetInfo(&free_b, &total_b));
  if (need > free_b * 0.92) return -1;
  *bytes = std::int64_t(need);
  std::vector<float> host(std::size_t(n) * d);
  src.read(0, n, host.data());
  float *x, *xa, *l, *bm, *c, *rc, *mom;
  CK(cudaMalloc(&x, sizeof(float) * n * d));
  CK(cudaMalloc(&xa, sizeof(float) * n * lda));
  CK(cudaMalloc(&l, sizeof(float) * n * k));
  CK(cudaMalloc(&bm, sizeof(float) * k * d));
  CK(cudaMalloc(&c, sizeof(float) * k));
  CK(cudaMalloc(&rc, sizeof(float) * k));
  CK(cudaMalloc(&mom, sizeof(float) * k * lda));
  CK(cudaMemcpy(x, host.data(), sizeof(float) * n * d, cudaMemcpyHostToDevice));
  const ComponentParams p = make_params(CovarianceType::spherical, k, d);
  std::vector<float> hb(std::size_t(k) * d), hc(k), hr(k);
  for (int j = 0; j < k; ++j) {
    double mm = 0;
    for (int t = 0; t < d; ++t) {
      hb[std::size_t(j) * d + t] = float(p.prec[j] * p.means[std::size_t(j) * d + t]);
      mm += p.means[std::size_t(j) * d + t] * p.means[std::size_t(j) * d + t];
    }
    hc[j] = float(p.log_norm[j] - 0.5 * p.prec[j] * mm);
    hr[j] = float(-0.5 * p.prec[j]);
  }
  CK(cudaMemcpy(bm, hb.data(), sizeof(float) * k * d, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(c, hc.data(), sizeof(float) * k, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(rc, hr.data(), sizeof(float) * k, cudaMemcpyHostToDevice));
  naive_features<<<int((n + 7) / 8), 256>>>(x, n, d, xa, lda);
  const float one = 1, zero = 0;
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  std::vector<double> t;
  for (int r = 0; r < 6; ++r) {
    CK(cudaEventRecord(e0));
    CB(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, k, int(n), d, &one, bm, CUDA_R_32F, d, xa,
                    CUDA_R_32F, lda, &zero, l, CUDA_R_32F, k, CUBLAS_COMPUTE_32F_FAST_16BF,
                    CUBLAS_GEMM_DEFAULT));
    naive_softmax<<<int((n + 7) / 8), 256>>>(l, n, k, c, rc, xa, lda, d);
    CB(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_T, lda, k, int(n), &one, xa, CUDA_R_32F, lda, l,
                    CUDA_R_32F, k, &zero, mom, CUDA_R_32F, lda, CUBLAS_COMPUTE_32F_FAST_16BF,
                    CUBLAS_GEMM_DEFAULT));
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    if (r >= 1) t.push_back(ms);
  }
  for (float* q : {x, xa, l, bm, c, rc, mom}) CK(cudaFree(q));
  return median(t);
}

struct Result {
  double first_ms, median_ms, spread_ms;
  std::int64_t peak;
  std::string name;
  SuffStats stats;
};

double rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
  return std::sqrt(num / den);
}

Result run_backend(CovarianceType type, Precision pr, const DataSource& src, int k, int reps) {
  Params prm;
  prm.backend = BackendKind::cuda;
  prm.precision = pr;
  prm.covariance_type = type;
  prm.n_components = k;
  auto be = cuda::make_backend(prm, src.dim());
  be->set_params(make_params(type, k, src.dim()));
  SuffStats st(type, k, src.dim());
  auto t0 = std::chrono::steady_clock::now();
  be->estep_source(src, nullptr, &st, RowOutputs{}, 0);  // uploads, then the first pass
  const double first = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    st.zero();
    t0 = std::chrono::steady_clock::now();
    be->estep_source(src, nullptr, &st, RowOutputs{}, 0);
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  double nsum = 0;
  for (double v : st.nk) nsum += v;
  if (std::abs(nsum - double(src.rows())) > 1e-2 * src.rows() || !std::isfinite(st.log_likelihood))
    std::printf("  WARNING: sum N_k = %.6g for %lld rows, loglik %.6g\n", nsum,
                (long long)src.rows(), st.log_likelihood);
  std::sort(t.begin(), t.end());
  return {first, median(t), t.back() - t.front(), be->info().peak_device_bytes, be->info().name, st};
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Rows [0, n) of `gen` into out (n·d floats), 16 threads.
void fill_generated(const GeneratorSource& gen, std::int64_t n, int d, float* out) {
  std::vector<std::thread> pool;
  const int threads = 16;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      const std::int64_t per = (n + threads - 1) / threads, b = t * per, e = std::min(n, b + per);
      for (std::int64_t c = b; c < e; c += 65536)
        gen.read(c, std::min<std::int64_t>(65536, e - c), out + c * d);
    });
  for (auto& th : pool) th.join();
}

// Fast-precision spherical CUDA parameters with a GPU memory budget (0 = none).
Params fast_spherical_params(int k, std::int64_t budget) {
  Params prm;
  prm.backend = BackendKind::cuda;
  prm.precision = Precision::fast;
  prm.covariance_type = CovarianceType::spherical;
  prm.n_components = k;
  prm.gpu_memory_budget = budget;
  return prm;
}

std::unique_ptr<Backend> spherical_backend(int k, int d, std::int64_t budget) {
  auto be = cuda::make_backend(fast_spherical_params(k, budget), d);
  be->set_params(make_params(CovarianceType::spherical, k, d));
  return be;
}

// Streaming past GPU memory: N rows in pinned host memory, a 4 GiB GPU budget. Compares one
// pass with the transfer alone (all chunks H2D on one stream) and the compute alone (resident
// E-step on 4M rows, scaled to N).
void stream_bench(std::int64_t n, int d, int k) {
  const std::int64_t budget = std::int64_t(4) << 30;
  float* host = nullptr;
  auto t0 = std::chrono::steady_clock::now();
  CK(cudaHostAlloc(&host, std::size_t(n) * d * 4, cudaHostAllocDefault));
  fill_generated(GeneratorSource(n, d), n, d, host);
  std::printf("stream: %lld x %d rows in pinned host memory (%.1f GB), filled in %.1f s\n",
              (long long)n, d, n * d * 4 / 1e9, seconds_since(t0));
  // Transfer alone, in the backend's chunk size (64 MiB).
  const std::int64_t chunk = (64 << 20) / (d * 4);
  float* dev;
  CK(cudaMalloc(&dev, std::size_t(chunk) * d * 4 * 2));
  t0 = std::chrono::steady_clock::now();
  for (std::int64_t b = 0, i = 0; b < n; b += chunk, ++i)
    CK(cudaMemcpyAsync(dev + (i & 1) * chunk * d, host + b * d, std::min(chunk, n - b) * d * 4,
                       cudaMemcpyHostToDevice, 0));
  CK(cudaDeviceSynchronize());
  const double transfer = seconds_since(t0);
  CK(cudaFree(dev));
  // Compute alone: resident E-step on the first 4M rows.
  double compute = 0;
  {
    const std::int64_t m = std::min<std::int64_t>(n, 4 << 20);
    auto be = spherical_backend(k, d, 0);
    MatrixSource part(host, m, d);
    SuffStats st(CovarianceType::spherical, k, d);
    be->estep_source(part, nullptr, &st, RowOutputs{}, 0);
    std::vector<double> t;
    for (int r = 0; r < 5; ++r) {
      t0 = std::chrono::steady_clock::now();
      be->estep_source(part, nullptr, &st, RowOutputs{}, 0);
      t.push_back(seconds_since(t0));
    }
    compute = median(t) * double(n) / double(m);
  }
  auto be = spherical_backend(k, d, budget);
  MatrixSource src(host, n, d);
  SuffStats st(CovarianceType::spherical, k, d);
  std::vector<double> t;
  for (int r = 0; r < 3; ++r) {
    st.zero();
    t0 = std::chrono::steady_clock::now();
    be->estep_source(src, nullptr, &st, RowOutputs{}, 0);
    t.push_back(seconds_since(t0));
  }
  const double pass = median(t);
  std::printf("stream: N=%lld D=%d K=%d spherical fast, budget 4 GiB: pass %.3f s (runs:", (long long)n,
              d, k, pass);
  for (double v : t) std::printf(" %.3f", v);
  std::printf("), transfer alone %.3f s (%.1f GB/s), compute alone %.3f s; pass / max = %.2f; peak "
              "GPU %.0f MiB\n",
              transfer, n * d * 4 / transfer / 1e9, compute, pass / std::max(transfer, compute),
              be->info().peak_device_bytes / 1048576.0);
  CK(cudaFreeHost(host));
}

// Rows i → row (i mod P) of a pool of P generated rows: a host source that streams at memory
// speed, for timing whole EM iterations at N = 1e9 (GeneratorSource synthesizes ~7 M rows/s).
class PoolSource final : public DataSource {
 public:
  PoolSource(std::int64_t n, int d, std::int64_t pool) : n_(n), d_(d), p_(pool), rows_(std::size_t(pool) * d) {
    fill_generated(GeneratorSource(pool, d), pool, d, rows_.data());
  }
  std::int64_t rows() const override { return n_; }
  int dim() const override { return d_; }
  void read(std::int64_t begin, std::int64_t count, float* out) const override {
    while (count > 0) {
      const std::int64_t r = begin % p_, c = std::min(count, p_ - r);
      std::memcpy(out, rows_.data() + std::size_t(r) * d_, std::size_t(c) * d_ * 4);
      out += c * d_, begin += c, count -= c;
    }
  }
  std::string describe() const override { return "pooled generated rows"; }

 private:
  std::int64_t n_, p_;
  int d_;
  std::vector<float> rows_;
};

// Params of a fast spherical CUDA fit that starts from the benchmark's mixture (no k-means
// initialisation pass), tol 0 so that every requested iteration runs.
Params fit_params(int k, int d, int iters, std::int64_t budget) {
  Params prm = fast_spherical_params(k, budget);
  prm.max_iter = iters;
  prm.tol = 0.0;
  const ComponentParams cp = make_params(CovarianceType::spherical, k, d);
  prm.means_init = cp.means;
  prm.weights_init.assign(k, 1.0 / k);
  prm.precisions_init.assign(k, 1.0 / (kSigma * kSigma));
  return prm;
}

// The first fit call's overhead: the same fit twice in a fresh process; the difference is what
// the first call pays once (CUDA context, module loading, cuBLAS handle, first allocations).
// Must run before anything else touches the GPU.
void fit_overhead() {
  const auto t_start = std::chrono::steady_clock::now();
  const std::int64_t n = 1 << 20;
  const int d = 96, k = 1024;
  PoolSource data(n, d, n);
  std::vector<float> x(std::size_t(n) * d);
  data.read(0, n, x.data());
  const double gen_s = seconds_since(t_start);
  double t[2];
  for (int r = 0; r < 2; ++r) {
    GaussianMixture gm(fit_params(k, d, 3, 0));
    const auto t0 = std::chrono::steady_clock::now();
    gm.fit(x.data(), n, d);
    t[r] = seconds_since(t0);
    if (r == 0) std::printf("fit: backend %s\n", gm.fit_info().backend.c_str());
  }
  std::printf("first-call overhead: fit of N=%lld D=%d K=%d (3 EM iterations, fast spherical) "
              "first call %.3f s, second call %.3f s: overhead %.3f s (data generated in %.2f s)\n",
              (long long)n, d, k, t[0], t[1], t[0] - t[1], gen_s);
}

// Whole EM iterations (E-step streamed from host memory + M-step) at N rows (e.g. 1e9 × 96).
void em_iterations(std::int64_t n, int d, int k) {
  auto t0 = std::chrono::steady_clock::now();
  PoolSource data(n, d, std::int64_t(16) << 20);
  std::printf("em: pool of 16M rows generated in %.1f s; N = %lld rows of D = %d streamed from it\n",
              seconds_since(t0), (long long)n, d);
  GaussianMixture gm(fit_params(k, d, 2, std::int64_t(4) << 30));
  t0 = std::chrono::steady_clock::now();
  gm.fit(data);
  const double total = seconds_since(t0);
  for (const IterationStats& it : gm.fit_info().history)
    std::printf("em: N=%lld D=%d K=%d iteration %d: %.2f s (E-step %.2f s), lower bound %.6f, "
                "peak GPU %.0f MiB\n",
                (long long)n, d, k, it.iteration, it.seconds, it.estep_seconds, it.lower_bound,
                it.peak_device_bytes / 1048576.0);
  std::printf("em: whole fit call %.2f s (backend %s)\n", total, gm.fit_info().backend.c_str());
}

// One E-step pass over N generated rows (e.g. 1e9 × 96), streamed with a 4 GiB budget; the rows
// are synthesized by 8 reader threads as they are read (host generation included in the time).
void generated_pass(std::int64_t n, int d, int k) {
  GeneratorSource gen(n, d);
  auto be = spherical_backend(k, d, std::int64_t(4) << 30);
  SuffStats st(CovarianceType::spherical, k, d);
  auto t0 = std::chrono::steady_clock::now();
  be->estep_source(gen, nullptr, &st, RowOutputs{}, 0);
  const double s = seconds_since(t0);
  double nk = 0;
  for (double v : st.nk) nk += v;
  std::printf("generated: one E-step pass over N=%lld D=%d K=%d (spherical, fast, 4 GiB budget): "
              "%.2f s (%.0f M rows/s), sum N_k = %.6g, peak GPU %.0f MiB\n",
              (long long)n, d, k, s, n / s / 1e6, nk, be->info().peak_device_bytes / 1048576.0);
}

// One shape on data and parameters given as .npy files (see the header); the side-by-side bench
// times other kernels on the same files in the same run.
int npy_estep(const std::string& dir, const std::string& type_name, int reps) {
  const CovarianceType type = parse_covariance_type(type_name);
  auto x = open_data(dir + "/x.npy");
  auto read_all = [&](const char* name, std::int64_t want) {
    auto src = open_data(dir + "/" + name);
    std::vector<float> v(std::size_t(src->rows()) * src->dim());
    src->read(0, src->rows(), v.data());
    if (std::int64_t(v.size()) != want) {
      std::fprintf(stderr, "%s: %zu values, expected %lld\n", name, v.size(), (long long)want);
      std::exit(2);
    }
    return std::vector<double>(v.begin(), v.end());
  };
  const int d = x->dim();
  auto means_src = open_data(dir + "/means.npy");
  const int k = int(means_src->rows());
  ComponentParams p;
  p.covariance_type = type;
  p.n_components = k;
  p.dim = d;
  p.center.assign(d, 0.0);
  p.means = read_all("means.npy", std::int64_t(k) * d);
  p.prec = read_all("prec.npy", std::int64_t(covariance_size(type, k, d)));
  p.log_norm = read_all("log_norm.npy", k);
  Params prm;
  prm.backend = BackendKind::cuda;
  prm.precision = Precision::fast;
  prm.covariance_type = type;
  prm.n_components = k;
  auto be = cuda::make_backend(prm, d);
  be->set_params(p);
  SuffStats st(type, k, d);
  auto t0 = std::chrono::steady_clock::now();
  be->estep_source(*x, nullptr, &st, RowOutputs{}, 0);  // uploads, then the first pass
  const double first = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    st.zero();
    t0 = std::chrono::steady_clock::now();
    be->estep_source(*x, nullptr, &st, RowOutputs{}, 0);
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  std::printf("ours: %s N=%lld K=%d D=%d median_ms=%.4f min_ms=%.4f max_ms=%.4f first_ms=%.1f reps=%d "
              "backend=%s\n",
              type_name.c_str(), (long long)x->rows(), k, d, median(t), t.front(), t.back(), first, reps,
              be->info().name.c_str());
  write_npy(dir + "/ours_nk.npy", st.nk.data(), k, 1);
  write_npy(dir + "/ours_sx.npy", st.sx.data(), k, d);
  const bool per_comp = st.sxx.size() == std::size_t(k);  // spherical: Σ r‖y‖² per component
  write_npy(dir + "/ours_sxx.npy", st.sxx.data(), per_comp ? k : std::int64_t(st.sxx.size()) / d,
            per_comp ? 1 : d);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string only;
  std::int64_t stream_rows = 0, generated_rows = 0, em_rows = 0;
  bool overhead = false, no_alt = false;
  std::string shape_arg;  // --shape type:N:K:D runs that one shape (for profilers)
  std::string npy_dir, npy_type = "spherical";
  int npy_reps = 15;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--npy") && i + 1 < argc) npy_dir = argv[++i];
    if (!std::strcmp(argv[i], "--type") && i + 1 < argc) npy_type = argv[++i];
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) npy_reps = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--shape") && i + 1 < argc) shape_arg = argv[++i];
    if (!std::strcmp(argv[i], "--no-alternatives")) no_alt = true;
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    if (!std::strcmp(argv[i], "--stream") && i + 1 < argc) stream_rows = std::atoll(argv[++i]);
    if (!std::strcmp(argv[i], "--generated") && i + 1 < argc) generated_rows = std::atoll(argv[++i]);
    if (!std::strcmp(argv[i], "--em-iterations") && i + 1 < argc) em_rows = std::atoll(argv[++i]);
    if (!std::strcmp(argv[i], "--fit-overhead")) overhead = true;
  }
  if (!npy_dir.empty()) return npy_estep(npy_dir, npy_type, std::max(1, npy_reps));
  if (overhead) {
    fit_overhead();
    return 0;
  }
  if (em_rows > 0) {
    em_iterations(em_rows, 96, 1024);
    return 0;
  }
  if (stream_rows > 0 || generated_rows > 0) {
    if (stream_rows > 0) stream_bench(stream_rows, 96, 1024);
    if (generated_rows > 0) generated_pass(generated_rows, 96, 1024);
    return 0;
  }
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  cublasHandle_t h;
  CB(cublasCreate(&h));
  const double rate = measure_bf16_rate(h);
  std::printf("device: %s, %d SMs; cuBLAS bf16 GEMM 8192^3: %.0f TFLOP/s\n", prop.name,
              prop.multiProcessorCount, rate);
  struct Shape {
    CovarianceType type;
    std::int64_t n;
    int k, d;
  };
  std::vector<Shape> shapes = {
      {CovarianceType::spherical, 1 << 20, 1024, 128}, {CovarianceType::diag, 1 << 20, 1024, 128},
      {CovarianceType::spherical, 1 << 20, 1024, 96},  {CovarianceType::diag, 1 << 20, 1024, 96},
      {CovarianceType::spherical, 10 << 20, 1024, 96}, {CovarianceType::diag, 10 << 20, 1024, 96},
      {CovarianceType::spherical, 1 << 20, 4096, 128}, {CovarianceType::diag, 1 << 20, 4096, 128},
      {CovarianceType::full, 1 << 20, 256, 64},        {CovarianceType::full, 1 << 20, 1024, 128},
  };
  if (!shape_arg.empty()) {
    char type[32] = {0};
    long long n = 0;
    int k = 0, d = 0;
    if (std::sscanf(shape_arg.c_str(), "%31[a-z]:%lld:%d:%d", type, &n, &k, &d) != 4 || n <= 0 ||
        k <= 0 || d <= 0) {
      std::fprintf(stderr, "--shape wants type:N:K:D (e.g. spherical:1048576:1024:128)\n");
      return 2;
    }
    shapes = {{std::string(type) == "diag"   ? CovarianceType::diag
               : std::string(type) == "full" ? CovarianceType::full
                                             : CovarianceType::spherical,
               n, k, d}};
  }
  std::printf("%-9s %9s %5s %4s %-8s %10s %9s %8s %9s %10s %10s\n", "type", "N", "K", "D", "mode",
              "median_ms", "spread", "first_ms", "x_floor", "x_naive", "peak_MiB");
  for (const Shape& s : shapes) {
    if (!only.empty() && only != to_string(s.type) && only != "naive") continue;
    if (quick && s.n > (1 << 20)) continue;
    GeneratorSource src(s.n, s.d);
    double naive = -1;
    std::int64_t naive_bytes = 0;
    if (s.type == CovarianceType::spherical && (only.empty() || only == "naive")) {
      naive = naive_estep_ms(h, src, s.k, &naive_bytes);
      if (naive > 0)
        std::printf("  naive cuBLAS (N×K logits, %.1f GB): %.2f ms\n", naive_bytes / 1e9, naive);
      else
        std::printf("  naive cuBLAS: N×K does not fit\n");
    }
    if (only == "naive") continue;
    const double flops = s.type == CovarianceType::full ? 4.0 * s.n * s.k * double(s.d) * s.d
                                                        : 4.0 * s.n * s.k * double(s.d);
    const double floor_ms = flops / (rate * 1e12) * 1e3;
    SuffStats fast_stats;
    for (Precision pr : {Precision::fast, Precision::precise}) {
      const bool heavy = s.type == CovarianceType::full && s.k >= 1024;
      if (pr == Precision::precise && (quick || s.n > (1 << 20) || heavy)) continue;
      const int reps = heavy || pr == Precision::precise ? 3 : 9;
      const Result r = run_backend(s.type, pr, src, s.k, reps);
      auto row = [&](const char* mode, const Result& x) {
        std::printf("%-9s %9lld %5d %4d %-8s %10.3f %9.3f %8.1f %9.2f %10s %10.1f\n",
                    to_string(s.type).c_str(), (long long)s.n, s.k, s.d, mode, x.median_ms,
                    x.spread_ms, x.first_ms, x.median_ms / floor_ms,
                    naive > 0 ? std::to_string(x.median_ms / naive).substr(0, 6).c_str() : "-",
                    x.peak / 1048576.0);
      };
      // Same process, same data: the default again with `var`=`value` set (an alternative kernel),
      // printed when the backend's name shows that `kernels` ran.
      auto alternative = [&](const char* var, const char* value, const char* kernels,
                             const char* mode, const char* what) {
        setenv(var, value, 1);
        const Result x = run_backend(s.type, pr, src, s.k, reps);
        unsetenv(var);
        if (x.name.find(kernels) == std::string::npos) return;
        row(mode, x);
        std::printf("  %s / default time: %.2f; relative difference N_k %.2e, sum r x %.2e, "
                    "second moments %.2e\n",
                    what, x.median_ms / r.median_ms, rel_diff(x.stats.nk, r.stats.nk),
                    rel_diff(x.stats.sx, r.stats.sx), rel_diff(x.stats.sxx, r.stats.sxx));
      };
      row(to_string(pr).c_str(), r);
      if (pr == Precision::fast) {
        fast_stats = r.stats;
        std::printf("  backend: %s\n", r.name.c_str());
        if (!no_alt && s.type == CovarianceType::full && r.name.find("fused kernels") != std::string::npos) {
          // The chunked cuBLAS path that full covariance ran before the fused kernels.
          alternative("FLASHGMM_CUDA_FULL", "chunked", "chunked kernels", "fast-cub", "chunked cuBLAS");
        } else if (!no_alt && r.name.find("fused kernels") != std::string::npos) {
          // The mma.sync kernels (the default on sm_90 is the wgmma pair).
          alternative("FLASHGMM_CUDA_WGMMA", "0", "fused kernels", "fast-mma", "mma.sync");
          // Features wider than 128 columns: each log Z kernel (one of them is the default).
          if ((s.type == CovarianceType::diag && s.d > 64) || s.d > 128) {
            alternative("FLASHGMM_CUDA_LOGZ_WIDE", "wg4", "fused kernels", "fast-wg4", "log Z wg4");
            alternative("FLASHGMM_CUDA_LOGZ_WIDE", "wg2", "fused kernels", "fast-wg2", "log Z wg2");
            alternative("FLASHGMM_CUDA_LOGZ_WIDE", "mma", "fused kernels", "fast-lzm", "log Z mma.sync");
            alternative("FLASHGMM_CUDA_STATS_WIDE", "br64", "fused kernels", "fast-s64", "stats 64-row tiles");
            alternative("FLASHGMM_CUDA_STATS_WIDE", "br32", "fused kernels", "fast-s32", "stats 32-row tiles");
          }
          // The opt-in single-pass cluster path (sm_90, spherical, D ≤ 128, K ≤ 2048).
          if (s.type == CovarianceType::spherical && s.d <= 128 && s.k <= 2048)
            alternative("FLASHGMM_CUDA_FUSED", "cluster", "cluster kernels", "fast-cl", "cluster");
        }
      } else {
        std::printf("  fast vs precise, relative difference: N_k %.2e, sum r x %.2e, second moments %.2e\n",
                    rel_diff(fast_stats.nk, r.stats.nk), rel_diff(fast_stats.sx, r.stats.sx),
                    rel_diff(fast_stats.sxx, r.stats.sxx));
      }
      std::fflush(stdout);
    }
  }
  std::printf("floor = %s / measured bf16 rate; times are wall-clock per E-step pass on resident data\n",
              "4·N·K·D (full: 4·N·K·D²)");
  cublasDestroy(h);
  return 0;
}
