// flashgmm CUDA backend, cluster path (Hopper, sm_90; opt-in, FLASHGMM_CUDA_FUSED=cluster):
// spherical covariance in fast precision, ONE pass over the rows per E-step (the default fused
// path reads every row twice and computes its logits twice). Measured 1.2× slower than the
// default on an H100 but more accurate; kept, tested, as the single-pass reference design
// (bench/RESULTS.md, "Second session").
//
// A thread-block cluster of CS CTAs owns all K components (128 per CTA, 16 per warp, their
// parameters held as fp16 B fragments) and walks a strided set of 64-row tiles. The per-tile
// steps are listed above cluster_estep_kernel. fp16 parameters (11-bit significands, scaled per
// component by a power of two) keep the logits within the fast mode's error budget with ONE
// product, where bf16 needs a hi + lo pair; a float64 bias correction at the component's mean
// removes the rest, as in the fused path. Features are ŷ = (x − centre)/s with a power of two s
// per row (fp16 for the logits, bf16 for the statistics). Each CTA writes one float32 partial per
// component at the end (fixed tile order, no atomics): the pass is bitwise repeatable. Requires
// D % 4 == 0 (16-byte row copies) and D ≤ 128.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>
#include <cstdlib>
#include <cstring>

#include "cuda/cluster_primitives.cuh"
#include "cuda/cuda_check.cuh"
#include "cuda/estep_engine.cuh"
#include "cuda/mma_primitives.cuh"
#include "cuda/reduce_kernels.cuh"

namespace flashgmm::cuda {
namespace {

using bf16 = __nv_bfloat16;
using half = __half;

constexpr int kThreads = 256, kWarps = 8;
constexpr int kBM = 64;          // rows per tile
constexpr int kCompCta = 128;    // components per CTA (16 per warp)
constexpr int kMaxCluster = 16;  // 16 is a non-portable cluster size (H100 allows it)
constexpr float kPadLogit = -1e30f;

/// Shared-memory layout of one CTA (byte offsets); depends on the feature width and the cluster
/// size (each CTA stages only its own 64 / CS rows of a tile).
struct ClusterLayout {
  int stages, rows_per_cta;
  std::size_t stage, fh, fb, rowq, red, xch, cen, bytes;
  __host__ __device__ ClusterLayout(int fp, int cs) {
    rows_per_cta = kBM / cs;
    stages = cs == 1 ? 2 : 3;
    const std::size_t ldh = fp + 8;
    stage = 0;
    fh = stage + std::size_t(stages) * rows_per_cta * fp * 4;
    fb = fh + 2 * kBM * ldh * 2;
    rowq = fb + 4 * kBM * ldh * 2;
    red = rowq + 3 * kBM * 16;
    xch = red + std::size_t(kWarps) * kBM * 8;
    cen = xch + 2 * std::size_t(cs) * kBM * 8;
    bytes = cen + std::size_t(fp) * 4;
  }
};

// Grid: clusters of `cs` CTAs; cluster q takes tiles q, q + Q, q + 2Q, ... Per tile j:
//   a. CTA rank c converts its own 64/CS rows of tile j + 1 (staged by cp.async two tiles ahead)
//      and stores the features and row values into every CTA of the cluster (DSMEM);
//   b. logits of tile j in the log2 domain, rows × components (rows on the mma M side, so a
//      row's values sit in four lanes); the warp's (max, Σ 2^(ℓ−max)) per row;
//   c. the CTA's (max, sum) per row → every CTA (DSMEM), cluster barrier arrive;
//   d. statistics of tile j − 1;
//   e. barrier wait; log2 Z per row from the CTA partials in rank order;
//   f. r = w·2^(ℓ − log2 Z) → Σr, Σr‖y‖², and s·r transposed (movmatrix) into the next step
//      d's A fragments of rᵀ.
// Buffers are rotated so that no CTA overwrites what another may still read (see the indices).
template <int FP>
__global__ void __launch_bounds__(kThreads, 1) cluster_estep_kernel(
    const float* __restrict__ x, std::int64_t n, int d, const float* __restrict__ center,
    const half* __restrict__ params, const float* __restrict__ consts, int kpad,
    const float* __restrict__ w, int cs, float* __restrict__ part, double* __restrict__ cluster_ll,
    double* __restrict__ logz_out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  using namespace sm90;
  using mma::ldsm_x4;
  using mma::ldsm_x4_trans;
  constexpr int LDH = FP + 8;  // fp16/bf16 row stride: 16-byte rows, conflict-free ldmatrix
  const ClusterLayout L(FP, cs);
  extern __shared__ __align__(128) unsigned char smem[];
  float* stage = reinterpret_cast<float*>(smem + L.stage);  // [stages][rows_per_cta][FP]
  half* fh = reinterpret_cast<half*>(smem + L.fh);          // [2][kBM][LDH]  logits operand
  bf16* fb = reinterpret_cast<bf16*>(smem + L.fb);          // [4][kBM][LDH]  statistics operand
  float4* rowq = reinterpret_cast<float4*>(smem + L.rowq);  // [3][kBM] {s, ‖y‖², w, log2 Z}
  float2* red = reinterpret_cast<float2*>(smem + L.red);    // [warp][kBM] (max, sum)
  float2* xch = reinterpret_cast<float2*>(smem + L.xch);    // [2][cs][kBM]   (max, sum)
  float* cen = reinterpret_cast<float*>(smem + L.cen);

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const std::uint32_t rank = cluster_rank();
  const int q = blockIdx.x / cs, nclusters = gridDim.x / cs;
  const std::int64_t tiles = (n + kBM - 1) / kBM;
  const int my_tiles = tiles > q ? int((tiles - q + nclusters - 1) / nclusters) : 0;
  const int rpc = L.rows_per_cta, stages = L.stages;
  auto tile_row0 = [&](int j) { return (std::int64_t(q) + std::int64_t(j) * nclusters) * kBM; };
  auto tile_rows = [&](int j) { return int(min(std::int64_t(kBM), n - tile_row0(j))); };

  // Feature buffers start at zero: their padding columns (D..FP) are never written.
  for (int i = tid; i < (2 + 4) * kBM * LDH / 2; i += kThreads)
    reinterpret_cast<std::uint32_t*>(fh)[i] = 0u;
  for (int i = tid; i < FP; i += kThreads) cen[i] = i < d ? center[i] : 0.0f;

  // This CTA's rows of tile j → stage slot j % stages (cp.async; the same thread converts them).
  auto issue = [&](int j) {
    if (j < my_tiles) {
      const int rows = tile_rows(j);
      float* st = stage + std::size_t(j % stages) * rpc * FP;
      for (int r = warp; r < rpc; r += kWarps) {
        const int rr = int(rank) * rpc + r;
        if (rr < rows && 4 * lane < d)
          mma::cp_async_16(st + r * FP + 4 * lane, x + (tile_row0(j) + rr) * d + 4 * lane);
      }
    }
    mma::cp_async_commit();
  };
  // Rows of tile j → ŷ = y / s (fp16 and bf16), and {s, ‖y‖², w}, into every CTA.
  auto convert = [&](int j) {
    const int rows = tile_rows(j);
    const float* st = stage + std::size_t(j % stages) * rpc * FP;
    const std::uint32_t hbase = mma::smem_addr(fh + (j & 1) * kBM * LDH);
    const std::uint32_t bbase = mma::smem_addr(fb + (j & 3) * kBM * LDH);
    const std::uint32_t qbase = mma::smem_addr(rowq + (j % 3) * kBM);
    for (int r = warp; r < rpc; r += kWarps) {
      const int rr = int(rank) * rpc + r;
      const bool valid = rr < rows;
      float4 y = make_float4(0.f, 0.f, 0.f, 0.f);
      if (valid && 4 * lane < d) {
        const float4 v = *reinterpret_cast<const float4*>(st + r * FP + 4 * lane);
        const float4 c = *reinterpret_cast<const float4*>(cen + 4 * lane);
        y = make_float4(v.x - c.x, v.y - c.y, v.z - c.z, v.w - c.w);
      }
      const float amax =
          warp_max(fmaxf(fmaxf(fabsf(y.x), fabsf(y.y)), fmaxf(fabsf(y.z), fabsf(y.w))));
      const float sq = warp_sum(y.x * y.x + y.y * y.y + y.z * y.z + y.w * y.w);
      int e = 0;
      frexpf(amax, &e);  // amax = f·2^e, f in [0.5, 1): |y / 2^e| < 1
      const float inv = amax > 0.f ? ldexpf(1.0f, -e) : 1.0f;
      const float a0 = y.x * inv, a1 = y.y * inv, a2 = y.z * inv, a3 = y.w * inv;
      const std::uint32_t h0 = mma::pack_f16(a0, a1), h1 = mma::pack_f16(a2, a3);
      const std::uint32_t b0 = mma::pack_bf16(a0, a1), b1 = mma::pack_bf16(a2, a3);
      const std::uint32_t off = std::uint32_t(rr * LDH + 4 * lane) * 2;
      const float wr = valid ? (w ? w[tile_row0(j) + rr] : 1.0f) : 0.0f;
      const float s = amax > 0.f ? ldexpf(1.0f, e) : 1.0f;
      for (int c = 0; c < cs; ++c) {
        if (4 * lane < FP) {
          st_cluster_u2(map_to_rank(hbase + off, std::uint32_t(c)), h0, h1);
          st_cluster_u2(map_to_rank(bbase + off, std::uint32_t(c)), b0, b1);
        }
        if (lane == 0) st_cluster_f4(map_to_rank(qbase + rr * 16, std::uint32_t(c)), s, sq, wr, 0.f);
      }
    }
  };

  // This warp's 16 components as fp16 B fragments (k = feature, n = component), and the
  // constants (log2 domain) of the thread's four components nt·8 + 2t + c.
  const int comp0 = int(rank) * kCompCta + warp * 16;
  std::uint32_t pb[FP / 16][2][2];
#pragma unroll
  for (int kk = 0; kk < FP / 16; ++kk)
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const half* p0 = params + std::size_t(comp0 + nt * 8 + g) * FP + kk * 16 + 2 * t;
      pb[kk][nt][0] = *reinterpret_cast<const std::uint32_t*>(p0);
      pb[kk][nt][1] = *reinterpret_cast<const std::uint32_t*>(p0 + 8);
    }
  float cc[2][2], rc[2][2], tt[2][2];
#pragma unroll
  for (int nt = 0; nt < 2; ++nt)
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int k = comp0 + nt * 8 + 2 * t + c;
      cc[nt][c] = consts[k], rc[nt][c] = consts[kpad + k], tt[nt][c] = consts[2 * kpad + k];
    }

  float acc2[FP / 8][4];
#pragma unroll
  for (int nt = 0; nt < FP / 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc2[nt][e] = 0.0f;
  float nk[2][2] = {{0.f, 0.f}, {0.f, 0.f}}, ss[2][2] = {{0.f, 0.f}, {0.f, 0.f}};
  std::uint32_t aprev[kBM / 16][4];
  double ll = 0;

  cluster_sync();  // zeroed buffers and cen[] everywhere before any remote store
  for (int j = 0; j < stages; ++j) issue(j);
  if (stages == 3) mma::cp_async_wait<2>();
  else mma::cp_async_wait<1>();
  if (my_tiles > 0) convert(0);
  issue(stages);
  cluster_sync();  // tile 0's features are in every CTA

  float2* myred = red + warp * kBM;  // this warp's (max, sum) per row
  for (int j = 0; j <= my_tiles; ++j) {
    const bool live = j < my_tiles;
    float acc[kBM / 16][2][4];  // [m-tile of rows][n-tile of components]
    if (live) {
      // a. the next tile's features (this CTA's rows, into every CTA)
      if (stages == 3) mma::cp_async_wait<1>();
      else mma::cp_async_wait<0>();
      if (j + 1 < my_tiles) convert(j + 1);
      issue(j + 1 + stages);
      // b. logits of tile j (rows × this warp's 16 components, log2 domain); per row the warp's
      //    (max, Σ 2^(ℓ − max)), reduced over the four lanes that share the row
      const half* xt = fh + (j & 1) * kBM * LDH;
      const float4* rq = rowq + (j % 3) * kBM;
#pragma unroll
      for (int mt = 0; mt < kBM / 16; ++mt)
#pragma unroll
        for (int nt = 0; nt < 2; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < FP / 16; ++kk)
#pragma unroll
        for (int mt = 0; mt < kBM / 16; ++mt) {
          std::uint32_t a[4];
          ldsm_x4(a, xt + (mt * 16 + (lane & 15)) * LDH + kk * 16 + 8 * (lane >> 4));
          mma::mma_f16(acc[mt][0], a, pb[kk][0][0], pb[kk][0][1]);
          mma::mma_f16(acc[mt][1], a, pb[kk][1][0], pb[kk][1][1]);
        }
#pragma unroll
      for (int mt = 0; mt < kBM / 16; ++mt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const int row = mt * 16 + g + 8 * hh;
          const float4 v = rq[row];
          float l[2][2];
          float m = -FLT_MAX;
#pragma unroll
          for (int nt = 0; nt < 2; ++nt)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
              l[nt][c] = fmaf(tt[nt][c] * v.x, acc[mt][nt][2 * hh + c], fmaf(rc[nt][c], v.y, cc[nt][c]));
              m = fmaxf(m, l[nt][c]);
            }
          m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
          m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
          float sum = 0.f;
#pragma unroll
          for (int nt = 0; nt < 2; ++nt)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
              const float p = exp2f(l[nt][c] - m);
              acc[mt][nt][2 * hh + c] = p;
              sum += p;
            }
          sum += __shfl_xor_sync(0xffffffffu, sum, 1);
          sum += __shfl_xor_sync(0xffffffffu, sum, 2);
          if (t == 0) myred[row] = make_float2(m, sum);
        }
      __syncthreads();
      // c. this CTA's (max, sum) per row (4 threads per row, 2 warps each) → every CTA
      {
        const int row = tid >> 2, pq = tid & 3;
        const float2 v0 = red[(2 * pq) * kBM + row], v1 = red[(2 * pq + 1) * kBM + row];
        float m = fmaxf(v0.x, v1.x);
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
        float sum = fmaf(v0.y, exp2f(v0.x - m), v1.y * exp2f(v1.x - m));
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        if (pq < cs) {
          // Four threads per row share the remote stores: thread pq writes to ranks pq, pq+4, …
          const std::uint32_t local = mma::smem_addr(xch + ((j & 1) * cs + rank) * kBM + row);
          for (int c = pq; c < cs; c += 4) st_cluster_f2(map_to_rank(local, std::uint32_t(c)), m, sum);
        }
      }
      cluster_arrive();
    }
    // d. statistics of tile j − 1 (its responsibilities are in aprev)
    if (j >= 1) {
      const bf16* xb = fb + ((j - 1) & 3) * kBM * LDH;
#pragma unroll
      for (int kr = 0; kr < kBM / 16; ++kr)
#pragma unroll
        for (int fp = 0; fp < FP / 16; ++fp) {
          std::uint32_t b[4];
          ldsm_x4_trans(b, xb + (kr * 16 + (lane & 7) + 8 * ((lane >> 3) & 1)) * LDH + fp * 16 +
                               8 * (lane >> 4));
          mma::mma_bf16(acc2[2 * fp], aprev[kr], b[0], b[1]);
          mma::mma_bf16(acc2[2 * fp + 1], aprev[kr], b[2], b[3]);
        }
    }
    if (!live) break;
    // e. log2 Z of tile j's rows from the cluster's partials, in rank order
    cluster_wait();
    float4* rq = rowq + (j % 3) * kBM;
    if (tid < kBM) {
      const float2* xr = xch + (j & 1) * cs * kBM + tid;
      float m = xr[0].x;
      for (int c = 1; c < cs; ++c) m = fmaxf(m, xr[c * kBM].x);
      float sum = 0.f;
      for (int c = 0; c < cs; ++c) sum = fmaf(xr[c * kBM].y, exp2f(xr[c * kBM].x - m), sum);
      const double lz2 = double(m) + log2(double(sum));
      rq[tid].w = float(lz2);
      const std::int64_t row = tile_row0(j) + tid;
      if (rank == 0 && row < n) {
        const double lzd = lz2 * 0.6931471805599453;
        ll += double(rq[tid].z) * lzd;
        if (logz_out) logz_out[row] = lzd;
      }
    }
    __syncthreads();
    // f. responsibilities r = w·2^(ℓ − log2 Z): Σr, Σr‖y‖², and s·r as bf16, transposed into
    //    A fragments of rᵀ (components × rows) with movmatrix
#pragma unroll
    for (int mt = 0; mt < kBM / 16; ++mt) {
      std::uint32_t blk[2][2];  // [row half][n-tile]: 8×8 blocks (rows × components)
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int row = mt * 16 + g + 8 * hh;
        const float4 v = rq[row];
        const float g1 = v.z * exp2f(myred[row].x - v.w), g2 = g1 * v.y, g3 = g1 * v.x;
#pragma unroll
        for (int nt = 0; nt < 2; ++nt) {
          const float p0 = acc[mt][nt][2 * hh], p1 = acc[mt][nt][2 * hh + 1];
          nk[nt][0] = fmaf(p0, g1, nk[nt][0]), nk[nt][1] = fmaf(p1, g1, nk[nt][1]);
          ss[nt][0] = fmaf(p0, g2, ss[nt][0]), ss[nt][1] = fmaf(p1, g2, ss[nt][1]);
          blk[hh][nt] = mma::pack_bf16(p0 * g3, p1 * g3);
        }
      }
      aprev[mt][0] = mma::movmatrix_trans(blk[0][0]);
      aprev[mt][1] = mma::movmatrix_trans(blk[0][1]);
      aprev[mt][2] = mma::movmatrix_trans(blk[1][0]);
      aprev[mt][3] = mma::movmatrix_trans(blk[1][1]);
    }
  }
  mma::cp_async_wait<0>();

  // Partials of this CTA's components (one writer per (cluster, component, column)). Σr and
  // Σr‖y‖² of component nt·8 + 2t + c are spread over the eight lanes g that share t.
#pragma unroll
  for (int nt = 0; nt < 2; ++nt)
#pragma unroll
    for (int c = 0; c < 2; ++c)
#pragma unroll
      for (int o = 4; o <= 16; o <<= 1) {
        nk[nt][c] += __shfl_xor_sync(0xffffffffu, nk[nt][c], o);
        ss[nt][c] += __shfl_xor_sync(0xffffffffu, ss[nt][c], o);
      }
  constexpr int PW = FP + 2;
  if (my_tiles > 0) {
    float* out = part + (std::int64_t(q) * kpad + comp0) * PW;
#pragma unroll
    for (int nt = 0; nt < FP / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        out[(g + 8 * (e >> 1)) * PW + nt * 8 + 2 * t + (e & 1)] += acc2[nt][e];
    if (g == 0)
#pragma unroll
      for (int nt = 0; nt < 2; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          out[(nt * 8 + 2 * t + c) * PW + FP] += nk[nt][c];
          out[(nt * 8 + 2 * t + c) * PW + FP + 1] += ss[nt][c];
        }
  }
  // Fixed-order sum of w·log Z over rank 0's threads.
  __shared__ double llw[kWarps];
  ll = warp_sum(ll);
  if (lane == 0) llw[warp] = ll;
  __syncthreads();
  if (rank == 0 && tid == 0) {
    double s = 0;
    for (int i = 0; i < kWarps; ++i) s += llw[i];
    cluster_ll[q] = s;
  }
  cluster_sync();  // no CTA leaves while another may still address its shared memory
#else
  __trap();
#endif
}

// fp16 parameter rows b_k / t_k (t_k a power of two ≥ max |b_k|) and constants [c'_k, rc_k,
// t_k]·log2(e). c'_k adds the float64 bias correction Σ_f (b_kf − t_k·fp16(b_kf / t_k))·μ_kf: the
// rounding shifts every row's logit the same way, and is exact at the component's mean.
// One warp per component.
__global__ void prepare_cluster_kernel(const float* __restrict__ bmat, const float* __restrict__ c,
                                       const float* __restrict__ rc, int k, int d, int kpad,
                                       int fp, half* __restrict__ params, float* __restrict__ consts) {
  const int j = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
  if (j >= kpad) return;
  if (j >= k) {
    for (int f = lane; f < fp; f += 32) params[std::size_t(j) * fp + f] = __float2half_rn(0.0f);
    if (lane == 0) consts[j] = kPadLogit, consts[kpad + j] = 0.0f, consts[2 * kpad + j] = 0.0f;
    return;
  }
  const float* b = bmat + std::size_t(j) * d;
  float amax = 0.f;
  for (int f = lane; f < d; f += 32) amax = fmaxf(amax, fabsf(b[f]));
  amax = warp_max(amax);
  int e = 0;
  frexpf(amax, &e);
  const float tk = amax > 0.f ? ldexpf(1.0f, e) : 1.0f;
  const double p = -2.0 * double(rc[j]);
  double corr = 0;
  for (int f = lane; f < fp; f += 32) {
    const float v = f < d ? b[f] : 0.0f;
    const half hv = __float2half_rn(v / tk);
    params[std::size_t(j) * fp + f] = hv;
    if (f < d) corr += (double(v) - double(__half2float(hv)) * tk) * (double(v) / p);
  }
  corr = warp_sum(corr);
  if (lane == 0) {
    // The kernels work in the log2 domain (exp2 is one instruction).
    consts[j] = float((double(c[j]) + corr) * 1.4426950408889634);
    consts[kpad + j] = float(double(rc[j]) * 1.4426950408889634);
    consts[2 * kpad + j] = float(double(tk) * 1.4426950408889634);
  }
}

int cluster_feature_pad(int d) { return (d + 31) / 32 * 32; }

int cluster_size_for(int k) {
  int cs = 1;
  while (cs * kCompCta < k) cs *= 2;
  return cs;
}

template <int FP>
struct ClusterLauncher {
  static std::size_t smem_bytes(int cs) { return ClusterLayout(FP, cs).bytes; }
  static cudaLaunchConfig_t config(int clusters, int cs, cudaStream_t s, cudaLaunchAttribute* attr) {
    attr->id = cudaLaunchAttributeClusterDimension;
    attr->val.clusterDim.x = cs, attr->val.clusterDim.y = 1, attr->val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = dim3(clusters * cs);
    cfg.blockDim = dim3(kThreads);
    cfg.dynamicSmemBytes = smem_bytes(cs);
    cfg.stream = s;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    return cfg;
  }
  /// Clusters of `cs` CTAs that fit on the device at once (0: this size cannot run).
  static int max_clusters(int cs) {
    static int cache[kMaxCluster + 1] = {};
    static bool done[kMaxCluster + 1] = {};
    if (done[cs]) return cache[cs];
    done[cs] = true;
    // The largest layout (one CTA per cluster stages whole tiles) bounds every cluster size.
    if (cudaFuncSetAttribute(cluster_estep_kernel<FP>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(smem_bytes(1))) != cudaSuccess ||
        (cs > 8 && cudaFuncSetAttribute(cluster_estep_kernel<FP>,
                                        cudaFuncAttributeNonPortableClusterSizeAllowed, 1) !=
                       cudaSuccess)) {
      (void)cudaGetLastError();
      return cache[cs] = 0;
    }
    cudaLaunchAttribute attr{};
    cudaLaunchConfig_t cfg = config(1, cs, nullptr, &attr);
    int q = 0;
    if (cudaOccupancyMaxActiveClusters(&q, cluster_estep_kernel<FP>, &cfg) != cudaSuccess) {
      (void)cudaGetLastError();
      q = 0;
    }
    return cache[cs] = q;
  }
  static void launch(cudaStream_t s, int clusters, int cs, const float* x, std::int64_t n, int d,
                     const float* center, const half* params, const float* consts, int kpad,
                     const float* w, float* part, double* cluster_ll, double* logz_out) {
    cudaLaunchAttribute attr{};
    cudaLaunchConfig_t cfg = config(clusters, cs, s, &attr);
    FLASHGMM_CUDA_CHECK(cudaLaunchKernelEx(&cfg, cluster_estep_kernel<FP>, x, n, d, center, params,
                                           consts, kpad, w, cs, part, cluster_ll, logz_out));
  }
};

template <typename F>
void dispatch_cluster_fp(int fp, F&& f) {
  switch (fp) {
    case 32: f(ClusterLauncher<32>{}); break;
    case 64: f(ClusterLauncher<64>{}); break;
    case 96: f(ClusterLauncher<96>{}); break;
    case 128: f(ClusterLauncher<128>{}); break;
    default: FLASHGMM_THROW("cluster E-step: no kernel for " << fp << " feature columns");
  }
}

__global__ void reduce_cluster_partials_kernel(const float* __restrict__ part, int clusters,
                                               int kpad, int fp, int k, int d, double* nk,
                                               double* sx, double* sxx) {
  const int pw = fp + 2;
  const std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= std::int64_t(k) * pw) return;
  const int j = int(idx / pw), col = int(idx % pw);
  double s = 0;
  for (int c = 0; c < clusters; ++c) s += double(part[(std::int64_t(c) * kpad + j) * pw + col]);
  if (col < d) sx[std::int64_t(j) * d + col] += s;
  else if (col == fp) nk[j] += s;
  else if (col == fp + 1) sxx[j] += s;
}

}  // namespace

// The cluster path can serve spherical fast-precision E-steps on sm_90 devices with D ≤ 128
// and K ≤ 2048. It is opt-in (FLASHGMM_CUDA_FUSED=cluster): measured on an H100 it is more
// accurate but slower than the two-kernel fused path (bench/RESULTS.md, "Single-pass cluster
// kernel"), because its per-logit work (scaling, exp2, row reductions, transposes) keeps the
// tensor pipe busy for only ~9% of the issued instructions.
bool EstepEngine::cluster_supported() const {
  const DeviceModel& m = model_;
  if (!fused_supported() || m.type != CovarianceType::spherical || m.d > 128 || m.d % 4 != 0 ||
      m.k > kMaxCluster * kCompCta || cc_major_ < 9)
    return false;
  const char* env = std::getenv("FLASHGMM_CUDA_FUSED");
  if (!env || std::strcmp(env, "cluster") != 0) return false;
  int clusters = 0;
  dispatch_cluster_fp(cluster_feature_pad(m.d),
                      [&](auto l) { clusters = decltype(l)::max_clusters(cluster_size_for(m.k)); });
  return clusters > 0;
}

void EstepEngine::prepare_cluster_params() {
  const DeviceModel& m = model_;
  const int cs = cluster_size_for(m.k), kpad = cs * kCompCta, fp = cluster_feature_pad(m.d);
  if (kpad != cluster_kpad_ || fp != cluster_fpad_) {
    cluster_params_ = DeviceArray<half>(mem_, std::size_t(kpad) * fp, "cluster fp16 parameters");
    cluster_consts_ = DeviceArray<float>(mem_, 3 * std::size_t(kpad), "cluster constants");
    cluster_kpad_ = kpad, cluster_fpad_ = fp;
  }
  prepare_cluster_kernel<<<(kpad * 32 + 255) / 256, 256, 0, stream_>>>(
      m.bmat.get(), m.c.get(), m.rowcoef.get(), m.k, m.d, kpad, fp, cluster_params_.get(),
      cluster_consts_.get());
  FLASHGMM_CUDA_CHECK_LAUNCH();
}

void EstepEngine::run_cluster(const float* x, const float* w, std::int64_t n,
                              const RowOutputs& rows, std::int64_t row0, bool want_stats) {
  const DeviceModel& m = model_;
  const int cs = cluster_size_for(m.k), kpad = cluster_kpad_, fp = cluster_fpad_;
  // With log Z requested, rows go in segments whose float64 log Z fits a bounded buffer.
  const std::int64_t seg = rows.log_z ? std::min<std::int64_t>(n, 1 << 20) : n;
  dispatch_cluster_fp(fp, [&](auto launcher) {
    using L = decltype(launcher);
    const int maxq = L::max_clusters(cs);
    const std::int64_t tiles = (seg + kBM - 1) / kBM;
    const int clusters = int(std::max<std::int64_t>(1, std::min<std::int64_t>(maxq, tiles)));
    const std::size_t npart = std::size_t(clusters) * kpad * (fp + 2);
    fused_partials_.grow(mem_, npart, "cluster partial statistics");
    FLASHGMM_CUDA_CHECK(cudaMemsetAsync(fused_partials_.get(), 0, npart * 4, stream_));
    fused_ll_.grow(mem_, std::size_t(clusters), "cluster log-likelihoods");
    if (rows.log_z) fused_logz_out_.grow(mem_, std::size_t(seg), "cluster log Z output");
    for (std::int64_t b = 0; b < n; b += seg) {
      const std::int64_t cnt = std::min(seg, n - b);
      L::launch(stream_, clusters, cs, x + b * m.d, cnt, m.d, m.center.get(),
                cluster_params_.get(), cluster_consts_.get(), kpad, w ? w + b : nullptr,
                fused_partials_.get(), fused_ll_.get(), rows.log_z ? fused_logz_out_.get() : nullptr);
      if (want_stats) sum_into(acc_ll_.get(), fused_ll_.get(), clusters, stream_);
      if (rows.log_z) {
        FLASHGMM_CUDA_CHECK(cudaMemcpyAsync(rows.log_z + row0 + b, fused_logz_out_.get(),
                                            sizeof(double) * cnt, cudaMemcpyDeviceToHost, stream_));
        FLASHGMM_CUDA_CHECK(cudaStreamSynchronize(stream_));
      }
    }
    if (want_stats) {
      const std::int64_t total = std::int64_t(m.k) * (fp + 2);
      reduce_cluster_partials_kernel<<<int((total + 255) / 256), 256, 0, stream_>>>(
          fused_partials_.get(), clusters, kpad, fp, m.k, m.d, acc_nk_.get(), acc_sx_.get(),
          acc_sxx_.get());
      FLASHGMM_CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace flashgmm::cuda
