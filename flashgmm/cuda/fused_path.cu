// flashgmm CUDA backend, fused path: spherical and diagonal covariances in fast precision,
// bf16 tensor cores (mma.sync), no logits in device memory. Two kernels per segment of rows:
//   1. logz_kernel: a block owns BM rows (features in registers as A fragments) and streams
//      all component tiles through shared memory (cp.async double buffer), keeping an online
//      log-sum-exp per row: log Z_i, and w_i·log Z_i summed per block.
//   2. stats_kernel: a block owns 128 components (16 per warp, their parameters as A
//      fragments) and one split of the rows; per row tile it recomputes the logits transposed
//      (components × rows), forms r = w·exp(ℓ − log Z) in registers, reuses that accumulator
//      as the A operand of Σ r·f (FlashAttention-2's register trick) and keeps Σr, Σr·‖y‖² in
//      float32. One float32 partial per (split, component) is reduced in a fixed order into
//      the float64 accumulators: deterministic, no atomics.
// On sm_90 both run as Hopper kernels instead: logz_kernel_wg (features ≤ 128 columns; wider
// ones keep logz_kernel unless FLASHGMM_CUDA_LOGZ_WIDE picks one of its two wide shapes) and
// stats_kernel_wg (every width; 64-row tiles for wide features with FLASHGMM_CUDA_STATS_WIDE=br64),
// with wgmma products, operands
// brought by the copy engine into rings of shared-memory buffers and full/empty mbarriers in
// place of block barriers; kernel 1 then leaves the features as tiles of 8×8 core matrices.
// Features f(y): spherical [y] (‖y‖² handled exactly in float32), diagonal [y, y²]; padded with
// zeros to FP columns (a multiple of 32). Requires D % 4 == 0 (16-byte row loads). Features
// and responsibilities are bf16 (their rounding is independent from row to row and averages
// out); component parameters are hi + lo bf16 pairs, so the logits cost two products.
#include <cfloat>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "cuda/async_copy_primitives.cuh"
#include "cuda/cuda_check.cuh"
#include "cuda/estep_engine.cuh"
#include "cuda/mma_primitives.cuh"
#include "cuda/reduce_kernels.cuh"
#include "cuda/wgmma_primitives.cuh"

namespace flashgmm::cuda {
namespace {

using mma::cp_async_16;
using mma::cp_async_16_zfill;
using mma::ldsm_x4;
using mma::ldsm_x4_trans;
using mma::mma_bf16;
using mma::pack_bf16;
using bf16 = __nv_bfloat16;

constexpr int kThreads = 256, kWarps = 8;
constexpr int kCompTile1 = 64;    // components per shared-memory tile in logz_kernel
constexpr int kCompBlock2 = 128;  // components per block in stats_kernel (16 per warp)
constexpr float kPadLogit = -1e30f;

// Where kernel 1 leaves row gr's features f[c..c+8) for kernel 2. Row-major for the mma.sync
// statistics kernel; for the wgmma one ("tiled") 64-row tiles of 8×8 core matrices, so that any
// 32- or 64-row tile starting at row r0 is the contiguous block at r0·FP (one bulk copy).
template <int FP>
__device__ __forceinline__ bf16* feature_slot(bf16* feats, bool tiled, std::int64_t gr, int c) {
  if (!tiled) return feats + gr * FP + c;
  const int rt = int(gr & 63);
  return feats + (gr - rt) * FP + ((rt >> 3) * (FP / 8) + c / 8) * 64 + (rt & 7) * 8;
}

// Row scalars for kernel 2: ‖y‖² (and, tiled, w·[row < n] and log Z = +max past n, for every
// row up to npad, the row count rounded up to 64, so that kernel 2 copies whole tiles).
__device__ __forceinline__ void store_row_scalars(std::int64_t gr, int n, int npad, bool tiled,
                                                  float s2, const float* __restrict__ w,
                                                  float* __restrict__ sq, float* __restrict__ wz,
                                                  float* __restrict__ logz) {
  if (gr < n) {
    sq[gr] = s2;
    if (tiled) wz[gr] = w ? w[gr] : 1.0f;
  } else if (tiled && gr < npad) {
    sq[gr] = 0.0f, wz[gr] = 0.0f, logz[gr] = FLT_MAX;
  }
}

// One warp's rows [r_first, r_first + ROWS) of the block (global row row0 + r) → bf16 features
// in shared memory (row stride LD): [y] or, diagonal, [y, y²], zero-padded to FP columns; ‖y‖²
// in float32 → srow. INFLIGHT rows' 16-byte loads are issued together (latency-bound otherwise).
template <int FP, int LD, int ROWS, int INFLIGHT>
__device__ __forceinline__ void convert_warp_rows(const float* __restrict__ x, int n, int d,
                                                  bool diag, const float* __restrict__ center,
                                                  std::int64_t row0, int r_first, bf16* xs,
                                                  float* srow) {
  const int lane = threadIdx.x & 31;
  const int nq = d / 4, fdim = diag ? 2 * d : d;
  for (int rr = 0; rr < ROWS; rr += INFLIGHT) {
    float4 v[INFLIGHT][2];
#pragma unroll
    for (int u = 0; u < INFLIGHT; ++u)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const std::int64_t row = row0 + r_first + rr + u;
        const int q = lane + 32 * j;
        v[u][j] = row < n && q < nq ? *reinterpret_cast<const float4*>(x + row * d + 4 * q)
                                    : make_float4(0, 0, 0, 0);
      }
#pragma unroll
    for (int u = 0; u < INFLIGHT; ++u) {
      const int r = r_first + rr + u;
      const bool valid = row0 + r < n;
      float s = 0;
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int q = lane + 32 * j;
        if (q >= nq) continue;
        const float4 c4 = *reinterpret_cast<const float4*>(center + 4 * q);
        float4 y = v[u][j];
        y.x = valid ? y.x - c4.x : 0.f, y.y = valid ? y.y - c4.y : 0.f;
        y.z = valid ? y.z - c4.z : 0.f, y.w = valid ? y.w - c4.w : 0.f;
        s += y.x * y.x + y.y * y.y + y.z * y.z + y.w * y.w;
        std::uint32_t* dst = reinterpret_cast<std::uint32_t*>(xs + r * LD + 4 * q);
        dst[0] = pack_bf16(y.x, y.y), dst[1] = pack_bf16(y.z, y.w);
        if (diag) {
          std::uint32_t* d2 = reinterpret_cast<std::uint32_t*>(xs + r * LD + d + 4 * q);
          d2[0] = pack_bf16(y.x * y.x, y.y * y.y), d2[1] = pack_bf16(y.z * y.z, y.w * y.w);
        }
      }
      s = warp_sum(s);
      if (lane == 0) srow[r] = s;
      for (int f = fdim + 2 * lane; f < FP; f += 64)
        *reinterpret_cast<std::uint32_t*>(xs + r * LD + f) = 0u;
    }
  }
}

// ---------------------------------------------------------------- kernel 1: log Z per row
template <int FP, int MW>
struct LogzShape {
  static constexpr int BM = kWarps * 16 * MW;  // rows per block
  static constexpr int LD = FP + 8;            // bf16 row stride in shared memory (no conflicts)
  static constexpr std::size_t smem = std::size_t(BM) * LD * 2 + 4 * kCompTile1 * LD * 2 +
                                      2 * kCompTile1 * 4 * 2 + BM * 4;
};

template <int FP, int MW>
__global__ void __launch_bounds__(kThreads) logz_kernel(
    const float* __restrict__ x, int n, int d, bool diag, const float* __restrict__ center,
    const bf16* __restrict__ means, const float* __restrict__ cpad,
    const float* __restrict__ rowcoef, int kpad, const float* __restrict__ w,
    float* __restrict__ logz, double* __restrict__ logz_out, double* __restrict__ block_ll,
    bf16* __restrict__ feats, float* __restrict__ sq, bool tiled, int npad,
    float* __restrict__ wz) {
  using S = LogzShape<FP, MW>;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* xs = reinterpret_cast<bf16*>(smem);
  bf16* ms = xs + S::BM * S::LD;
  float* cs = reinterpret_cast<float*>(ms + 4 * kCompTile1 * S::LD);  // ms: [buf][hi, lo]
  float* rcs = cs + 2 * kCompTile1;
  float* srow = rcs + 2 * kCompTile1;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const std::int64_t row0 = std::int64_t(blockIdx.x) * S::BM;

  auto load_tile = [&](int tile, int buf) {
    for (int i = threadIdx.x; i < 2 * kCompTile1 * FP / 8; i += kThreads) {
      const int part = i / (kCompTile1 * FP / 8), rem = i % (kCompTile1 * FP / 8);
      const int r = rem / (FP / 8), c = (rem % (FP / 8)) * 8;
      const bf16* src = means + std::int64_t(part) * kpad * FP + std::int64_t(tile) * kCompTile1 * FP;
      bf16* dst = ms + (2 * buf + part) * kCompTile1 * S::LD;
      cp_async_16(dst + r * S::LD + c, src + r * FP + c);
    }
    for (int i = threadIdx.x; i < kCompTile1 / 4; i += kThreads) {
      cp_async_16(cs + buf * kCompTile1 + i * 4, cpad + tile * kCompTile1 + i * 4);
      cp_async_16(rcs + buf * kCompTile1 + i * 4, rowcoef + tile * kCompTile1 + i * 4);
    }
    mma::cp_async_commit();
  };
  load_tile(0, 0);

  // Features of this block's rows → shared memory; each warp converts its own rows.
  convert_warp_rows<FP, S::LD, 16 * MW, 4>(x, n, d, diag, center, row0, warp * 16 * MW, xs, srow);
  __syncthreads();
  // The statistics kernel reads these features instead of converting the rows again.
  for (int i = threadIdx.x; i < S::BM * (FP / 8); i += kThreads) {
    const int r = i / (FP / 8), c = (i % (FP / 8)) * 8;
    if (row0 + r < (tiled ? npad : n))
      *reinterpret_cast<uint4*>(feature_slot<FP>(feats, tiled, row0 + r, c)) =
          *reinterpret_cast<const uint4*>(xs + r * S::LD + c);
  }
  for (int r = threadIdx.x; r < S::BM; r += kThreads)
    store_row_scalars(row0 + r, n, npad, tiled, srow[r], w, sq, wz, logz);

  std::uint32_t a[MW][FP / 16][4];
#pragma unroll
  for (int mw = 0; mw < MW; ++mw)
#pragma unroll
    for (int kk = 0; kk < FP / 16; ++kk)
      ldsm_x4(a[mw][kk], xs + (warp * 16 * MW + mw * 16 + (lane & 15)) * S::LD + kk * 16 +
                             8 * (lane >> 4));
  float rs[MW][2], mx[MW][2], sum[MW][2];
#pragma unroll
  for (int mw = 0; mw < MW; ++mw)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      rs[mw][h] = srow[warp * 16 * MW + mw * 16 + g + 8 * h];
      mx[mw][h] = -FLT_MAX;
      sum[mw][h] = 0.0f;
    }

  const int tiles = kpad / kCompTile1;
  for (int tile = 0; tile < tiles; ++tile) {
    const int buf = tile & 1;
    if (tile + 1 < tiles) {
      load_tile(tile + 1, buf ^ 1);
      mma::cp_async_wait<1>();
    } else {
      mma::cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* mt = ms + 2 * buf * kCompTile1 * S::LD;
    const bf16* mlo = mt + kCompTile1 * S::LD;
    float acc[MW][kCompTile1 / 8][4];
#pragma unroll
    for (int mw = 0; mw < MW; ++mw)
#pragma unroll
      for (int nt = 0; nt < kCompTile1 / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[mw][nt][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < FP / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < kCompTile1 / 16; ++np) {
        std::uint32_t b[4];
        std::uint32_t bl[4];
        const int off = (np * 16 + (lane & 7) + 8 * (lane >> 4)) * S::LD + kk * 16 + 8 * ((lane >> 3) & 1);
        ldsm_x4(b, mt + off);
        ldsm_x4(bl, mlo + off);
#pragma unroll
        for (int mw = 0; mw < MW; ++mw) {
          mma_bf16(acc[mw][2 * np], a[mw][kk], b[0], b[1]);
          mma_bf16(acc[mw][2 * np + 1], a[mw][kk], b[2], b[3]);
          mma_bf16(acc[mw][2 * np], a[mw][kk], bl[0], bl[1]);
          mma_bf16(acc[mw][2 * np + 1], a[mw][kk], bl[2], bl[3]);
        }
      }
    }
    const float* ct = cs + buf * kCompTile1;
    const float* rt = rcs + buf * kCompTile1;
    float tmax[MW][2];
#pragma unroll
    for (int mw = 0; mw < MW; ++mw) tmax[mw][0] = tmax[mw][1] = -FLT_MAX;
    // Column constants are loaded once and used for all of this lane's rows.
#pragma unroll
    for (int nt = 0; nt < kCompTile1 / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const float cv = ct[nt * 8 + 2 * t + e], rv = rt[nt * 8 + 2 * t + e];
#pragma unroll
        for (int mw = 0; mw < MW; ++mw)
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const float v = fmaf(rv, rs[mw][h], cv + acc[mw][nt][2 * h + e]);
            acc[mw][nt][2 * h + e] = v;
            tmax[mw][h] = fmaxf(tmax[mw][h], v);
          }
      }
#pragma unroll
    for (int mw = 0; mw < MW; ++mw)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float mnew = fmaxf(mx[mw][h], tmax[mw][h]);
        float s = sum[mw][h] * __expf(mx[mw][h] - mnew);
#pragma unroll
        for (int nt = 0; nt < kCompTile1 / 8; ++nt)
#pragma unroll
          for (int e = 0; e < 2; ++e) s += __expf(acc[mw][nt][2 * h + e] - mnew);
        mx[mw][h] = mnew;
        sum[mw][h] = s;
      }
    __syncthreads();  // the buffer just read is refilled by the next iteration's prefetch
  }

  double ll = 0;
#pragma unroll
  for (int mw = 0; mw < MW; ++mw)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float m = mx[mw][h], s = sum[mw][h];
      lse_merge_quad(m, s);
      const std::int64_t row = row0 + warp * 16 * MW + mw * 16 + g + 8 * h;
      if (t == 0 && row < n) ll += emit_log_z(row, m, s, w, logz, logz_out);
    }
  block_sum_ordered<kWarps>(ll, block_ll + blockIdx.x);  // fixed-order block sum of w·log Z
}

// Log Z kernel with Hopper warpgroup products (sm_90a, feature widths ≤ 128): WGS warpgroups
// of 64 rows each (A = the rows' bf16 features, from registers), NT-component tiles (hi and lo
// rows, prepared tile-major as 8×8 core matrices) brought by the copy engine into a ring of R
// buffers. No block-wide barrier in the loop: a buffer is "full" when its bytes have landed
// (mbarrier transaction count) and "empty" when all warps' products on it are done; thread 0
// refills it R − 1 tiles ahead. One accumulator per warpgroup: the four warpgroups, not tied to
// each other, overlap one's exponentials with another's products. Measured on an H100 against
// two blocks of 2 warpgroups with 32-component tiles and double-buffered accumulators (one
// warpgroup overlapping itself): 1.06–1.18× faster; 128-component tiles in a ring of 2: same.
// Accumulators are only read by other instructions (a non-wgmma write would make ptxas
// serialise the products); the per-component constants come from global memory (L1), not from
// the ring. Same results as logz_kernel up to float summation order.
//
// Wider features (diagonal D = 68..128, spherical D = 132..256: 160–256 columns) do not fit that
// shape (rows 135 KB + ring 256 KB of shared memory), so they run one of two others, chosen by
// wide_logz() (FLASHGMM_CUDA_LOGZ_WIDE = wg4 | wg2 | mma):
//   wg4: 4 warpgroups, the ring of 3 buffers overlays the rows' staging area (ALIAS): the rows
//        are converted and taken into registers first, then the copy engine starts (one tile's
//        latency per block, unhidden); 512 threads, ≤ 128 registers (A = FP/4 of them).
//   wg2: 2 warpgroups (128 rows per block), staging area and a ring of 2 buffers side by side.
template <int FP, int WGS_ = 4, int R_ = 4, bool ALIAS_ = false>
struct LogzWgShape {
  static constexpr int WGS = WGS_, NT = 64, R = R_;  // warpgroups, components per tile, buffers
  static constexpr bool ALIAS = ALIAS_;              // the ring overlays the rows' staging area
  static constexpr int kThreadsWg = 128 * WGS, BM = 64 * WGS;
  static constexpr int LD = FP + 8;
  static constexpr int tile = 2 * NT * FP;  // bf16 elements of one ring buffer (hi, lo)
  static constexpr std::size_t xs_bytes = std::size_t(BM) * LD * 2;
  static constexpr std::size_t ring_bytes = R * std::size_t(tile) * 2;
  static constexpr std::size_t rows_ring =
      ALIAS ? (xs_bytes > ring_bytes ? xs_bytes : ring_bytes) : xs_bytes + ring_bytes;
  static constexpr std::size_t smem = rows_ring + BM * 4 + 2 * R * 8;
  static_assert(smem <= 232448, "log Z kernel: shared memory over the sm_90 limit");
};

template <int FP, int WGS, int R, bool ALIAS>
__global__ void __launch_bounds__(128 * WGS, 1) logz_kernel_wg(
    const float* __restrict__ x, int n, int d, bool diag, const float* __restrict__ center,
    const bf16* __restrict__ ptiles, const float* __restrict__ ctiles, int kpad,
    const float* __restrict__ w,
    float* __restrict__ logz, double* __restrict__ logz_out, double* __restrict__ block_ll,
    bf16* __restrict__ feats, float* __restrict__ sq, bool tiled, int npad,
    float* __restrict__ wz) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using S = LogzWgShape<FP, WGS, R, ALIAS>;
  constexpr int NT = S::NT;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* xs = reinterpret_cast<bf16*>(smem);  // [BM][LD]
  bf16* ring = ALIAS ? xs : xs + S::BM * S::LD;  // [R][hi, lo][NT/8][FP/8][8×8]
  float* srow = reinterpret_cast<float*>(smem + S::rows_ring);           // [BM]: ‖y‖²
  std::uint64_t* full = reinterpret_cast<std::uint64_t*>(srow + S::BM);  // [R]
  std::uint64_t* empty = full + R;                                        // [R]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const std::int64_t row0 = std::int64_t(blockIdx.x) * S::BM;
  const int tiles = kpad / NT;

  // Thread 0 only: tile j → buffer j % R, once every warp is done with tile j − R.
  auto produce = [&](int j) {
    const int slot = j % R;
    if (j >= R) {
      sm90::mbar_wait(empty + slot, (j / R - 1) & 1);
      wg::fence_proxy_async();
    }
    sm90::mbar_arrive_expect_tx(full + slot, S::tile * 2);
    sm90::bulk_copy_g2s(ring + slot * S::tile, ptiles + std::int64_t(j) * S::tile, S::tile * 2,
                        full + slot);
  };
  if (threadIdx.x == 0) {
    for (int i = 0; i < R; ++i) {
      sm90::mbar_init(full + i, 1);
      sm90::mbar_init(empty + i, S::kThreadsWg / 32);
    }
    sm90::mbar_init_fence();
  }
  __syncthreads();
  if (!ALIAS && threadIdx.x == 0)
    for (int j = 0; j < R - 1 && j < tiles; ++j) produce(j);

  // Rows → bf16 features (16 rows per warp, 8 rows' loads in flight); out for kernel 2.
  convert_warp_rows<FP, S::LD, 16, 8>(x, n, d, diag, center, row0, warp * 16, xs, srow);
  __syncwarp();
  for (int i = lane; i < 16 * (FP / 8); i += 32) {
    const int r = warp * 16 + i / (FP / 8), c = (i % (FP / 8)) * 8;
    if (row0 + r < (tiled ? npad : n))
      *reinterpret_cast<uint4*>(feature_slot<FP>(feats, tiled, row0 + r, c)) =
          *reinterpret_cast<const uint4*>(xs + r * S::LD + c);
  }
  if (lane < 16)
    store_row_scalars(row0 + warp * 16 + lane, n, npad, tiled, srow[warp * 16 + lane], w, sq, wz,
                      logz);
  std::uint32_t a[FP / 16][4];
#pragma unroll
  for (int kk = 0; kk < FP / 16; ++kk)
    ldsm_x4(a[kk], xs + (warp * 16 + (lane & 15)) * S::LD + kk * 16 + 8 * (lane >> 4));
  const float rs[2] = {srow[warp * 16 + g], srow[warp * 16 + g + 8]};
  float mx[2] = {-FLT_MAX, -FLT_MAX}, sum[2] = {0.0f, 0.0f};
  if constexpr (ALIAS) {
    // Every warp's reads and writes of the staging area are done before the copy engine
    // overwrites it (generic → async proxy), then the ring starts.
    wg::fence_proxy_async();
    __syncthreads();
    if (threadIdx.x == 0)
      for (int j = 0; j < R - 1 && j < tiles; ++j) produce(j);
  }

  auto issue = [&](int j, float(&acc)[NT / 2]) {
    sm90::mbar_wait(full + j % R, (j / R) & 1);
    const bf16* tb = ring + (j % R) * S::tile;
    wg::fence();
#pragma unroll
    for (int kk = 0; kk < FP / 16; ++kk) {
      wg::Mma<NT, 0>::run(acc, a[kk], wg::smem_desc(tb + 2 * kk * 64, 128, FP * 16), kk > 0);
      wg::Mma<NT, 0>::run(acc, a[kk], wg::smem_desc(tb + NT * FP + 2 * kk * 64, 128, FP * 16), 1);
    }
    wg::commit();
  };
  // Tile j's products are done (for this warp): its buffer may be refilled.
  auto release = [&](int j) {
    __syncwarp();
    if (lane == 0) sm90::mbar_arrive(empty + j % R);
  };
  // Online log-sum-exp of tile j (acc is only read: the logits are formed twice).
  auto reduce = [&](int j, const float(&acc)[NT / 2]) {
    // This lane's columns 8nt + 2t, +1: constants from global memory (L1), read per pass when
    // the tile is too wide to keep them in registers.
    const float* ct = ctiles + std::int64_t(j) * 2 * NT + 2 * t;
    auto cv = [&](int nt) { return __ldg(reinterpret_cast<const float2*>(ct + nt * 8)); };
    auto rv = [&](int nt) { return __ldg(reinterpret_cast<const float2*>(ct + NT + nt * 8)); };
    float tmax[2] = {-FLT_MAX, -FLT_MAX};
#pragma unroll
    for (int nt = 0; nt < NT / 8; ++nt) {
      const float2 c2 = cv(nt), r2 = rv(nt);
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        tmax[h] = fmaxf(tmax[h], fmaf(r2.x, rs[h], c2.x + acc[4 * nt + 2 * h]));
        tmax[h] = fmaxf(tmax[h], fmaf(r2.y, rs[h], c2.y + acc[4 * nt + 2 * h + 1]));
      }
    }
    float sn[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float mnew = fmaxf(mx[h], tmax[h]);
      sn[h] = sum[h] * __expf(mx[h] - mnew);
      mx[h] = mnew;
    }
#pragma unroll
    for (int nt = 0; nt < NT / 8; ++nt) {
      const float2 c2 = cv(nt), r2 = rv(nt);
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        sn[h] += __expf(fmaf(r2.x, rs[h], c2.x + acc[4 * nt + 2 * h]) - mx[h]);
        sn[h] += __expf(fmaf(r2.y, rs[h], c2.y + acc[4 * nt + 2 * h + 1]) - mx[h]);
      }
    }
    sum[0] = sn[0], sum[1] = sn[1];
  };
  // At the start of step j thread 0 refills the ring R − 1 tiles ahead (the buffer of j − 1).
  auto prefetch = [&](int j) {
    if (threadIdx.x == 0 && j + R - 1 < tiles) produce(j + R - 1);
  };
  float acc[NT / 2];
  for (int j = 0; j < tiles; ++j) {
    prefetch(j);
    issue(j, acc);
    wg::wait_all();
    release(j);
    reduce(j, acc);
  }

  double ll = 0;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float m = mx[h], sm = sum[h];
    lse_merge_quad(m, sm);
    const std::int64_t row = row0 + warp * 16 + g + 8 * h;
    if (t == 0 && row < n) ll += emit_log_z(row, m, sm, w, logz, logz_out);
  }
  block_sum_ordered<4 * WGS>(ll, block_ll + blockIdx.x);
#else
  __trap();
#endif
}

// ---------------------------------------------------------------- kernel 2: statistics
template <int FP, int BR>
struct StatsShape {
  static constexpr int LD = FP + 8;
  static constexpr bool kAInRegs = FP <= 128;
  static constexpr std::size_t smem = 2 * std::size_t(BR) * LD * 2 +
                                      2 * std::size_t(kCompBlock2) * LD * 2 + 2 * 3 * BR * 4;
};


// Shared parts of the two statistics kernels (mma.sync and wgmma).
// The block's 128 components' parameters (hi, lo rows) → shared memory, cp.async (uncommitted).
template <int FP, int LD>
__device__ __forceinline__ void load_block_params(bf16* msm, const bf16* __restrict__ means,
                                                  int kpad, int comp_base) {
  for (int i = threadIdx.x; i < 2 * kCompBlock2 * FP / 8; i += kThreads) {
    const int part = i / (kCompBlock2 * FP / 8), rem = i % (kCompBlock2 * FP / 8);
    const int r = rem / (FP / 8), c = (rem % (FP / 8)) * 8;
    cp_async_16(msm + (part * kCompBlock2 + r) * LD + c,
                means + std::int64_t(part) * kpad * FP + std::int64_t(comp_base + r) * FP + c);
  }
}

// ‖y‖², log Z and w of rows [r0, r0 + BR) → sc[0..3·BR) (rows at or past `end`: 0, +max, 0).
template <int BR>
__device__ __forceinline__ void load_row_scalars(float* sc, int r0, int end,
                                                 const float* __restrict__ sq,
                                                 const float* __restrict__ logz,
                                                 const float* __restrict__ w) {
  for (int i = threadIdx.x; i < 3 * (BR / 4); i += kThreads) {
    const int which = i / (BR / 4), r = (i % (BR / 4)) * 4;
    const float* src = which == 0 ? sq : which == 1 ? logz : w;
    if (src == nullptr || r0 + r + 3 >= end) {
      for (int q = 0; q < 4; ++q) {
        const bool ok = r0 + r + q < end;
        sc[which * BR + r + q] = which == 0 ? (ok ? sq[r0 + r + q] : 0.0f)
                                 : which == 1 ? (ok ? logz[r0 + r + q] : FLT_MAX)
                                              : (ok ? (w ? w[r0 + r + q] : 1.0f) : 0.0f);
      }
    } else {
      cp_async_16(sc + which * BR + r, src + r0 + r);
    }
  }
}

// Adds this warp's statistics to its split's partials: acc(nt, e) is the Σ r·f accumulator
// element (component g + 8·(e/2), feature 8·nt + 2t + e%2). Each (split, component, column)
// belongs to exactly one block per launch, and launches over the segments of a pass run in
// order: accumulating here is deterministic.
template <int FP, typename Acc>
__device__ __forceinline__ void add_partials(float* __restrict__ part, int kpad, int comp0,
                                             Acc acc, float (&nk)[2], float (&ss)[2]) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int o = 1; o <= 2; o <<= 1) {
      nk[h] += __shfl_xor_sync(0xffffffffu, nk[h], o);
      ss[h] += __shfl_xor_sync(0xffffffffu, ss[h], o);
    }
  constexpr int PW = FP + 2;
  float* out = part + (std::int64_t(blockIdx.y) * kpad + comp0) * PW;
#pragma unroll
  for (int nt = 0; nt < FP / 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) out[(g + 8 * (e >> 1)) * PW + nt * 8 + 2 * t + (e & 1)] += acc(nt, e);
  if (t == 0)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      out[(g + 8 * h) * PW + FP] += nk[h];
      out[(g + 8 * h) * PW + FP + 1] += ss[h];
    }
}

template <int FP, int BR>
__global__ void __launch_bounds__(kThreads) stats_kernel(
    const bf16* __restrict__ feats, const float* __restrict__ sq, int n,
    const bf16* __restrict__ means, const float* __restrict__ cpad,
    const float* __restrict__ rowcoef, int kpad, const float* __restrict__ logz,
    const float* __restrict__ w, int rows_per_split, float* __restrict__ part) {
  using S = StatsShape<FP, BR>;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* xs = reinterpret_cast<bf16*>(smem);            // [2][BR][LD]
  bf16* msm = xs + 2 * BR * S::LD;                     // [hi, lo][128][LD]
  float* scal = reinterpret_cast<float*>(msm + 2 * kCompBlock2 * S::LD);  // [2][3][BR]: ‖y‖², log Z, w
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int comp_base = blockIdx.x * kCompBlock2;
  const int comp0 = comp_base + warp * 16;
  const int begin = blockIdx.y * rows_per_split;
  const int end = min(n, begin + rows_per_split);

  load_block_params<FP, S::LD>(msm, means, kpad, comp_base);
  auto load_rows = [&](int r0, int buf) {
    bf16* dst = xs + buf * BR * S::LD;
    for (int i = threadIdx.x; i < BR * (FP / 8); i += kThreads) {
      const int r = i / (FP / 8), c = (i % (FP / 8)) * 8;
      const bool ok = r0 + r < end;
      cp_async_16_zfill(dst + r * S::LD + c, feats + std::int64_t(ok ? r0 + r : 0) * FP + c, ok);
    }
    load_row_scalars<BR>(scal + buf * 3 * BR, r0, end, sq, logz, w);
    mma::cp_async_commit();
  };
  if (begin < end) load_rows(begin, 0);
  else mma::cp_async_commit();

  const float cc[2] = {cpad[comp0 + g], cpad[comp0 + g + 8]};
  const float rc[2] = {rowcoef[comp0 + g], rowcoef[comp0 + g + 8]};
  float nk[2] = {0, 0}, ss[2] = {0, 0};
  float acc2[FP / 8][4];
#pragma unroll
  for (int nt = 0; nt < FP / 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc2[nt][e] = 0.0f;

  mma::cp_async_wait<0>();
  __syncthreads();
  const bf16* mrow = msm + (warp * 16 + (lane & 15)) * S::LD + 8 * (lane >> 4);
  const bf16* mrow_lo = mrow + kCompBlock2 * S::LD;
  std::uint32_t areg[S::kAInRegs ? FP / 16 : 1][4];
  if constexpr (S::kAInRegs) {
#pragma unroll
    for (int kk = 0; kk < FP / 16; ++kk) ldsm_x4(areg[kk], mrow + kk * 16);
  }

  int buf = 0;
  for (int r0 = begin; r0 < end; r0 += BR, buf ^= 1) {
    if (r0 + BR < end) {
      load_rows(r0 + BR, buf ^ 1);
      mma::cp_async_wait<1>();
    } else {
      mma::cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* xt = xs + buf * BR * S::LD;
    const float* s_s = scal + buf * 3 * BR;
    const float* lz_s = s_s + BR;
    const float* w_s = lz_s + BR;

    // ℓᵀ (16 components × BR rows) for this warp.
    float acc1[BR / 8][4];
#pragma unroll
    for (int nt = 0; nt < BR / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc1[nt][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < FP / 16; ++kk) {
      std::uint32_t a[4];
      if constexpr (S::kAInRegs) {
        a[0] = areg[kk][0], a[1] = areg[kk][1], a[2] = areg[kk][2], a[3] = areg[kk][3];
      } else {
        ldsm_x4(a, mrow + kk * 16);
      }
      std::uint32_t alo[4];
      ldsm_x4(alo, mrow_lo + kk * 16);
#pragma unroll
      for (int np = 0; np < BR / 16; ++np) {
        std::uint32_t b[4];
        ldsm_x4(b, xt + (np * 16 + (lane & 7) + 8 * (lane >> 4)) * S::LD + kk * 16 +
                       8 * ((lane >> 3) & 1));
        mma_bf16(acc1[2 * np], a, b[0], b[1]);
        mma_bf16(acc1[2 * np + 1], a, b[2], b[3]);
        mma_bf16(acc1[2 * np], alo, b[0], b[1]);
        mma_bf16(acc1[2 * np + 1], alo, b[2], b[3]);
      }
    }
    // r = w·exp(ℓ − log Z) in place; Σr and Σr‖y‖² in float32.
#pragma unroll
    for (int nt = 0; nt < BR / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int h = e >> 1, row = nt * 8 + 2 * t + (e & 1);
        const float s = s_s[row];
        const float r = w_s[row] * __expf(cc[h] + acc1[nt][e] + rc[h] * s - lz_s[row]);
        acc1[nt][e] = r;
        nk[h] += r;
        ss[h] = fmaf(r, s, ss[h]);
      }
    // Σ r·f: the accumulator layout of ℓᵀ is the A-fragment layout of rᵀ (k = rows).
#pragma unroll
    for (int j = 0; j < BR / 16; ++j) {
      std::uint32_t a[4] = {pack_bf16(acc1[2 * j][0], acc1[2 * j][1]),
                            pack_bf16(acc1[2 * j][2], acc1[2 * j][3]),
                            pack_bf16(acc1[2 * j + 1][0], acc1[2 * j + 1][1]),
                            pack_bf16(acc1[2 * j + 1][2], acc1[2 * j + 1][3])};
#pragma unroll
      for (int fp = 0; fp < FP / 16; ++fp) {
        std::uint32_t b[4];
        ldsm_x4_trans(b, xt + (j * 16 + (lane & 7) + 8 * ((lane >> 3) & 1)) * S::LD + fp * 16 +
                             8 * (lane >> 4));
        mma_bf16(acc2[2 * fp], a, b[0], b[1]);
        mma_bf16(acc2[2 * fp + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // this buffer is refilled by the next iteration's prefetch
  }

  add_partials<FP>(part, kpad, comp0, [&](int nt, int e) { return acc2[nt][e]; }, nk, ss);
}

// Statistics kernel with Hopper warpgroup products (sm_90a): the same work as stats_kernel, but
// each warpgroup issues its 64 components' products as wgmma (B read from shared memory once
// per warpgroup instead of once per warp, no ldmatrix for the rows). The row tile is stored as
// 8×8 core matrices so that one layout serves both products (K-major for ℓᵀ, N-major for Σ r·f).
struct WgDesc {
  int lbo, sbo;  ///< descriptor strides (bytes) between core matrices
};

// NB row-tile buffers: 4 (loads two tiles ahead) or 3 (one ahead; leaves room for 64-row tiles of
// 256 feature columns beside the parameters).
template <int FP, int BR, int NB = 4>
__global__ void __launch_bounds__(kThreads) stats_kernel_wg(
    const bf16* __restrict__ feats, const float* __restrict__ sq, int n,
    const bf16* __restrict__ means, const float* __restrict__ cpad,
    const float* __restrict__ rowcoef, int kpad, const float* __restrict__ logz,
    const float* __restrict__ wz, int rows_per_split, float* __restrict__ part, WgDesc dk, WgDesc dm) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using S = StatsShape<FP, BR>;
  // Parameters (A of ℓᵀ): for features wider than 128 columns from shared memory (core
  // matrices), which leaves the registers to the products (from registers ptxas serialised the
  // products there for want of registers, C7511); up to 128 from registers, measured 1–4%
  // faster than from shared memory with 128-row tiles.
  constexpr bool AS = FP > 128;
  constexpr int MLD = AS ? FP : S::LD;  // parameter row stride: core matrices / padded rows
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* xs = reinterpret_cast<bf16*>(smem);  // [4][BR/8][FP/8][8×8]: wgmma core matrices
  bf16* msm = xs + NB * BR * FP;             // [hi, lo][128 components]
  float* scal = reinterpret_cast<float*>(msm + 2 * kCompBlock2 * MLD);  // [4][‖y‖², log Z, w][BR]
  std::uint64_t* full = reinterpret_cast<std::uint64_t*>(scal + NB * 3 * BR);  // [NB]
  std::uint64_t* empty = full + NB;                                             // [NB]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int comp_base = blockIdx.x * kCompBlock2;
  const int comp0 = comp_base + warp * 16;
  const int begin = blockIdx.y * rows_per_split;
  const int end = min(n, begin + rows_per_split);

  if constexpr (AS) {
    for (int i = threadIdx.x; i < 2 * kCompBlock2 * FP / 8; i += kThreads) {
      const int part = i / (kCompBlock2 * FP / 8), rem = i % (kCompBlock2 * FP / 8);
      const int r = rem / (FP / 8), cb = rem % (FP / 8);
      cp_async_16(msm + part * kCompBlock2 * FP + ((r / 8) * (FP / 8) + cb) * 64 + (r % 8) * 8,
                  means + std::int64_t(part) * kpad * FP + std::int64_t(comp_base + r) * FP + cb * 8);
    }
  } else {
    load_block_params<FP, S::LD>(msm, means, kpad, comp_base);
  }
  mma::cp_async_commit();
  if (threadIdx.x == 0) {
    for (int i = 0; i < NB; ++i) {
      sm90::mbar_init(full + i, 1);
      sm90::mbar_init(empty + i, kWarps);
    }
    sm90::mbar_init_fence();
  }
  // Thread 0 only: row tile `it` (rows r0..) → buffer it % 4 by the copy engine (kernel 1 left
  // the features tiled and the row scalars padded), once every warp is done with tile it − 4.
  auto produce = [&](int it, int r0) {
    const int slot = it % NB;
    if (it >= NB) {
      sm90::mbar_wait(empty + slot, (it / NB - 1) & 1);
      wg::fence_proxy_async();
    }
    sm90::mbar_arrive_expect_tx(full + slot, BR * FP * 2 + 3 * BR * 4);
    sm90::bulk_copy_g2s(xs + slot * BR * FP, feats + std::int64_t(r0) * FP, BR * FP * 2, full + slot);
    float* sc = scal + slot * 3 * BR;
    sm90::bulk_copy_g2s(sc, sq + r0, BR * 4, full + slot);
    sm90::bulk_copy_g2s(sc + BR, logz + r0, BR * 4, full + slot);
    sm90::bulk_copy_g2s(sc + 2 * BR, wz + r0, BR * 4, full + slot);
  };

  const float cc[2] = {cpad[comp0 + g], cpad[comp0 + g + 8]};
  const float rc[2] = {rowcoef[comp0 + g], rowcoef[comp0 + g + 8]};
  float nk[2] = {0, 0}, ss[2] = {0, 0};
  float acc2[FP / 2];
#pragma unroll
  for (int i = 0; i < FP / 2; ++i) acc2[i] = 0.0f;

  // AS: this warpgroup's 64 components start at core-matrix row block 8·(warp / 4).
  const bf16* mwg = msm + (warp / 4) * 8 * (FP / 8) * 64;
  mma::cp_async_wait<0>();  // the parameters are in (and the barriers initialised)
  wg::fence_proxy_async();
  __syncthreads();
  if (threadIdx.x == 0) {
    if (begin < end) produce(0, begin);
    if (NB == 4 && begin + BR < end) produce(1, begin + BR);
  }
  std::uint32_t areg[AS ? 1 : FP / 16][4], alo_r[AS ? 1 : FP / 16][4];
  if constexpr (!AS) {
    const bf16* mrow = msm + (warp * 16 + (lane & 15)) * S::LD + 8 * (lane >> 4);
#pragma unroll
    for (int kk = 0; kk < FP / 16; ++kk) {
      ldsm_x4(areg[kk], mrow + kk * 16);
      ldsm_x4(alo_r[kk], mrow + kCompBlock2 * S::LD + kk * 16);
    }
  }

  // Software pipeline over row tiles (four buffers, loads two tiles ahead, no block barrier:
  // full/empty mbarriers): iteration `it` issues ℓᵀ of tile it and Σ r·f of tile it − 1 back to
  // back, waits for the first, and computes tile it's responsibilities while the tensor cores
  // run the second; then tile it − 1 is released. One extra iteration drains.
  std::uint32_t ra[BR / 16][4];
  int it = 0;
  for (int r0 = begin; r0 < end + BR; r0 += BR, ++it) {
    const bool live = r0 < end;
    const int b = it % NB, bp = (it + NB - 1) % NB;
    if (threadIdx.x == 0 && r0 + (NB - 2) * BR < end) produce(it + NB - 2, r0 + (NB - 2) * BR);
    if (live) sm90::mbar_wait(full + b, (it / NB) & 1);
    const bf16* xt = xs + b * BR * FP;
    const float* s_s = scal + b * 3 * BR;
    const float* lz_s = s_s + BR;
    const float* w_s = lz_s + BR;

    // ℓᵀ (64 components × BR rows) per warpgroup: A = parameters (hi, lo) from shared memory,
    // B = the row tile as BR × FP, K-major (feature blocks 2kk, 2kk + 1).
    float acc1[BR / 2];
    wg::fence();
    if (live) {
#pragma unroll
      for (int kk = 0; kk < FP / 16; ++kk) {
        const std::uint64_t desc = wg::smem_desc(xt + 2 * kk * 64, dk.lbo, dk.sbo);
        if constexpr (AS) {
          wg::MmaSS<BR>::run(acc1, wg::smem_desc(mwg + 2 * kk * 64, 128, FP * 16), desc, kk > 0);
          wg::MmaSS<BR>::run(acc1, wg::smem_desc(mwg + kCompBlock2 * FP + 2 * kk * 64, 128, FP * 16),
                             desc, 1);
        } else {
          wg::Mma<BR, 0>::run(acc1, areg[kk], desc, kk > 0);
          wg::Mma<BR, 0>::run(acc1, alo_r[kk], desc, 1);
        }
      }
    }
    wg::commit();
    // Σ r·f of the previous tile: the accumulator layout of ℓᵀ is the A-fragment layout of rᵀ
    // (k = rows); B = that tile as BR × FP, N-major (row blocks 2j, 2j + 1).
    if (it > 0) {
      const bf16* xq = xs + bp * BR * FP;
#pragma unroll
      for (int j = 0; j < BR / 16; ++j)
        wg::Mma<FP, 1>::run(acc2, ra[j], wg::smem_desc(xq + 2 * j * (FP / 8) * 64, dm.lbo, dm.sbo), 1);
    }
    wg::commit();
    asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");  // ℓᵀ of tile it is done
    // r = w·exp(ℓ − log Z), packed to bf16 pairs straight into the next A operand (acc1 is only
    // read: a non-wgmma write to an accumulator while Σ r·f is in flight makes ptxas serialise
    // every wgmma of the kernel, C7515); Σr and Σr‖y‖² in float32.
    std::uint32_t rn[BR / 16][4];
    if (live) {
#pragma unroll
      for (int nt = 0; nt < BR / 8; ++nt) {
        float r[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int h = e >> 1, row = nt * 8 + 2 * t + (e & 1);
          const float s = s_s[row];
          r[e] = w_s[row] * __expf(cc[h] + acc1[4 * nt + e] + rc[h] * s - lz_s[row]);
          nk[h] += r[e];
          ss[h] = fmaf(r[e], s, ss[h]);
        }
        rn[nt / 2][2 * (nt % 2)] = pack_bf16(r[0], r[1]);
        rn[nt / 2][2 * (nt % 2) + 1] = pack_bf16(r[2], r[3]);
      }
    }
    wg::wait_all();  // Σ r·f of tile it − 1 is done: ra and its buffer are free
    if (it > 0) {
      __syncwarp();
      if (lane == 0) sm90::mbar_arrive(empty + bp);
    }
    if (live) {
#pragma unroll
      for (int j = 0; j < BR / 16; ++j)
#pragma unroll
        for (int q = 0; q < 4; ++q) ra[j][q] = rn[j][q];
    }
  }

  add_partials<FP>(part, kpad, comp0, [&](int nt, int e) { return acc2[4 * nt + e]; }, nk, ss);
#else
  __trap();
#endif
}

// Partials (splits × kpad × (FP+2)) → float64 accumulators, summed over splits in order.
__global__ void reduce_partials_kernel(const float* __restrict__ part, int splits, int kpad,
                                       int fp, int k, int d, bool diag, double* nk, double* sx,
                                       double* sxx) {
  const int pw = fp + 2;
  const std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= std::int64_t(k) * pw) return;
  const int j = int(idx / pw), col = int(idx % pw);
  double s = 0;
  for (int sp = 0; sp < splits; ++sp) s += double(part[(std::int64_t(sp) * kpad + j) * pw + col]);
  if (col < d) {
    sx[std::int64_t(j) * d + col] += s;
  } else if (diag && col < 2 * d) {
    sxx[std::int64_t(j) * d + col - d] += s;
  } else if (col == fp) {
    nk[j] += s;
  } else if (col == fp + 1 && !diag) {
    sxx[j] += s;
  }
}

__global__ void prepare_fused_kernel(const float* __restrict__ bmat, int k, int dl,
                                     int kpad, int fp, bf16* means) {
  const std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= std::int64_t(kpad) * fp) return;
  const int j = int(idx / fp), f = int(idx % fp);
  const float v = j < k && f < dl ? bmat[std::int64_t(j) * dl + f] : 0.0f;
  const bf16 hi = __float2bfloat16_rn(v);
  means[idx] = hi;                                                   // [0]: hi
  means[std::int64_t(kpad) * fp + idx] = __float2bfloat16_rn(v - __bfloat162float(hi));  // [1]: lo
}

// The parameters enter the products as hi + lo bf16 pairs (about 16 mantissa bits). What is
// left, Δb, shifts component j's logits by Σ_f Δb_jf·f(y): the same for every row, so it does
// not average out over rows (with plain bf16 parameters it biased N_k by 2e-3 to 3e-3). Near
// component j, E[f(y)] is known from its parameters (spherical: μ_j; diagonal: [μ_j, μ_j² +
// 1/p_j]); folding Σ_f Δb_jf·E_j[f] into the constant removes that bias where the
// responsibilities of j are large. One thread per component, in float64.
__global__ void fused_constants_kernel(const float* __restrict__ bmat, int k, int d, int dl,
                                       bool diag, const float* __restrict__ c,
                                       const float* __restrict__ rc, int kpad, int fp,
                                       const bf16* __restrict__ means, float* cpad, float* rcpad) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= kpad) return;
  if (j >= k) {
    cpad[j] = kPadLogit;
    rcpad[j] = 0.0f;
    return;
  }
  const float* b = bmat + std::int64_t(j) * dl;
  const bf16* q = means + std::int64_t(j) * fp;
  double corr = 0;
  for (int t = 0; t < d; ++t) {
    double mu, ey2 = 0;
    if (diag) {
      const double p = -2.0 * double(b[d + t]);
      mu = double(b[t]) / p;
      ey2 = mu * mu + 1.0 / p;
      corr += (double(b[d + t]) - double(__bfloat162float(q[d + t])) -
               double(__bfloat162float(q[std::int64_t(kpad) * fp + d + t]))) * ey2;
    } else {
      const double p = -2.0 * double(rc[j]);
      mu = double(b[t]) / p;
    }
    corr += (double(b[t]) - double(__bfloat162float(q[t])) -
             double(__bfloat162float(q[std::int64_t(kpad) * fp + t]))) * mu;
  }
  cpad[j] = float(double(c[j]) + corr);
  rcpad[j] = rc[j];
}

// The operands in the wgmma log Z kernel's order: per tile of nt components, [hi, lo] blocks of
// 8×8 core matrices (one bulk copy per tile), and [c, rowcoef] per tile.
__global__ void tile_params_kernel(const bf16* __restrict__ means, const float* __restrict__ c,
                                   const float* __restrict__ rc, int kpad, int fp, int nt,
                                   bf16* __restrict__ tiles, float* __restrict__ tconsts) {
  const std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx < 2 * std::int64_t(kpad) * fp) {
    const int part = int(idx / (std::int64_t(kpad) * fp));
    const int j = int(idx / fp % kpad), f = int(idx % fp);
    const int tile = j / nt, r = j % nt;
    tiles[std::int64_t(tile) * 2 * nt * fp + std::int64_t(part) * nt * fp +
          ((r / 8) * (fp / 8) + f / 8) * 64 + (r % 8) * 8 + f % 8] = means[idx];
  }
  if (idx < kpad) {
    const int tile = int(idx) / nt, r = int(idx) % nt;
    tconsts[std::int64_t(tile) * 2 * nt + r] = c[idx];
    tconsts[std::int64_t(tile) * 2 * nt + nt + r] = rc[idx];
  }
}

int feature_pad(const DeviceModel& m) {
  const int f = m.type == CovarianceType::diag ? 2 * m.d : m.d;
  return (f + 31) / 32 * 32;
}

// On sm_90 devices (compiled for sm_90a) the wgmma kernels run: the statistics kernel for every
// feature width, the log Z kernel up to 128 columns (H100: 1.4–1.5× faster than the mma.sync
// pair for spherical, 1.09× for diagonal D = 96, 128). FLASHGMM_CUDA_WGMMA=0 forces the
// mma.sync kernels (comparisons, tests).
bool use_wgmma(int fp) {
  static const bool sm90 = [] {
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    return major == 9;
  }();
  if (!sm90) return false;
  const char* e = std::getenv("FLASHGMM_CUDA_WGMMA");
  if (e && *e == '0') return false;
  (void)fp;
  return true;
}

// The log Z kernel for feature widths over 128 columns on sm_90 (see LogzWgShape):
// FLASHGMM_CUDA_LOGZ_WIDE = wg4 | wg2 | mma (the mma.sync logz_kernel, the earlier default).
enum class WideLogz { mma, wg4, wg2 };
constexpr WideLogz kWideLogzDefault = WideLogz::mma;
WideLogz wide_logz() {
  const char* e = std::getenv("FLASHGMM_CUDA_LOGZ_WIDE");
  if (!e || !*e) return kWideLogzDefault;
  const std::string v(e);
  return v == "wg4" ? WideLogz::wg4 : v == "wg2" ? WideLogz::wg2 : v == "mma" ? WideLogz::mma
                                                                               : kWideLogzDefault;
}
/// Statistics kernel for feature widths over 128 columns on sm_90: 64-row tiles in 3 buffers
/// (FLASHGMM_CUDA_STATS_WIDE=br64) instead of 32-row tiles in 4 (br32, the earlier default).
constexpr bool kStatsWideBr64Default = false;
bool stats_wide_br64() {
  const char* e = std::getenv("FLASHGMM_CUDA_STATS_WIDE");
  if (!e || !*e) return kStatsWideBr64Default;
  return std::string(e) == "br64" ? true : std::string(e) == "br32" ? false : kStatsWideBr64Default;
}
/// Whether the log Z kernel for this width runs on wgmma (then it reads tile-major parameters).
bool wgmma_logz(int fp) { return use_wgmma(fp) && (fp <= 128 || wide_logz() != WideLogz::mma); }

template <int FP>
struct FusedLauncher {
  static constexpr int MW = FP <= 128 ? 2 : 1;
  static constexpr int BR = FP <= 128 ? 64 : 32;
  using L1 = LogzShape<FP, MW>;
  using L2 = StatsShape<FP, BR>;

  /// The wgmma log Z kernel's shape for this width and choice (see LogzWgShape).
  template <WideLogz C>
  using WgShape = std::conditional_t<
      FP <= 128, LogzWgShape<FP>,
      std::conditional_t<C == WideLogz::wg2, LogzWgShape<FP, 2, 2, false>, LogzWgShape<FP, 4, 3, true>>>;

  template <WideLogz C>
  static void launch_wg(cudaStream_t s, const float* x, int n, int d, bool diag,
                        const float* center, const bf16* ptiles, const float* ctiles, int kpad,
                        const float* w, float* lz, double* lz_out, double* block_ll, bf16* feats,
                        float* sq, bool tiled, int npad, float* wz) {
    using W = WgShape<C>;
    auto kernel = logz_kernel_wg<FP, W::WGS, W::R, W::ALIAS>;
    static bool configured = false;
    if (!configured) {
      FLASHGMM_CUDA_CHECK(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(W::smem)));
      configured = true;
    }
    kernel<<<(n + W::BM - 1) / W::BM, W::kThreadsWg, W::smem, s>>>(
        x, n, d, diag, center, ptiles, ctiles, kpad, w, lz, lz_out, block_ll, feats, sq, tiled,
        npad, wz);
    FLASHGMM_CUDA_CHECK_LAUNCH();
  }

  static void logz(cudaStream_t s, const float* x, int n, int d, bool diag, const float* center,
                   const bf16* means, const float* c, const float* rc, const bf16* ptiles,
                   const float* ctiles, int kpad, const float* w, float* lz, double* lz_out,
                   double* block_ll, bf16* feats, float* sq, bool tiled, float* wz) {
    const int npad = (n + 63) / 64 * 64;
    if (ptiles) {  // prepared for a wgmma log Z kernel (wgmma_logz(FP))
      if (FP <= 128 || wide_logz() == WideLogz::wg4)
        launch_wg<WideLogz::wg4>(s, x, n, d, diag, center, ptiles, ctiles, kpad, w, lz, lz_out,
                                 block_ll, feats, sq, tiled, npad, wz);
      else
        launch_wg<WideLogz::wg2>(s, x, n, d, diag, center, ptiles, ctiles, kpad, w, lz, lz_out,
                                 block_ll, feats, sq, tiled, npad, wz);
      return;
    }
    static bool configured = false;
    if (!configured) {
      FLASHGMM_CUDA_CHECK(cudaFuncSetAttribute(logz_kernel<FP, MW>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               int(L1::smem)));
      configured = true;
    }
    const int blocks = (n + L1::BM - 1) / L1::BM;
    logz_kernel<FP, MW><<<blocks, kThreads, L1::smem, s>>>(
        x, n, d, diag, center, means, c, rc, kpad, w, lz, lz_out, block_ll, feats, sq, tiled, npad,
        wz);
    FLASHGMM_CUDA_CHECK_LAUNCH();
  }
  /// Blocks (= block log-likelihoods) of the log Z kernel that logz() launches for n rows.
  static int blocks1(int n, bool wg_logz) {
    const int bm = !wg_logz                                      ? L1::BM
                   : FP > 128 && wide_logz() == WideLogz::wg2 ? WgShape<WideLogz::wg2>::BM
                                                                : WgShape<WideLogz::wg4>::BM;
    return (n + bm - 1) / bm;
  }

  /// Row splits so that the statistics grid is exactly one wave of resident blocks.
  static int splits(int n, int kpad, int sms) {
    static int occ = -1;
    if (occ < 0) {
      FLASHGMM_CUDA_CHECK(cudaFuncSetAttribute(
          stats_kernel<FP, BR>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(L2::smem)));
      FLASHGMM_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
          &occ, stats_kernel<FP, BR>, kThreads, L2::smem));
      occ = std::max(occ, 1);
    }
    const int ctiles = kpad / kCompBlock2;
    const int want = std::max(1, occ * sms / ctiles);
    return std::min(want, std::max(1, (n + BR - 1) / BR));
  }
  template <int BRW, int NB>
  static void launch_stats_wg(cudaStream_t s, dim3 grid, const bf16* feats, const float* sq, int n,
                              const bf16* means, const float* c, const float* rc, int kpad,
                              const float* lz, const float* wz, int rps, float* part) {
    // NB row-tile buffers (core matrices), the parameters as core matrices (FP > 128) or
    // padded rows, 2·NB mbarriers.
    constexpr std::size_t wg_smem = NB * (std::size_t(BRW) * FP * 2 + 3 * BRW * 4) +
                                    2 * std::size_t(kCompBlock2) * (FP > 128 ? FP : L2::LD) * 2 +
                                    2 * NB * 8;
    static_assert(wg_smem <= 232448, "statistics kernel: shared memory over the sm_90 limit");
    static bool configured = false;
    if (!configured) {
      FLASHGMM_CUDA_CHECK(cudaFuncSetAttribute(stats_kernel_wg<FP, BRW, NB>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               int(wg_smem)));
      configured = true;
    }
    // Core matrices of the row tile: 128 bytes each, feature blocks adjacent, row blocks FP·16
    // bytes apart. Without swizzling the descriptor's leading offset is the stride along K and
    // the stride offset the one along M/N, for both majors (checked on an H100: the other
    // three assignments fail the E-step tests).
    const WgDesc dk{128, FP * 16}, dm{FP * 16, 128};
    stats_kernel_wg<FP, BRW, NB><<<grid, kThreads, wg_smem, s>>>(feats, sq, n, means, c, rc, kpad,
                                                                  lz, wz, rps, part, dk, dm);
  }
  static void stats(cudaStream_t s, const bf16* feats, const float* sq, int n, const bf16* means,
                    const float* c, const float* rc, int kpad, const float* lz, const float* w,
                    const float* wz, int splits, float* part) {
    dim3 grid(kpad / kCompBlock2, splits);
    if (use_wgmma(FP)) {
      // Features wider than 128 columns: 32-row tiles in 4 buffers, or (stats_wide_br64())
      // 64-row tiles in 3 (wider products, half the shared-memory reads of the parameters per row).
      constexpr bool kWide = FP > 128;
      const bool br64 = kWide && stats_wide_br64();
      const int brw = br64 ? 64 : BR;
      int rps = (n + splits - 1) / splits;
      rps = (rps + brw - 1) / brw * brw;
      if (br64)
        launch_stats_wg<kWide ? 64 : BR, kWide ? 3 : 4>(s, grid, feats, sq, n, means, c, rc, kpad, lz,
                                                         wz, rps, part);
      else
        launch_stats_wg<BR, 4>(s, grid, feats, sq, n, means, c, rc, kpad, lz, wz, rps, part);
    } else {
      int rps = (n + splits - 1) / splits;
      rps = (rps + BR - 1) / BR * BR;
      stats_kernel<FP, BR><<<grid, kThreads, L2::smem, s>>>(feats, sq, n, means, c, rc, kpad, lz, w,
                                                           rps, part);
    }
    FLASHGMM_CUDA_CHECK_LAUNCH();
  }
};

template <typename F>
void dispatch_fp(int fp, F&& f) {
  switch (fp) {
    case 32: f(FusedLauncher<32>{}); break;
    case 64: f(FusedLauncher<64>{}); break;
    case 96: f(FusedLauncher<96>{}); break;
    case 128: f(FusedLauncher<128>{}); break;
    case 160: f(FusedLauncher<160>{}); break;
    case 192: f(FusedLauncher<192>{}); break;
    case 224: f(FusedLauncher<224>{}); break;
    case 256: f(FusedLauncher<256>{}); break;
    default: FLASHGMM_THROW("fused E-step: no kernel for " << fp << " feature columns");
  }
}

}  // namespace

bool EstepEngine::fused_supported() const { return bf16_products_ && fused_shape_supported(); }

bool EstepEngine::fused_shape_supported() const {
  const DeviceModel& m = model_;
  if (params_.precision != Precision::fast || m.k == 0 || m.d % 4 != 0) return false;
  if (m.type == CovarianceType::spherical) return m.d <= 256;
  if (m.type == CovarianceType::diag) return 2 * m.d <= 256;
  return false;
}

// Rows per segment: the segment's bf16 features take at most 32 MiB.
std::int64_t segment_rows(int fp) { return std::max<std::int64_t>(4096, (32 << 20) / (2 * fp)); }

// Counted whenever the shape allows the fused path, also while the parameters need float32
// products: a later iteration may switch back to it.
std::int64_t EstepEngine::fused_workspace_bytes(std::int64_t rows) const {
  if (!fused_shape_supported()) return 0;
  const std::int64_t fp = feature_pad(model_);
  const std::int64_t seg = std::min(rows, segment_rows(int(fp)));
  const std::int64_t kpad = (model_.k + kCompBlock2 - 1) / kCompBlock2 * kCompBlock2;
  const std::int64_t splits = std::min<std::int64_t>(
      std::max<std::int64_t>(1, 2 * sm_count_ / (kpad / kCompBlock2)), (seg + 31) / 32);
  const std::int64_t seg_pad = (seg + 63) / 64 * 64;
  return seg_pad * (2 * fp + 12) + (seg / 64 + 1) * 8 + splits * kpad * (fp + 2) * 4;
}

void EstepEngine::prepare_fused_params() {
  const DeviceModel& m = model_;
  const int kpad = (m.k + kCompBlock2 - 1) / kCompBlock2 * kCompBlock2;
  const int fp = feature_pad(m);
  if (kpad != fused_kpad_ || fp != fused_fpad_) {
    fused_means_ = DeviceArray<bf16>(mem_, 2 * std::size_t(kpad) * fp, "fused component operands");
    fused_c_ = DeviceArray<float>(mem_, kpad, "fused component constants");
    fused_rowcoef_ = DeviceArray<float>(mem_, kpad, "fused component constants");
    fused_kpad_ = kpad, fused_fpad_ = fp;
  }
  const std::int64_t total = std::int64_t(kpad) * fp;
  prepare_fused_kernel<<<int((total + 255) / 256), 256, 0, stream_>>>(m.bmat.get(), m.k, m.dl, kpad,
                                                                      fp, fused_means_.get());
  FLASHGMM_CUDA_CHECK_LAUNCH();
  fused_constants_kernel<<<(kpad + 127) / 128, 128, 0, stream_>>>(
      m.bmat.get(), m.k, m.d, m.dl, m.type == CovarianceType::diag, m.c.get(), m.rowcoef.get(),
      kpad, fp, fused_means_.get(), fused_c_.get(), fused_rowcoef_.get());
  FLASHGMM_CUDA_CHECK_LAUNCH();
  if (wgmma_logz(fp)) {  // the wgmma log Z kernel reads tile-major copies
    constexpr int nt = LogzWgShape<128>::NT;  // components per tile
    if (fused_tiles_.size() != 2 * std::size_t(kpad) * fp) {
      fused_tiles_ = DeviceArray<bf16>(mem_, 2 * std::size_t(kpad) * fp, "fused component tiles");
      fused_tile_consts_ = DeviceArray<float>(mem_, 2 * std::size_t(kpad), "fused component tiles");
    }
    tile_params_kernel<<<int((2 * total + 255) / 256), 256, 0, stream_>>>(
        fused_means_.get(), fused_c_.get(), fused_rowcoef_.get(), kpad, fp, nt, fused_tiles_.get(),
        fused_tile_consts_.get());
    FLASHGMM_CUDA_CHECK_LAUNCH();
  } else {
    fused_tiles_ = {}, fused_tile_consts_ = {};
  }
}

void EstepEngine::run_fused(const float* x, const float* w, std::int64_t n, const RowOutputs& rows,
                            std::int64_t row0, bool want_stats) {
  const DeviceModel& m = model_;
  const bool diag = m.type == CovarianceType::diag;
  const int kpad = fused_kpad_, fp = fused_fpad_;
  const std::int64_t seg = std::min(n, segment_rows(fp));
  dispatch_fp(fp, [&](auto launcher) {
    using Lz = decltype(launcher);
    // [log Z | ‖y‖² | w] per row, each padded to whole 64-row tiles (bulk copies of kernel 2).
    const std::int64_t seg_pad = (seg + 63) / 64 * 64;
    const bool tiled = use_wgmma(fp);
    fused_logz_.grow(mem_, std::size_t(seg_pad) * 3, "fused log Z, row norms and weights");
    fused_feats_.grow(mem_, std::size_t(seg_pad) * fp, "fused bf16 features");
    fused_ll_.grow(mem_, std::size_t(Lz::blocks1(int(seg), !fused_tiles_.empty())), "fused block log-likelihoods");
    const int splits = Lz::splits(int(seg), kpad, sm_count_);
    const std::size_t npart = std::size_t(splits) * kpad * (fp + 2);
    if (want_stats) {
      fused_partials_.grow(mem_, npart, "fused partial statistics");
      FLASHGMM_CUDA_CHECK(cudaMemsetAsync(fused_partials_.get(), 0, npart * 4, stream_));
    }
    if (rows.log_z) fused_logz_out_.grow(mem_, std::size_t(seg), "fused log Z output");
    float* lz = fused_logz_.get();
    float* sq = lz + seg_pad;
    float* wz = sq + seg_pad;
    for (std::int64_t b = 0; b < n; b += seg) {
      const int cnt = int(std::min(seg, n - b));
      const float* wb = w ? w + b : nullptr;
      Lz::logz(stream_, x + b * m.d, cnt, m.d, diag, m.center.get(), fused_means_.get(),
               fused_c_.get(), fused_rowcoef_.get(), fused_tiles_.empty() ? nullptr : fused_tiles_.get(),
               fused_tile_consts_.get(), kpad, wb, lz,
               rows.log_z ? fused_logz_out_.get() : nullptr, fused_ll_.get(), fused_feats_.get(),
               sq, tiled, wz);
      if (want_stats) {
        sum_into(acc_ll_.get(), fused_ll_.get(), Lz::blocks1(cnt, !fused_tiles_.empty()), stream_);
        Lz::stats(stream_, fused_feats_.get(), sq, cnt, fused_means_.get(), fused_c_.get(),
                  fused_rowcoef_.get(), kpad, lz, wb, wz, std::min(splits, Lz::splits(cnt, kpad, sm_count_)),
                  fused_partials_.get());
      }
      if (rows.log_z) {
        FLASHGMM_CUDA_CHECK(cudaMemcpyAsync(rows.log_z + row0 + b, fused_logz_out_.get(),
                                            sizeof(double) * cnt, cudaMemcpyDeviceToHost,
                                            stream_));
        FLASHGMM_CUDA_CHECK(cudaStreamSynchronize(stream_));
      }
    }
    if (want_stats) {
      const std::int64_t total = std::int64_t(m.k) * (fp + 2);
      reduce_partials_kernel<<<int((total + 255) / 256), 256, 0, stream_>>>(
          fused_partials_.get(), splits, kpad, fp, m.k, m.d, diag, acc_nk_.get(), acc_sx_.get(),
          acc_sxx_.get());
      FLASHGMM_CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace flashgmm::cuda
