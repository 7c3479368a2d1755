// flashgmm CUDA backend, fused full-covariance path (fast precision, D ≤ 128): tensor-core
// kernels that never write logits or whitened rows to memory. Two kernels per segment of rows:
//   1. full_logz_kernel: a block owns 256 rows (32 per warp, as A fragments in registers) and
//      streams every component's precision factor P_k through shared memory (cp.async double
//      buffer); per component and 8·NC output columns it forms y·P_k with fp16 mma.sync,
//      subtracts b_k = μ_k·P_k in float32 and accumulates ‖·‖²; an online log-sum-exp over K
//      gives log Z per row. It also writes the rows' fp16 features for kernel 2.
//   2. full_stats_kernel: a block owns one component (and a split of the rows); per 128-row
//      tile it recomputes the logits exactly as kernel 1 does (same code, same order: r ≤ 1
//      holds bitwise), forms z = √r·(y − μ_k) in bf16 in shared memory and accumulates
//      ZᵀZ = Σ r (y−μ)(y−μ)ᵀ (upper 16×16 blocks only: it is symmetric) and Σ r (y − μ) with
//      bf16 mma.sync, N_k in float32. Centring on μ_k keeps the bf16 rounding relative to the
//      spread, not to the distance from the centre; the block converts to Σ r y yᵀ in float64.
// Per row, y = x − center is scaled by a power of two into fp16's range (exact, undone in
// float32 after the product); each factor P_k likewise. fp16 (11 significant bits) instead of
// bf16 (8) keeps one product per logit: the parameter rounding that is the same for every row
// (2⁻¹² relative) shifts a logit by ~√D·2⁻¹² nats at most.
// Work: N·K·D² (log Z) + N·K·(D² + D²/2) (statistics) multiply-adds; deterministic (each
// statistic has one owner per launch, launches run in order, no atomics).
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "cuda/cuda_check.cuh"
#include "cuda/estep_engine.cuh"
#include "cuda/mma_primitives.cuh"
#include "cuda/reduce_kernels.cuh"

namespace flashgmm::cuda {
namespace {

using mma::cp_async_16;
using mma::cp_async_16_zfill;
using mma::ldsm_x4;
using mma::ldsm_x4_trans;
using bf16 = __nv_bfloat16;
using f16 = __half;

constexpr int kThreads = 256, kWarps = 8;
constexpr int kRows1 = 256;  // rows per block, log Z kernel (32 per warp)
constexpr int kRows2 = 128;  // rows per tile, statistics kernel (16 per warp)
constexpr int kMaxDp = 128;  // widest padded dimension of the fused full path

template <int DP>
struct FullShape {
  static constexpr int LD = DP + 8;  // 16-bit row stride in shared memory (no ldmatrix conflicts)
  static constexpr int NC = DP % 64 == 0 ? 64 : DP % 32 == 0 ? 32 : 16;  // columns per chunk
  static constexpr int KS = DP / 16;                                     // k-steps of a product
  static constexpr int NB = DP / 16;                // 16-wide feature blocks of ZᵀZ
  static constexpr int NBLK = NB * (NB + 1) / 2;    // upper-triangle blocks
  static constexpr int BPW = (NBLK + kWarps - 1) / kWarps;  // blocks per warp
  static constexpr std::size_t smem1 = std::size_t(kRows1) * LD * 2 + 2 * std::size_t(DP) * LD * 2 +
                                       2 * DP * 4 + 2 * 4 * 4 + kRows1 * 4;
  static constexpr std::size_t smem2 =
      std::size_t(DP) * LD * 2 + 2 * DP * 4 + 4 * 4 +           // factor, b_k, μ_k, constants
      2 * std::size_t(kRows2) * LD * 2 + 2 * 3 * kRows2 * 4 +   // row tiles, row scalars
      std::size_t(kRows2) * LD * 2 + 2 * kRows2 * 4 + kRows2 * 2 + kWarps * 4 + DP * 4;
};

// Upper-triangle block b (row-major order) → (I, J), I ≤ J.
template <int NB>
__device__ __forceinline__ void block_ij(int b, int& bi, int& bj) {
  bi = 0;
  int first = 0;
  while (b >= first + NB - bi) first += NB - bi, ++bi;
  bj = bi + (b - first);
}

// Component j's operands → shared memory (uncommitted cp.async): the fp16 factor rows
// ([output column][input feature]), b_j and the constants {2^s_j, c_j}.
template <int DP>
__device__ __forceinline__ void load_component(f16* us, float* bs, float* cs, const f16* factors,
                                               const float* bvec, const float* consts, int j) {
  constexpr int LD = FullShape<DP>::LD;
  const f16* src = factors + std::int64_t(j) * DP * DP;
  for (int i = threadIdx.x; i < DP * DP / 8; i += kThreads) {
    const int r = i / (DP / 8), c = (i % (DP / 8)) * 8;
    cp_async_16(us + r * LD + c, src + r * DP + c);
  }
  for (int i = threadIdx.x; i < DP / 4; i += kThreads)
    cp_async_16(bs + 4 * i, bvec + std::int64_t(j) * DP + 4 * i);
  if (threadIdx.x == 0) cp_async_16(cs, consts + 4 * std::int64_t(j));
}

// ‖y·P̃ − b‖² for this warp's MW row tiles (A fragments a) against the factor in `us`, with
// fac = 2^(s_j − e_row) per (row tile, half). Both kernels call this: the same operations in
// the same order, so that kernel 2's logits equal kernel 1's bitwise.
template <int DP, int MW>
__device__ __forceinline__ void whitened_norms(const std::uint32_t (&a)[MW][DP / 16][4],
                                               const f16* us, const float* bs,
                                               const float (&fac)[MW][2], float (&q)[MW][2]) {
  using S = FullShape<DP>;
  const int lane = threadIdx.x & 31, t = lane & 3;
#pragma unroll
  for (int mw = 0; mw < MW; ++mw) q[mw][0] = q[mw][1] = 0.0f;
#pragma unroll
  for (int c0 = 0; c0 < DP; c0 += S::NC) {
    float acc[MW][S::NC / 8][4];
#pragma unroll
    for (int mw = 0; mw < MW; ++mw)
#pragma unroll
      for (int nt = 0; nt < S::NC / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[mw][nt][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < S::KS; ++kk)
#pragma unroll
      for (int np = 0; np < S::NC / 16; ++np) {
        std::uint32_t b[4];
        ldsm_x4(b, us + (c0 + np * 16 + (lane & 7) + 8 * (lane >> 4)) * S::LD + kk * 16 +
                       8 * ((lane >> 3) & 1));
#pragma unroll
        for (int mw = 0; mw < MW; ++mw) {
          mma::mma_f16(acc[mw][2 * np], a[mw][kk], b[0], b[1]);
          mma::mma_f16(acc[mw][2 * np + 1], a[mw][kk], b[2], b[3]);
        }
      }
#pragma unroll
    for (int nt = 0; nt < S::NC / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const float bv = bs[c0 + nt * 8 + 2 * t + e];
#pragma unroll
        for (int mw = 0; mw < MW; ++mw)
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const float y = fmaf(acc[mw][nt][2 * h + e], fac[mw][h], -bv);
            q[mw][h] = fmaf(y, y, q[mw][h]);
          }
      }
  }
#pragma unroll
  for (int mw = 0; mw < MW; ++mw)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      q[mw][h] += __shfl_xor_sync(0xffffffffu, q[mw][h], 1);
      q[mw][h] += __shfl_xor_sync(0xffffffffu, q[mw][h], 2);
    }
}

// ---------------------------------------------------------------- kernel 1: log Z per row
template <int DP>
__global__ void __launch_bounds__(kThreads) full_logz_kernel(
    const float* __restrict__ x, int n, int d, const float* __restrict__ center,
    const f16* __restrict__ factors, const float* __restrict__ bvec,
    const float* __restrict__ consts, int k, const float* __restrict__ w,
    float* __restrict__ logz, double* __restrict__ logz_out, double* __restrict__ block_ll,
    f16* __restrict__ feats, float* __restrict__ rowscale) {
  using S = FullShape<DP>;
  constexpr int MW = 2;
  extern __shared__ __align__(16) unsigned char smem[];
  f16* xs = reinterpret_cast<f16*>(smem);           // [kRows1][LD]
  f16* us = xs + kRows1 * S::LD;                    // [2][DP][LD]
  float* bs = reinterpret_cast<float*>(us + 2 * DP * S::LD);  // [2][DP]
  float* cs = bs + 2 * DP;                          // [2][4]
  float* srow = cs + 8;                             // [kRows1]: 2^-e per row
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const std::int64_t row0 = std::int64_t(blockIdx.x) * kRows1;

  load_component<DP>(us, bs, cs, factors, bvec, consts, 0);
  mma::cp_async_commit();

  // Rows → fp16, each scaled by 2^e so that its largest |y_t| lies in [2^13, 2^14).
  constexpr int PER = (DP + 31) / 32;
  for (int rr = 0; rr < 32; ++rr) {
    const int r = warp * 32 + rr;
    const std::int64_t row = row0 + r;
    float v[PER];
    float mx = 0.0f;
#pragma unroll
    for (int u = 0; u < PER; ++u) {
      const int c = lane + 32 * u;
      v[u] = row < n && c < d ? x[row * d + c] - center[c] : 0.0f;
      mx = fmaxf(mx, fabsf(v[u]));
    }
    mx = warp_max(mx);
    int ex = 0;
    if (mx > 0.0f) frexpf(mx, &ex);
    const int e = min(100, max(-100, 14 - ex));
    const float scale = ldexpf(1.0f, e);
#pragma unroll
    for (int u = 0; u < PER; ++u) {
      const int c = lane + 32 * u;
      if (c < DP) xs[r * S::LD + c] = __float2half_rn(v[u] * scale);
    }
    if (lane == 0) srow[r] = ldexpf(1.0f, -e);
  }
  __syncthreads();
  for (int i = threadIdx.x; i < kRows1 * (DP / 8); i += kThreads) {
    const int r = i / (DP / 8), c = (i % (DP / 8)) * 8;
    if (row0 + r < n)
      *reinterpret_cast<uint4*>(feats + (row0 + r) * DP + c) =
          *reinterpret_cast<const uint4*>(xs + r * S::LD + c);
  }
  for (int r = threadIdx.x; r < kRows1; r += kThreads)
    if (row0 + r < n) rowscale[row0 + r] = srow[r];

  std::uint32_t a[MW][S::KS][4];
#pragma unroll
  for (int mw = 0; mw < MW; ++mw)
#pragma unroll
    for (int kk = 0; kk < S::KS; ++kk)
      ldsm_x4(a[mw][kk], xs + (warp * 32 + mw * 16 + (lane & 15)) * S::LD + kk * 16 + 8 * (lane >> 4));
  float rinv[MW][2], mx[MW][2], sum[MW][2];
#pragma unroll
  for (int mw = 0; mw < MW; ++mw)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      rinv[mw][h] = srow[warp * 32 + mw * 16 + g + 8 * h];
      mx[mw][h] = -FLT_MAX;
      sum[mw][h] = 0.0f;
    }

  for (int j = 0; j < k; ++j) {
    const int buf = j & 1;
    if (j + 1 < k) {
      load_component<DP>(us + (buf ^ 1) * DP * S::LD, bs + (buf ^ 1) * DP, cs + (buf ^ 1) * 4,
                         factors, bvec, consts, j + 1);
      mma::cp_async_commit();
      mma::cp_async_wait<1>();
    } else {
      mma::cp_async_wait<0>();
    }
    __syncthreads();
    const float gk = cs[buf * 4], ck = cs[buf * 4 + 1];
    float fac[MW][2], q[MW][2];
#pragma unroll
    for (int mw = 0; mw < MW; ++mw) fac[mw][0] = rinv[mw][0] * gk, fac[mw][1] = rinv[mw][1] * gk;
    whitened_norms<DP, MW>(a, us + buf * DP * S::LD, bs + buf * DP, fac, q);
#pragma unroll
    for (int mw = 0; mw < MW; ++mw)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float l = fmaf(-0.5f, q[mw][h], ck);
        const float nm = fmaxf(mx[mw][h], l);
        sum[mw][h] = sum[mw][h] * __expf(mx[mw][h] - nm) + __expf(l - nm);
        mx[mw][h] = nm;
      }
    __syncthreads();  // the buffer just read is refilled by the next iteration's prefetch
  }

  double ll = 0;
#pragma unroll
  for (int mw = 0; mw < MW; ++mw)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const std::int64_t row = row0 + warp * 32 + mw * 16 + g + 8 * h;
      if (t == 0 && row < n) ll += emit_log_z(row, mx[mw][h], sum[mw][h], w, logz, logz_out);
    }
  block_sum_ordered<kWarps>(ll, block_ll + blockIdx.x);
}

// ---------------------------------------------------------------- kernel 2: statistics

// Σ r y yᵀ from the centred sums: S_c + μ s_cᵀ + s_c μᵀ + N μ μᵀ (float64).
__device__ __forceinline__ double uncentred(double sc_ij, double mu_i, double mu_j, double s_i,
                                            double s_j, double nk) {
  return sc_ij + mu_i * s_j + s_i * mu_j + nk * mu_i * mu_j;
}

template <int DP>
__global__ void __launch_bounds__(kThreads) full_stats_kernel(
    const f16* __restrict__ feats, const float* __restrict__ rowscale,
    const float* __restrict__ logz, const float* __restrict__ w, int n,
    const f16* __restrict__ factors, const float* __restrict__ bvec,
    const float* __restrict__ consts, const float* __restrict__ mus, int d, int rows_per_split,
    double* __restrict__ nk_out, double* __restrict__ sx_out, double* __restrict__ sxx_out,
    float* __restrict__ part) {
  using S = FullShape<DP>;
  extern __shared__ __align__(16) unsigned char smem[];
  f16* us = reinterpret_cast<f16*>(smem);                       // [DP][LD]
  float* bs = reinterpret_cast<float*>(us + DP * S::LD);        // [DP]
  float* mu = bs + DP;                                          // [DP]
  float* cs = mu + DP;                                          // [4]
  f16* xs = reinterpret_cast<f16*>(cs + 4);                     // [2][kRows2][LD]
  float* scal = reinterpret_cast<float*>(xs + 2 * kRows2 * S::LD);  // [2][3][kRows2]
  bf16* zs = reinterpret_cast<bf16*>(scal + 2 * 3 * kRows2);    // [kRows2][LD]
  float* rsq = reinterpret_cast<float*>(zs + kRows2 * S::LD);   // [kRows2]: √r
  float* rsi = rsq + kRows2;                                    // [kRows2]: √r · 2^-e
  bf16* sr = reinterpret_cast<bf16*>(rsi + kRows2);             // [kRows2]: bf16 √r
  float* nkw = reinterpret_cast<float*>(sr + kRows2);           // [kWarps]
  float* sxc = nkw + kWarps;                                    // [DP]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int comp = blockIdx.x;
  const int begin = blockIdx.y * rows_per_split;
  const int end = min(n, begin + rows_per_split);

  load_component<DP>(us, bs, cs, factors, bvec, consts, comp);
  for (int i = threadIdx.x; i < DP / 4; i += kThreads)
    cp_async_16(mu + 4 * i, mus + std::int64_t(comp) * DP + 4 * i);
  auto load_rows = [&](int r0, int buf) {
    f16* dst = xs + buf * kRows2 * S::LD;
    for (int i = threadIdx.x; i < kRows2 * (DP / 8); i += kThreads) {
      const int r = i / (DP / 8), c = (i % (DP / 8)) * 8;
      const bool ok = r0 + r < end;
      cp_async_16_zfill(dst + r * S::LD + c, feats + std::int64_t(ok ? r0 + r : 0) * DP + c, ok);
    }
    float* sc = scal + buf * 3 * kRows2;
    for (int r = threadIdx.x; r < kRows2; r += kThreads) {
      const bool ok = r0 + r < end;
      sc[r] = ok ? rowscale[r0 + r] : 0.0f;
      sc[kRows2 + r] = ok ? logz[r0 + r] : FLT_MAX;
      sc[2 * kRows2 + r] = ok ? (w ? w[r0 + r] : 1.0f) : 0.0f;
    }
    mma::cp_async_commit();
  };
  if (begin < end) load_rows(begin, 0);
  else mma::cp_async_commit();

  float acc_s[S::BPW][2][4];
#pragma unroll
  for (int b = 0; b < S::BPW; ++b)
#pragma unroll
    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc_s[b][nt][e] = 0.0f;
  float acc_x[4] = {0, 0, 0, 0};  // Σ z·√r for feature block I = warp (warp < NB)
  float nk = 0.0f;
  // ldmatrix offsets of this warp's blocks (A: rows of Zᵀ = block I, B: block J).
  int off_a[S::BPW], off_b[S::BPW];
#pragma unroll
  for (int b = 0; b < S::BPW; ++b) {
    int bi = 0, bj = 0;
    if (warp + kWarps * b < S::NBLK) block_ij<S::NB>(warp + kWarps * b, bi, bj);
    off_a[b] = ((lane & 7) + 8 * (lane >> 4)) * S::LD + 16 * bi + 8 * ((lane >> 3) & 1);
    off_b[b] = ((lane & 7) + 8 * ((lane >> 3) & 1)) * S::LD + 16 * bj + 8 * (lane >> 4);
  }

  int buf = 0;
  for (int r0 = begin; r0 < end; r0 += kRows2, buf ^= 1) {
    if (r0 + kRows2 < end) {
      load_rows(r0 + kRows2, buf ^ 1);
      mma::cp_async_wait<1>();
    } else {
      mma::cp_async_wait<0>();
    }
    __syncthreads();  // tile in; every warp is done with the previous tile's Z
    const f16* xt = xs + buf * kRows2 * S::LD;
    const float* sc = scal + buf * 3 * kRows2;
    const float gk = cs[0], ck = cs[1];

    // Logits of this warp's 16 rows, exactly as kernel 1 computes them.
    std::uint32_t a[1][S::KS][4];
#pragma unroll
    for (int kk = 0; kk < S::KS; ++kk)
      ldsm_x4(a[0][kk], xt + (warp * 16 + (lane & 15)) * S::LD + kk * 16 + 8 * (lane >> 4));
    float fac[1][2], q[1][2];
#pragma unroll
    for (int h = 0; h < 2; ++h) fac[0][h] = sc[warp * 16 + g + 8 * h] * gk;
    whitened_norms<DP, 1>(a, us, bs, fac, q);
    if (t == 0) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = warp * 16 + g + 8 * h;
        const float l = fmaf(-0.5f, q[0][h], ck);
        const float r = sc[2 * kRows2 + row] * __expf(l - sc[kRows2 + row]);
        nk += r;
        const float s = sqrtf(r);
        rsq[row] = s;
        rsi[row] = s * sc[row];
        sr[row] = __float2bfloat16_rn(s);
      }
    }
    __syncwarp();
    // z = √r·(y − μ) for this warp's rows (bf16).
    for (int i = lane; i < 16 * (DP / 2); i += 32) {
      const int row = warp * 16 + i / (DP / 2), c = 2 * (i % (DP / 2));
      const float2 h = __half22float2(*reinterpret_cast<const __half2*>(xt + row * S::LD + c));
      const float s = rsq[row], si = rsi[row];
      *reinterpret_cast<std::uint32_t*>(zs + row * S::LD + c) =
          mma::pack_bf16(fmaf(h.x, si, -s * mu[c]), fmaf(h.y, si, -s * mu[c + 1]));
    }
    __syncthreads();  // Z complete

    // ZᵀZ over the tile's rows, upper 16×16 blocks; Σ z·√r for block row `warp`.
#pragma unroll
    for (int kb = 0; kb < kRows2; kb += 16) {
#pragma unroll
      for (int b = 0; b < S::BPW; ++b) {
        const int blk = warp + kWarps * b;
        if (blk < S::NBLK) {
          std::uint32_t fa[4], fb[4];
          ldsm_x4_trans(fa, zs + kb * S::LD + off_a[b]);
          ldsm_x4_trans(fb, zs + kb * S::LD + off_b[b]);
          mma::mma_bf16(acc_s[b][0], fa, fb[0], fb[1]);
          mma::mma_bf16(acc_s[b][1], fa, fb[2], fb[3]);
        }
      }
      if (warp < S::NB) {
        std::uint32_t fa[4];
        ldsm_x4_trans(fa, zs + (kb + (lane & 7) + 8 * (lane >> 4)) * S::LD + 16 * warp +
                              8 * ((lane >> 3) & 1));
        // B = [√r, 0, …]: only column 0 (lanes with g = 0) is non-zero.
        const std::uint32_t* s32 = reinterpret_cast<const std::uint32_t*>(sr + kb);
        const std::uint32_t b0 = g == 0 ? s32[t] : 0u, b1 = g == 0 ? s32[4 + t] : 0u;
        mma::mma_bf16(acc_x, fa, b0, b1);
      }
    }
  }

  // Block totals: N_k, s_c = Σ r (y − μ); then each statistic once, converted to Σ r y yᵀ.
  mma::cp_async_wait<0>();  // μ_k is read below even when this split had no rows
  nk = warp_sum(nk);
  if (lane == 0) nkw[warp] = nk;
  if (warp < S::NB && t == 0) {
    sxc[16 * warp + g] = acc_x[0];
    sxc[16 * warp + g + 8] = acc_x[2];
  }
  __syncthreads();
  double nkb = 0;
  for (int i = 0; i < kWarps; ++i) nkb += double(nkw[i]);
  const std::int64_t DD = std::int64_t(d) * d;
  // Each upper-triangle element (i ≤ j) of this warp's blocks once: f(i, j, Σ z_i z_j).
  auto for_each_upper = [&](auto f) {
#pragma unroll
    for (int b = 0; b < S::BPW; ++b) {
      const int blk = warp + kWarps * b;
      if (blk >= S::NBLK) continue;
      int bi, bj;
      block_ij<S::NB>(blk, bi, bj);
#pragma unroll
      for (int nt = 0; nt < 2; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int i = 16 * bi + g + 8 * (e >> 1), j = 16 * bj + 8 * nt + 2 * t + (e & 1);
          if (i <= j) f(i, j, acc_s[b][nt][e]);  // diagonal blocks: the upper half, mirrored
        }
    }
  };
  if (part) {
    // Float partials [split][comp][DP·DP + DP + 1] (centred; kernel finalize converts).
    constexpr std::int64_t PW = std::int64_t(DP) * DP + DP + 1;
    float* out = part + (std::int64_t(blockIdx.y) * gridDim.x + comp) * PW;
    for_each_upper([&](int i, int j, float v) {
      out[i * DP + j] += v;
      if (i != j) out[j * DP + i] += v;
    });
    for (int i = threadIdx.x; i < DP; i += kThreads) out[DP * DP + i] += sxc[i];
    if (threadIdx.x == 0) out[DP * DP + DP] += float(nkb);
    return;
  }
  double* sxx = sxx_out + std::int64_t(comp) * DD;
  for_each_upper([&](int i, int j, float s) {
    if (i >= d || j >= d) return;
    const double v = uncentred(s, mu[i], mu[j], sxc[i], sxc[j], nkb);
    sxx[std::int64_t(i) * d + j] += v;
    if (i != j) sxx[std::int64_t(j) * d + i] += v;
  });
  for (int i = threadIdx.x; i < d; i += kThreads)
    sx_out[std::int64_t(comp) * d + i] += double(sxc[i]) + nkb * double(mu[i]);
  if (threadIdx.x == 0) nk_out[comp] += nkb;
}

// Partials of several row splits → float64 accumulators, splits summed in order.
__global__ void full_finalize_kernel(const float* __restrict__ part, int splits, int k, int d,
                                     int dp, const float* __restrict__ mus, double* nk,
                                     double* sx, double* sxx) {
  const std::int64_t pw = std::int64_t(dp) * dp + dp + 1;
  const int comp = blockIdx.x;
  __shared__ double tot[kMaxDp + 1];
  for (int i = threadIdx.x; i <= dp; i += blockDim.x) {
    double s = 0;
    for (int sp = 0; sp < splits; ++sp)
      s += double(part[(std::int64_t(sp) * k + comp) * pw + std::int64_t(dp) * dp + i]);
    tot[i] = s;
  }
  __syncthreads();
  const double n = tot[dp];
  const float* m = mus + std::int64_t(comp) * dp;
  for (int idx = threadIdx.x; idx < d * d; idx += blockDim.x) {
    // (i, j) and (j, i) from the same operands in the same order: exactly symmetric.
    const int i = min(idx / d, idx % d), j = max(idx / d, idx % d);
    double s = 0;
    for (int sp = 0; sp < splits; ++sp)
      s += double(part[(std::int64_t(sp) * k + comp) * pw + std::int64_t(i) * dp + j]);
    sxx[std::int64_t(comp) * d * d + idx] += uncentred(s, m[i], m[j], tot[i], tot[j], n);
  }
  for (int i = threadIdx.x; i < d; i += blockDim.x)
    sx[std::int64_t(comp) * d + i] += tot[i] + n * double(m[i]);
  if (threadIdx.x == 0) nk[comp] += n;
}

// Per component: the fp16 factor rows (P̃ᵀ scaled by 2^-s, zero-padded to DP), b = μ·P̃·2^s
// computed from the rounded factor (so that y = μ gives exactly zero), {2^s, c} and μ.
__global__ void prepare_full_kernel(const float* __restrict__ prec, const float* __restrict__ means,
                                    const float* __restrict__ c, int d, int dp, f16* factors,
                                    float* bvec, float* consts, float* mus) {
  const int comp = blockIdx.x;
  const float* p = prec + std::int64_t(comp) * d * d;
  float mx = 0.0f;
  for (int i = threadIdx.x; i < d * d; i += blockDim.x) mx = fmaxf(mx, fabsf(p[i]));
  __shared__ float wmax[32];
  mx = warp_max(mx);
  if ((threadIdx.x & 31) == 0) wmax[threadIdx.x >> 5] = mx;
  __syncthreads();
  mx = 0.0f;
  for (int i = 0; i < int(blockDim.x >> 5); ++i) mx = fmaxf(mx, wmax[i]);
  int ex = 0;
  if (mx > 0.0f && mx <= FLT_MAX) frexpf(mx, &ex);
  const int s = min(100, max(-100, ex - 14));  // max |P̃| in [2^13, 2^14)
  const float down = ldexpf(1.0f, -s);
  f16* f = factors + std::int64_t(comp) * dp * dp;
  for (int i = threadIdx.x; i < dp * dp; i += blockDim.x) {
    const int col = i / dp, t = i % dp;  // row `col` of the operand = column col of P
    f[i] = __float2half_rn(col < d && t < d ? p[std::int64_t(t) * d + col] * down : 0.0f);
  }
  const float* mu = means + std::int64_t(comp) * d;
  for (int i = threadIdx.x; i < dp; i += blockDim.x) mus[std::int64_t(comp) * dp + i] = i < d ? mu[i] : 0.0f;
  __syncthreads();  // the factor rows written above are read back below
  for (int col = threadIdx.x; col < dp; col += blockDim.x) {
    double b = 0;
    for (int t = 0; t < d; ++t) b += double(mu[t]) * double(__half2float(f[std::int64_t(col) * dp + t]));
    bvec[std::int64_t(comp) * dp + col] = float(ldexp(b, s));
  }
  if (threadIdx.x == 0) {
    consts[4 * comp] = ldexpf(1.0f, s);
    consts[4 * comp + 1] = c[comp];
    consts[4 * comp + 2] = consts[4 * comp + 3] = 0.0f;
  }
}

int padded_dim(int d) { return (d + 15) / 16 * 16; }

template <typename F>
void dispatch_dp(int dp, F&& f) {
  switch (dp) {
    case 16: f(std::integral_constant<int, 16>{}); break;
    case 32: f(std::integral_constant<int, 32>{}); break;
    case 48: f(std::integral_constant<int, 48>{}); break;
    case 64: f(std::integral_constant<int, 64>{}); break;
    case 80: f(std::integral_constant<int, 80>{}); break;
    case 96: f(std::integral_constant<int, 96>{}); break;
    case 112: f(std::integral_constant<int, 112>{}); break;
    case 128: f(std::integral_constant<int, 128>{}); break;
    default: FLASHGMM_THROW("fused full-covariance E-step: no kernel for padded dimension " << dp);
  }
}

// Rows per segment: the segment's fp16 features take at most 32 MiB.
std::int64_t full_segment_rows(int dp) { return std::max<std::int64_t>(4096, (32 << 20) / (2 * dp)); }

// Row splits of the statistics grid: about two blocks per SM in all, but one (no partials) as
// soon as the components alone fill the device.
int full_splits(int k, std::int64_t rows, int sms) {
  const int want = k >= sms ? 1 : std::max(1, 2 * sms / k);
  return int(std::min<std::int64_t>(want, std::max<std::int64_t>(1, (rows + kRows2 - 1) / kRows2)));
}

}  // namespace

bool EstepEngine::full_fused_shape_supported() const {
  const DeviceModel& m = model_;
  if (params_.precision != Precision::fast || m.type != CovarianceType::full) return false;
  if (m.k == 0 || m.d < 1 || padded_dim(m.d) > kMaxDp) return false;
  const char* e = std::getenv("FLASHGMM_CUDA_FULL");  // "chunked": the cuBLAS path (comparisons)
  return !(e && std::string(e) == "chunked");
}

bool EstepEngine::full_fused_supported() const { return bf16_products_ && full_fused_shape_supported(); }

std::int64_t EstepEngine::full_fused_workspace_bytes(std::int64_t rows) const {
  if (!full_fused_shape_supported()) return 0;
  const std::int64_t dp = padded_dim(model_.d), k = model_.k;
  const std::int64_t seg = std::min(rows, full_segment_rows(int(dp)));
  const int splits = full_splits(int(k), seg, sm_count_);
  // (The fp16 factors are allocated with the parameters, at set_params.)
  const std::int64_t part = splits > 1 ? splits * k * (dp * dp + dp + 1) * 4 : 0;
  return seg * (2 * dp + 8) + (seg / kRows1 + 1) * 8 + part;
}

void EstepEngine::prepare_full_params(const ComponentParams& p) {
  const DeviceModel& m = model_;
  const int dp = padded_dim(m.d);
  if (full_factors_.size() != std::size_t(m.k) * dp * dp) {
    full_factors_ = DeviceArray<__half>(mem_, std::size_t(m.k) * dp * dp, "fused full-covariance factors");
    full_bvec_ = DeviceArray<float>(mem_, std::size_t(m.k) * dp, "fused full-covariance offsets");
    full_mus_ = DeviceArray<float>(mem_, std::size_t(m.k) * dp, "fused full-covariance means");
    full_consts_ = DeviceArray<float>(mem_, std::size_t(m.k) * 4, "fused full-covariance constants");
  }
  std::vector<float> means(p.means.begin(), p.means.end());
  DeviceArray<float> means_dev(mem_, means.size(), "component means");
  FLASHGMM_CUDA_CHECK(cudaMemcpyAsync(means_dev.get(), means.data(), means.size() * 4,
                                      cudaMemcpyHostToDevice, stream_));
  prepare_full_kernel<<<m.k, 256, 0, stream_>>>(m.prec.get(), means_dev.get(), m.c.get(), m.d, dp,
                                                full_factors_.get(), full_bvec_.get(),
                                                full_consts_.get(), full_mus_.get());
  FLASHGMM_CUDA_CHECK_LAUNCH();
  // means_dev and the host vector die at return.
  FLASHGMM_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void EstepEngine::run_full_fused(const float* x, const float* w, std::int64_t n,
                                 const RowOutputs& rows, std::int64_t row0, bool want_stats) {
  const DeviceModel& m = model_;
  const int dp = padded_dim(m.d);
  const std::int64_t seg = std::min(n, full_segment_rows(dp));
  dispatch_dp(dp, [&](auto dpc) {
    constexpr int DP = decltype(dpc)::value;
    using S = FullShape<DP>;
    static bool configured = false;
    if (!configured) {
      FLASHGMM_CUDA_CHECK(cudaFuncSetAttribute(full_logz_kernel<DP>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, int(S::smem1)));
      FLASHGMM_CUDA_CHECK(cudaFuncSetAttribute(full_stats_kernel<DP>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, int(S::smem2)));
      configured = true;
    }
    const std::int64_t seg_pad = (seg + 63) / 64 * 64;
    fused_logz_.grow(mem_, std::size_t(seg_pad) * 2, "fused log Z and row scales");
    full_feats_.grow(mem_, std::size_t(seg) * DP, "fused fp16 features");
    const int blocks1 = int((seg + kRows1 - 1) / kRows1);
    fused_ll_.grow(mem_, std::size_t(blocks1), "fused block log-likelihoods");
    const int splits = full_splits(m.k, seg, sm_count_);
    const std::size_t npart = splits > 1 ? std::size_t(splits) * m.k * (DP * DP + DP + 1) : 0;
    if (want_stats && npart) {
      fused_partials_.grow(mem_, npart, "fused partial statistics");
      FLASHGMM_CUDA_CHECK(cudaMemsetAsync(fused_partials_.get(), 0, npart * 4, stream_));
    }
    if (rows.log_z) fused_logz_out_.grow(mem_, std::size_t(seg), "fused log Z output");
    float* lz = fused_logz_.get();
    float* rs = lz + seg_pad;
    for (std::int64_t b = 0; b < n; b += seg) {
      const int cnt = int(std::min(seg, n - b));
      const float* wb = w ? w + b : nullptr;
      full_logz_kernel<DP><<<int((cnt + kRows1 - 1) / kRows1), kThreads, S::smem1, stream_>>>(
          x + b * m.d, cnt, m.d, m.center.get(), full_factors_.get(), full_bvec_.get(),
          full_consts_.get(), m.k, wb, lz, rows.log_z ? fused_logz_out_.get() : nullptr,
          fused_ll_.get(), full_feats_.get(), rs);
      FLASHGMM_CUDA_CHECK_LAUNCH();
      if (want_stats) {
        sum_into(acc_ll_.get(), fused_ll_.get(), (cnt + kRows1 - 1) / kRows1, stream_);
        int rps = (cnt + splits - 1) / splits;
        rps = (rps + kRows2 - 1) / kRows2 * kRows2;
        full_stats_kernel<DP><<<dim3(m.k, splits), kThreads, S::smem2, stream_>>>(
            full_feats_.get(), rs, lz, wb, cnt, full_factors_.get(), full_bvec_.get(),
            full_consts_.get(), full_mus_.get(), m.d, rps, acc_nk_.get(), acc_sx_.get(),
            acc_sxx_.get(), npart ? fused_partials_.get() : nullptr);
        FLASHGMM_CUDA_CHECK_LAUNCH();
      }
      if (rows.log_z) {
        FLASHGMM_CUDA_CHECK(cudaMemcpyAsync(rows.log_z + row0 + b, fused_logz_out_.get(),
                                            sizeof(double) * cnt, cudaMemcpyDeviceToHost, stream_));
        FLASHGMM_CUDA_CHECK(cudaStreamSynchronize(stream_));
      }
    }
    if (want_stats && npart) {
      full_finalize_kernel<<<m.k, 256, 0, stream_>>>(fused_partials_.get(), splits, m.k, m.d, DP,
                                                     full_mus_.get(), acc_nk_.get(), acc_sx_.get(),
                                                     acc_sxx_.get());
      FLASHGMM_CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace flashgmm::cuda
