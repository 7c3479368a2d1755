// flashgmm CUDA backend, cluster path (Hopper, sm_90): spherical covariance in fast precision,
// ONE pass over the rows per E-step (the two-kernel fused path reads every row twice and
// computes its logits twice).
//
// A thread-block cluster of CS CTAs owns all K components (128 per CTA, 16 per warp, their
// parameters held as fp16 A fragments) and walks a strided set of 64-row tiles:
//   a. the tile's float32 rows arrive by multicast bulk copies (each CTA fetches 64/CS rows for
//      the whole cluster, three tiles in flight) and are converted per row to fp16 (for the
//      logits) and bf16 (for the statistics) features ŷ = (x − centre)/s, s a power of two;
//   b. logits ℓᵀ (16 components × 64 rows per warp) by fp16 mma.sync; per row, the warp's max
//      m and Σ exp(ℓ − m) over its components;
//   c. the CTA's partial (max, sum) per row goes to every CTA of the cluster through
//      distributed shared memory, then a split cluster barrier;
//   d. meanwhile the previous tile's statistics: Σ r·y as the bf16 product rᵀ·ŷ with the
//      responsibilities still in registers (FlashAttention-2's trick) and s folded into r;
//   e. after the barrier every CTA has log Z of the tile's rows (combined in a fixed order);
//   f. r = w·exp(ℓ − log Z) becomes the A operand of the next iteration's step d; Σ r and
//      Σ r‖y‖² (‖y‖² exact in float32) accumulate in float32.
// Each CTA writes one float32 partial per component at the end (fixed tile order, no atomics):
// the pass is bitwise repeatable. fp16 parameters (11-bit significands, scaled per component by
// a power of two) keep the logits within the fast mode's error budget with ONE product, where
// bf16 needed a hi + lo pair; a float64 bias correction at the component's mean removes the
// rest, as in the fused path. Requires D % 4 == 0 (16-byte bulk copies) and D ≤ 128.
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
constexpr int kStages = 3;       // float32 row tiles in flight
constexpr int kMaxCluster = 16;  // 16 is a non-portable cluster size (H100 allows it)
constexpr float kPadLogit = -1e30f;

template <int FP>
struct ClusterShape {
  static constexpr int LDH = FP + 8;  // fp16/bf16 row stride: 16-byte rows, no bank conflicts
  static constexpr std::size_t kStage = 0;
  static constexpr std::size_t kFh = kStage + std::size_t(kStages) * kBM * FP * 4;
  static constexpr std::size_t kFb = kFh + 2 * std::size_t(kBM) * LDH * 2;
  static constexpr std::size_t kRow = kFb + 3 * std::size_t(kBM) * LDH * 2;
  static constexpr std::size_t kRed = kRow + 3 * 3 * std::size_t(kBM) * 4;
  static constexpr std::size_t kXch = kRed + 2 * std::size_t(kWarps) * kBM * 8;
  static constexpr std::size_t kLz = kXch + 2 * std::size_t(kMaxCluster) * kBM * 8;
  static constexpr std::size_t kCen = kLz + std::size_t(kBM) * 4;
  static constexpr std::size_t kMbar = kCen + std::size_t(FP) * 4;
  static constexpr std::size_t smem = kMbar + kStages * 8;
};

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
  using S = ClusterShape<FP>;
  constexpr int LDH = S::LDH;
  extern __shared__ __align__(128) unsigned char smem[];
  float* stage = reinterpret_cast<float*>(smem + S::kStage);
  half* fh = reinterpret_cast<half*>(smem + S::kFh);    // [2][kBM][LDH]  logits operand
  bf16* fb = reinterpret_cast<bf16*>(smem + S::kFb);    // [3][kBM][LDH]  statistics operand
  float* rowv = reinterpret_cast<float*>(smem + S::kRow);  // [3][s, ‖y‖², w][kBM]
  float2* red = reinterpret_cast<float2*>(smem + S::kRed);  // [2][warp][row] (max, sum)
  float2* xch = reinterpret_cast<float2*>(smem + S::kXch);  // [2][cta][row]  (max, sum)
  float* lz = reinterpret_cast<float*>(smem + S::kLz);
  float* cen = reinterpret_cast<float*>(smem + S::kCen);
  std::uint64_t* mbar = reinterpret_cast<std::uint64_t*>(smem + S::kMbar);

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const std::uint32_t rank = cluster_rank();
  const int q = blockIdx.x / cs, nclusters = gridDim.x / cs;
  const std::int64_t tiles = (n + kBM - 1) / kBM;
  const int my_tiles = tiles > q ? int((tiles - q + nclusters - 1) / nclusters) : 0;
  const int rows_per_cta = kBM / cs;
  const std::uint16_t mask = std::uint16_t((1u << cs) - 1u);
  auto tile_row0 = [&](int j) { return (std::int64_t(q) + std::int64_t(j) * nclusters) * kBM; };
  auto tile_rows = [&](int j) { return int(min(std::int64_t(kBM), n - tile_row0(j))); };

  // Feature buffers start at zero: their padding columns (D..FP) are never written.
  for (int i = tid; i < 5 * kBM * LDH / 2; i += kThreads) reinterpret_cast<std::uint32_t*>(fh)[i] = 0u;
  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) mbar_init(smem_u32(mbar + s), 1);
    fence_mbar_init();
  }
  cluster_sync();  // every CTA's mbarriers exist before any copy targets them

  // Thread 0 of each CTA: announce tile j's bytes on its own mbarrier and fetch its share of
  // the rows into the same slot of every CTA of the cluster.
  auto issue = [&](int j) {
    const int slot = j % kStages, rows = tile_rows(j);
    const std::uint32_t bar = smem_u32(mbar + slot);
    mbar_arrive_expect_tx(bar, std::uint32_t(rows) * d * 4);
    const int r0 = int(rank) * rows_per_cta, cnt = min(rows_per_cta, rows - r0);
    if (cnt > 0) {
      const std::uint32_t dst = smem_u32(stage + std::size_t(slot) * kBM * FP + std::size_t(r0) * d);
      const float* src = x + (tile_row0(j) + r0) * d;
      if (cs == 1) bulk_copy(dst, src, std::uint32_t(cnt) * d * 4, bar);
      else bulk_copy_multicast(dst, src, std::uint32_t(cnt) * d * 4, bar, mask);
    }
  };

  // Rows of tile j → ŷ = y / s (fp16 and bf16), s, ‖y‖², w. Four lanes per row (8 rows per
  // warp); lane quarter qq covers the float4 columns qq, qq + 4, qq + 8, ...
  for (int i = tid; i < FP; i += kThreads) cen[i] = i < d ? center[i] : 0.0f;
  auto convert = [&](int j) {
    const int slot = j % kStages, rows = tile_rows(j);
    mbar_wait(smem_u32(mbar + slot), std::uint32_t(j / kStages) & 1u);
    const float* st = stage + std::size_t(slot) * kBM * FP;
    half* h = fh + (j & 1) * kBM * LDH;
    bf16* b = fb + (j % 3) * kBM * LDH;
    float* rv = rowv + (j % 3) * 3 * kBM;
    const int r = warp * (kBM / kWarps) + (lane >> 2), qq = lane & 3;
    const bool valid = r < rows;
    float4 y[FP / 16];
    float amax = 0.f, sq = 0.f;
#pragma unroll
    for (int i = 0; i < FP / 16; ++i) {
      const int col = 4 * (4 * i + qq);
      y[i] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (valid && col < d) {
        const float4 v = *reinterpret_cast<const float4*>(st + r * d + col);
        const float4 c = *reinterpret_cast<const float4*>(cen + col);
        y[i] = make_float4(v.x - c.x, v.y - c.y, v.z - c.z, v.w - c.w);
      }
      amax = fmaxf(amax, fmaxf(fmaxf(fabsf(y[i].x), fabsf(y[i].y)), fmaxf(fabsf(y[i].z), fabsf(y[i].w))));
      sq += y[i].x * y[i].x + y[i].y * y[i].y + y[i].z * y[i].z + y[i].w * y[i].w;
    }
#pragma unroll
    for (int o = 1; o <= 2; o <<= 1) {
      amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
      sq += __shfl_xor_sync(0xffffffffu, sq, o);
    }
    int e = 0;
    frexpf(amax, &e);  // amax = f·2^e, f in [0.5, 1): |y / 2^e| < 1
    const float inv = amax > 0.f ? ldexpf(1.0f, -e) : 1.0f;
#pragma unroll
    for (int i = 0; i < FP / 16; ++i) {
      const int col = 4 * (4 * i + qq);
      const float a0 = y[i].x * inv, a1 = y[i].y * inv, a2 = y[i].z * inv, a3 = y[i].w * inv;
      std::uint32_t* hp = reinterpret_cast<std::uint32_t*>(h + r * LDH + col);
      hp[0] = mma::pack_f16(a0, a1), hp[1] = mma::pack_f16(a2, a3);
      std::uint32_t* bp = reinterpret_cast<std::uint32_t*>(b + r * LDH + col);
      bp[0] = mma::pack_bf16(a0, a1), bp[1] = mma::pack_bf16(a2, a3);
    }
    if (qq == 0) {
      rv[r] = amax > 0.f ? ldexpf(1.0f, e) : 1.0f;
      rv[kBM + r] = sq;
      rv[2 * kBM + r] = valid ? (w ? w[tile_row0(j) + r] : 1.0f) : 0.0f;
    }
  };

  // This warp's 16 components: fp16 parameter fragments and per-component constants.
  const int comp0 = int(rank) * kCompCta + warp * 16;
  std::uint32_t pa[FP / 16][4];
#pragma unroll
  for (int kk = 0; kk < FP / 16; ++kk) {
    const half* p0 = params + std::size_t(comp0 + g) * FP + kk * 16 + 2 * t;
    const half* p8 = p0 + 8 * FP;
    pa[kk][0] = *reinterpret_cast<const std::uint32_t*>(p0);
    pa[kk][1] = *reinterpret_cast<const std::uint32_t*>(p8);
    pa[kk][2] = *reinterpret_cast<const std::uint32_t*>(p0 + 8);
    pa[kk][3] = *reinterpret_cast<const std::uint32_t*>(p8 + 8);
  }
  float cc[2], rc[2], tt[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    cc[h] = consts[comp0 + g + 8 * h];
    rc[h] = consts[kpad + comp0 + g + 8 * h];
    tt[h] = consts[2 * kpad + comp0 + g + 8 * h];
  }

  float acc2[FP / 8][4];
#pragma unroll
  for (int nt = 0; nt < FP / 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc2[nt][e] = 0.0f;
  float nk[2] = {0.f, 0.f}, ss[2] = {0.f, 0.f};
  std::uint32_t aprev[kBM / 16][4];
  double ll = 0;

  __syncthreads();  // cen[] is written
  if (my_tiles > 0) {
    if (tid == 0)
      for (int j = 0; j < min(kStages, my_tiles); ++j) issue(j);
    convert(0);
  }
  cluster_sync();  // tile 0's slot is free in every CTA
  if (tid == 0 && kStages < my_tiles) issue(kStages);
  __syncthreads();

  for (int j = 0; j <= my_tiles; ++j) {
    const bool live = j < my_tiles;
    float acc[kBM / 8][4];
    if (live) {
      // a. the next tile's features
      if (j + 1 < my_tiles) convert(j + 1);
      // b. logits of tile j, this warp's (max, Σ exp) per row
      const half* xt = fh + (j & 1) * kBM * LDH;
      const float* rv = rowv + (j % 3) * 3 * kBM;
#pragma unroll
      for (int nt = 0; nt < kBM / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[nt][e] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < FP / 16; ++kk)
#pragma unroll
        for (int np = 0; np < kBM / 16; ++np) {
          std::uint32_t b[4];
          ldsm_x4(b, xt + (np * 16 + (lane & 7) + 8 * (lane >> 4)) * LDH + kk * 16 +
                         8 * ((lane >> 3) & 1));
          mma::mma_f16(acc[2 * np], pa[kk], b[0], b[1]);
          mma::mma_f16(acc[2 * np + 1], pa[kk], b[2], b[3]);
        }
#pragma unroll
      for (int nt = 0; nt < kBM / 8; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int row = nt * 8 + 2 * t + c;
          const float s = rv[row], sq = rv[kBM + row];
          const float l0 = cc[0] + rc[0] * sq + tt[0] * s * acc[nt][c];
          const float l1 = cc[1] + rc[1] * sq + tt[1] * s * acc[nt][2 + c];
          float m = fmaxf(l0, l1);
#pragma unroll
          for (int o = 4; o <= 16; o <<= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
          const float p0 = __expf(l0 - m), p1 = __expf(l1 - m);
          float sum = p0 + p1;
#pragma unroll
          for (int o = 4; o <= 16; o <<= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
          acc[nt][c] = p0, acc[nt][2 + c] = p1;
          if (g == 0) red[((j & 1) * kWarps + warp) * kBM + row] = make_float2(m, sum);
        }
      __syncthreads();
      // c. this CTA's (max, sum) per row → every CTA of the cluster
      if (tid < kBM) {
        const float2* rw = red + (j & 1) * kWarps * kBM + tid;
        float m = rw[0].x;
#pragma unroll
        for (int i = 1; i < kWarps; ++i) m = fmaxf(m, rw[i * kBM].x);
        float sum = 0.f;
#pragma unroll
        for (int i = 0; i < kWarps; ++i) sum += rw[i * kBM].y * __expf(rw[i * kBM].x - m);
        const std::uint32_t local = smem_u32(xch + ((j & 1) * kMaxCluster + rank) * kBM + tid);
        for (int c = 0; c < cs; ++c) st_cluster_f2(map_to_rank(local, std::uint32_t(c)), m, sum);
      }
      cluster_arrive();
    }
    // d. statistics of tile j − 1 (its responsibilities are in aprev)
    if (j >= 1) {
      const bf16* xb = fb + ((j - 1) % 3) * kBM * LDH;
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
    // e. log Z of tile j's rows from the cluster's partials, in rank order
    cluster_wait();
    const float* rv = rowv + (j % 3) * 3 * kBM;
    if (tid < kBM) {
      const float2* xr = xch + (j & 1) * kMaxCluster * kBM + tid;
      float m = xr[0].x;
      for (int c = 1; c < cs; ++c) m = fmaxf(m, xr[c * kBM].x);
      float sum = 0.f;
      for (int c = 0; c < cs; ++c) sum += xr[c * kBM].y * __expf(xr[c * kBM].x - m);
      const double lzd = double(m) + log(double(sum));
      lz[tid] = float(lzd);
      const std::int64_t row = tile_row0(j) + tid;
      if (rank == 0 && row < n) {
        ll += double(rv[2 * kBM + tid]) * lzd;
        if (logz_out) logz_out[row] = lzd;
      }
    }
    __syncthreads();
    if (tid == 0 && j + 1 + kStages < my_tiles) issue(j + 1 + kStages);
    // f. responsibilities r = w·exp(ℓ − log Z): Σr, Σr‖y‖², and s·r as bf16 A fragments
    // (the warp's row maxima are read back from step b's exchange buffer, saving registers)
    const float2* mw = red + ((j & 1) * kWarps + warp) * kBM;
#pragma unroll
    for (int nt = 0; nt < kBM / 8; ++nt)
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int row = nt * 8 + 2 * t + c;
        const float gsc = rv[2 * kBM + row] * __expf(mw[row].x - lz[row]);
        const float r0 = acc[nt][c] * gsc, r1 = acc[nt][2 + c] * gsc;
        const float sq = rv[kBM + row], s = rv[row];
        nk[0] += r0, nk[1] += r1;
        ss[0] = fmaf(r0, sq, ss[0]), ss[1] = fmaf(r1, sq, ss[1]);
        acc[nt][c] = r0 * s, acc[nt][2 + c] = r1 * s;
      }
#pragma unroll
    for (int kr = 0; kr < kBM / 16; ++kr) {
      aprev[kr][0] = mma::pack_bf16(acc[2 * kr][0], acc[2 * kr][1]);
      aprev[kr][1] = mma::pack_bf16(acc[2 * kr][2], acc[2 * kr][3]);
      aprev[kr][2] = mma::pack_bf16(acc[2 * kr + 1][0], acc[2 * kr + 1][1]);
      aprev[kr][3] = mma::pack_bf16(acc[2 * kr + 1][2], acc[2 * kr + 1][3]);
    }
  }

  // Partials of this CTA's components (one writer per (cluster, component, column)).
#pragma unroll
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int o = 1; o <= 2; o <<= 1) {
      nk[h] += __shfl_xor_sync(0xffffffffu, nk[h], o);
      ss[h] += __shfl_xor_sync(0xffffffffu, ss[h], o);
    }
  constexpr int PW = FP + 2;
  if (my_tiles > 0) {
    float* out = part + (std::int64_t(q) * kpad + comp0) * PW;
#pragma unroll
    for (int nt = 0; nt < FP / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        out[(g + 8 * (e >> 1)) * PW + nt * 8 + 2 * t + (e & 1)] += acc2[nt][e];
    if (t == 0)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        out[(g + 8 * h) * PW + FP] += nk[h];
        out[(g + 8 * h) * PW + FP + 1] += ss[h];
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
// t_k]. c'_k adds the float64 bias correction Σ_f (b_kf − t_k·fp16(b_kf / t_k))·μ_kf: the
// rounding shifts every row's logit the same way, and is exact at the component's mean.
// One warp per component.
__global__ void prepare_cluster_kernel(const float* __restrict__ bmat, const float* __restrict__ c,
                                       const float* __restrict__ rc, int k, int d, int kpad,
                                       int fp, half* __restrict__ params, float* __restrict__ consts) {
  const int j = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, lane = threadIdx.x & 31;
  if (j >= kpad) return;
  if (j >= k) {
    for (int f = lane; f < fp; f += 32) params[std::size_t(j) * fp + f] = __float2half_rn(0.0f);
    if (lane == 0) consts[j] = kPadLogit, consts[kpad + j] = 0.0f, consts[2 * kpad + j] = 1.0f;
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
    consts[j] = float(double(c[j]) + corr);
    consts[kpad + j] = rc[j];
    consts[2 * kpad + j] = tk;
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
  using S = ClusterShape<FP>;
  /// Clusters of `cs` CTAs that fit on the device at once (0: this size cannot run).
  static int max_clusters(int cs) {
    static int cache[kMaxCluster + 1] = {};
    static bool done[kMaxCluster + 1] = {};
    if (done[cs]) return cache[cs];
    done[cs] = true;
    if (cudaFuncSetAttribute(cluster_estep_kernel<FP>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(S::smem)) != cudaSuccess ||
        (cs > 8 && cudaFuncSetAttribute(cluster_estep_kernel<FP>,
                                        cudaFuncAttributeNonPortableClusterSizeAllowed, 1) !=
                       cudaSuccess)) {
      (void)cudaGetLastError();
      return cache[cs] = 0;
    }
    cudaLaunchConfig_t cfg{};
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = cs, attr.val.clusterDim.y = 1, attr.val.clusterDim.z = 1;
    cfg.gridDim = dim3(cs);
    cfg.blockDim = dim3(kThreads);
    cfg.dynamicSmemBytes = S::smem;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
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
    cudaLaunchConfig_t cfg{};
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = cs, attr.val.clusterDim.y = 1, attr.val.clusterDim.z = 1;
    cfg.gridDim = dim3(clusters * cs);
    cfg.blockDim = dim3(kThreads);
    cfg.dynamicSmemBytes = S::smem;
    cfg.stream = s;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
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

// The cluster path serves spherical fast-precision E-steps on sm_90 devices with D ≤ 128 and
// K ≤ 2048; FLASHGMM_CUDA_FUSED=two forces the two-kernel fused path (for comparisons).
bool EstepEngine::cluster_supported() const {
  const DeviceModel& m = model_;
  if (!fused_supported() || m.type != CovarianceType::spherical || m.d > 128 || m.d % 4 != 0 ||
      m.k > kMaxCluster * kCompCta || cc_major_ < 9)
    return false;
  const char* env = std::getenv("FLASHGMM_CUDA_FUSED");
  if (env && std::strcmp(env, "two") == 0) return false;
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
    if (fused_partials_.size() < npart) {
      fused_partials_ = {};
      fused_partials_ = DeviceArray<float>(mem_, npart, "cluster partial statistics");
    }
    FLASHGMM_CUDA_CHECK(cudaMemsetAsync(fused_partials_.get(), 0, npart * 4, stream_));
    if (fused_ll_.size() < std::size_t(clusters)) {
      fused_ll_ = {};
      fused_ll_ = DeviceArray<double>(mem_, clusters, "cluster log-likelihoods");
    }
    if (rows.log_z && fused_logz_out_.size() < std::size_t(seg)) {
      fused_logz_out_ = {};
      fused_logz_out_ = DeviceArray<double>(mem_, seg, "cluster log Z output");
    }
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
