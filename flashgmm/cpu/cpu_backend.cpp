#include "cpu/cpu_backend.hpp"

#include <omp.h>
#include <unistd.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/fast_exp.hpp"
#include "cpu/top_m.hpp"
#include "flashgmm/error.hpp"
#include "src/blas.hpp"

namespace flashgmm::cpu {

std::int64_t tile_rows_for(int k, int d, CovarianceType t, std::int64_t l2_bytes) {
  // Floats per row kept hot: the centred row (x2 for diag's [x², x]), its K logits, and for
  // full the whitened block of a few components.
  std::int64_t per_row = (std::int64_t)k + (t == CovarianceType::diag ? 3 : 1) * d;
  if (t == CovarianceType::full || t == CovarianceType::tied) per_row += 2LL * d;
  std::int64_t rows = l2_bytes / (4 * per_row);
  rows = std::max<std::int64_t>(16, std::min<std::int64_t>(1024, rows));
  return rows / 16 * 16;
}

namespace {

std::int64_t l2_cache_bytes() {
  long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
  return v > 0 ? v : (1 << 20);
}

// Per-thread buffers, kept between calls.
struct Workspace {
  std::vector<float> xc;      // T×D centred rows
  std::vector<float> aux;     // T×2D (diag: [x², x]) or T×D (tied: y = x·P, full: per-component)
  std::vector<float> logits;  // T×K, then responsibilities
  std::vector<float> zblk;    // full: T×(Kb·D) whitened rows for a block of components
  std::vector<float> xnorm;   // T
  std::vector<float> kd;      // K×D float result of rᵀx (and rᵀx²)
  std::vector<float> dd;      // D×D float (full / tied second moments of one tile)
  std::vector<float> colsum;  // K
  std::vector<double> lz;     // T
  std::vector<double> dbl;    // T×D (tied: float64 centred rows)
  std::vector<std::int32_t> idx;  // K, for top-m selection
  SuffStats partial;
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(const Params& p, int dim) : dim_(dim), threads_(p.n_threads), tile_(p.tile_rows) {
    if (threads_ <= 0) threads_ = omp_get_max_threads();
    ws_.resize(threads_);
  }

  BackendInfo info() const override { return {"cpu", 0}; }

  void set_params(const ComponentParams& p) override {
    FLASHGMM_ASSERT(p.dim == dim_);
    cp_ = p;
    const int K = p.n_components, D = p.dim;
    const size_t kd = (size_t)K * D;
    center_.assign(p.center.begin(), p.center.end());
    center_f_.assign(p.center.begin(), p.center.end());
    // log_norm relative to its largest finite value keeps ℓ small in float; the offset is
    // added back to log Z in float64.
    lognorm_offset_ = -std::numeric_limits<double>::infinity();
    for (double v : p.log_norm) lognorm_offset_ = std::max(lognorm_offset_, v);
    lognorm_.resize(K);
    for (int k = 0; k < K; ++k) lognorm_[k] = (float)(p.log_norm[k] - lognorm_offset_);
    bias_.assign(K, 0.0f);
    switch (p.covariance_type) {
      case CovarianceType::spherical:
        // ℓ = log_norm − ½·prec·(‖x‖² − 2x·μ + ‖μ‖²): B = μ, per-component scale prec.
        bmat_.assign(p.means.begin(), p.means.end());
        scale_.resize(K);
        for (int k = 0; k < K; ++k) {
          double mn = 0;
          for (int j = 0; j < D; ++j) mn += p.means[(size_t)k * D + j] * p.means[(size_t)k * D + j];
          scale_[k] = (float)p.prec[k];
          bias_[k] = (float)mn;
        }
        break;
      case CovarianceType::diag:
        // maha = [x², x]·[p, −2μp]ᵀ + Σμ²p: one sgemm with inner dimension 2D.
        bmat_.resize(2 * kd);
        for (int k = 0; k < K; ++k) {
          double c = 0;
          for (int j = 0; j < D; ++j) {
            const double pr = p.prec[(size_t)k * D + j], mu = p.means[(size_t)k * D + j];
            bmat_[(size_t)k * 2 * D + j] = (float)pr;
            bmat_[(size_t)k * 2 * D + D + j] = (float)(-2 * mu * pr);
            c += mu * mu * pr;
          }
          bias_[k] = (float)c;
        }
        break;
      case CovarianceType::tied: {
        // y = x·P; maha = ‖y‖² − 2y·(μP) + ‖μP‖².
        pmat_.assign(p.prec.begin(), p.prec.end());
        bmat_.resize(kd);
        for (int k = 0; k < K; ++k) {
          double nn = 0;
          for (int j = 0; j < D; ++j) {
            double v = 0;
            for (int i = 0; i < D; ++i) v += p.means[(size_t)k * D + i] * p.prec[(size_t)i * D + j];
            bmat_[(size_t)k * D + j] = (float)v;
            nn += v * v;
          }
          bias_[k] = (float)nn;
        }
        break;
      }
      case CovarianceType::full:
        // Z = x·[P_1 … P_K] (D × K·D), maha_k = ‖Z_k − μ_k P_k‖².
        pmat_.resize(kd * D);
        bmat_.resize(kd);
        for (int k = 0; k < K; ++k) {
          const double* P = p.prec.data() + (size_t)k * D * D;
          for (int i = 0; i < D; ++i)
            for (int j = 0; j < D; ++j) pmat_[(size_t)i * K * D + (size_t)k * D + j] = (float)P[(size_t)i * D + j];
          for (int j = 0; j < D; ++j) {
            double v = 0;
            for (int i = 0; i < D; ++i) v += p.means[(size_t)k * D + i] * P[(size_t)i * D + j];
            bmat_[(size_t)k * D + j] = (float)v;
          }
        }
        break;
    }
    tile_rows_ = tile_ > 0 ? tile_ : tile_rows_for(K, D, p.covariance_type, l2_cache_bytes());
    // Components per whitening block (full): T·Kb·D floats ≈ 1 MiB.
    kblock_ = std::max<int>(1, std::min<int>(K, (int)((1 << 18) / std::max<std::int64_t>(1, tile_rows_ * D))));
  }

  void estep(const float* x, std::int64_t n, const float* w, SuffStats* stats,
             const RowOutputs& rows) override {
    FLASHGMM_ASSERT(cp_.n_components > 0);
    if (n <= 0) return;
    const int K = cp_.n_components, D = dim_;
    if (rows.top_ids || rows.top_probs) FLASHGMM_ASSERT(rows.top_m >= 1 && rows.top_m <= K);
    std::int64_t T = tile_rows_;
    const int P = (int)std::max<std::int64_t>(1, std::min<std::int64_t>(threads_, (n + T - 1) / T));
    // Small batches: shrink the tile so that every thread gets work.
    if ((n + T - 1) / T < threads_) T = std::max<std::int64_t>(16, (n + threads_ - 1) / threads_);
    const std::int64_t ntiles = (n + T - 1) / T;
    blas::SingleThreadedScope single;
#pragma omp parallel num_threads(P)
    {
      const int tid = omp_get_thread_num();
      // Flush denormals to zero: tiny responsibilities times small coordinates would otherwise
      // send the sgemm kernels through slow microcode paths (seen: 10× slower).
      const unsigned int saved_csr = _mm_getcsr();
      _mm_setcsr(saved_csr | 0x8040);
      Workspace& ws = ws_[tid];
      prepare(ws, T, stats != nullptr);
      // Static round-robin: tile t always goes to thread t % P, so partial sums (and the
      // result) are the same from run to run for the same thread count.
      for (std::int64_t t = tid; t < ntiles; t += P) {
        const std::int64_t i0 = t * T, nt = std::min(T, n - i0);
        tile(ws, x + (size_t)i0 * D, (int)nt, w ? w + i0 : nullptr, stats != nullptr, rows, i0);
      }
      _mm_setcsr(saved_csr);
    }
    if (stats) {
      for (int t = 0; t < P; ++t) stats->merge(ws_[t].partial);
      if (cp_.covariance_type == CovarianceType::full || cp_.covariance_type == CovarianceType::tied)
        symmetrize(*stats);
    }
  }

 private:
  void prepare(Workspace& ws, std::int64_t T, bool want_stats) {
    const int K = cp_.n_components, D = dim_;
    const CovarianceType ct = cp_.covariance_type;
    ws.xc.resize((size_t)T * D);
    ws.aux.resize((size_t)T * (ct == CovarianceType::diag ? 2 * D : D));
    ws.logits.resize((size_t)T * K);
    if (ct == CovarianceType::full) ws.zblk.resize((size_t)T * kblock_ * D);
    ws.xnorm.resize(T);
    ws.colsum.resize(K);
    ws.lz.resize(T);
    if (want_stats) {
      ws.kd.resize((size_t)K * D);
      if (ct == CovarianceType::full || ct == CovarianceType::tied) ws.dd.resize((size_t)D * D);
      if (ws.partial.n_components != K || ws.partial.dim != D || ws.partial.covariance_type != ct)
        ws.partial.reset(ct, K, D);
      else
        ws.partial.zero();
    }
  }

  // ℓ for nt rows into ws.logits (nt×K).
  void log_likelihoods(Workspace& ws, int nt) {
    const int K = cp_.n_components, D = dim_;
    float* L = ws.logits.data();
    switch (cp_.covariance_type) {
      case CovarianceType::spherical: {
        blas::gemm_nt(nt, K, D, 1.0f, ws.xc.data(), D, bmat_.data(), D, 0.0f, L, K);
        for (int i = 0; i < nt; ++i) {
          const float xn = ws.xnorm[i];
          float* li = L + (size_t)i * K;
#pragma omp simd
          for (int k = 0; k < K; ++k)
            li[k] = lognorm_[k] - 0.5f * scale_[k] * std::max(xn - 2 * li[k] + bias_[k], 0.0f);
        }
        break;
      }
      case CovarianceType::diag: {
        for (int i = 0; i < nt; ++i) {
          const float* xi = ws.xc.data() + (size_t)i * D;
          float* a = ws.aux.data() + (size_t)i * 2 * D;
          for (int j = 0; j < D; ++j) {
            a[j] = xi[j] * xi[j];
            a[D + j] = xi[j];
          }
        }
        blas::gemm_nt(nt, K, 2 * D, 1.0f, ws.aux.data(), 2 * D, bmat_.data(), 2 * D, 0.0f, L, K);
        for (int i = 0; i < nt; ++i) {
          float* li = L + (size_t)i * K;
#pragma omp simd
          for (int k = 0; k < K; ++k) li[k] = lognorm_[k] - 0.5f * std::max(li[k] + bias_[k], 0.0f);
        }
        break;
      }
      case CovarianceType::tied: {
        float* y = ws.aux.data();
        blas::gemm_nn(nt, D, D, 1.0f, ws.xc.data(), D, pmat_.data(), D, 0.0f, y, D);
        blas::gemm_nt(nt, K, D, 1.0f, y, D, bmat_.data(), D, 0.0f, L, K);
        for (int i = 0; i < nt; ++i) {
          double yn = 0;
          for (int j = 0; j < D; ++j) yn += (double)y[(size_t)i * D + j] * y[(size_t)i * D + j];
          const float ynf = (float)yn;
          float* li = L + (size_t)i * K;
#pragma omp simd
          for (int k = 0; k < K; ++k)
            li[k] = lognorm_[k] - 0.5f * std::max(ynf - 2 * li[k] + bias_[k], 0.0f);
        }
        break;
      }
      case CovarianceType::full: {
        for (int k0 = 0; k0 < K; k0 += kblock_) {
          const int kb = std::min(kblock_, K - k0);
          float* Z = ws.zblk.data();
          blas::gemm_nn(nt, kb * D, D, 1.0f, ws.xc.data(), D, pmat_.data() + (size_t)k0 * D, K * D,
                        0.0f, Z, kb * D);
          for (int i = 0; i < nt; ++i)
            for (int q = 0; q < kb; ++q) {
              const float* z = Z + (size_t)i * kb * D + (size_t)q * D;
              const float* mp = bmat_.data() + (size_t)(k0 + q) * D;
              float s = 0;
#pragma omp simd reduction(+ : s)
              for (int j = 0; j < D; ++j) {
                const float t = z[j] - mp[j];
                s += t * t;
              }
              L[(size_t)i * K + k0 + q] = lognorm_[k0 + q] - 0.5f * s;
            }
        }
        break;
      }
    }
  }

  void tile(Workspace& ws, const float* x, int nt, const float* w, bool want_stats,
            const RowOutputs& rows, std::int64_t row0) {
    const int K = cp_.n_components, D = dim_;
    // Centre the rows (keeps the expansion's terms small) and take their squared norms.
    const float* cf = center_f_.data();
    for (int i = 0; i < nt; ++i) {
      const float* xi = x + (size_t)i * D;
      float* ci = ws.xc.data() + (size_t)i * D;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int j = 0; j < D; ++j) {
        ci[j] = xi[j] - cf[j];
        s += ci[j] * ci[j];
      }
      ws.xnorm[i] = s;
    }
    log_likelihoods(ws, nt);
    // log Z per row, then responsibilities in place.
    float* L = ws.logits.data();
    for (int i = 0; i < nt; ++i) {
      float* li = L + (size_t)i * K;
      float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
      for (int k = 0; k < K; ++k) m = li[k] > m ? li[k] : m;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int k = 0; k < K; ++k) {
        li[k] = fast_exp(li[k] - m);
        s += li[k];
      }
      const float inv = 1.0f / s;
#pragma omp simd
      for (int k = 0; k < K; ++k) li[k] *= inv;
      ws.lz[i] = lognorm_offset_ + (double)m + std::log((double)s);
    }
    if (rows.log_z)
      for (int i = 0; i < nt; ++i) rows.log_z[row0 + i] = ws.lz[i];
    if (rows.proba) std::copy_n(L, (size_t)nt * K, rows.proba + (size_t)row0 * K);
    if (rows.top_ids || rows.top_probs) {
      ws.idx.resize(K);
      for (int i = 0; i < nt; ++i)
        select_top_m(L + (size_t)i * K, K, rows.top_m, ws.idx.data(),
                     rows.top_ids ? rows.top_ids + (size_t)(row0 + i) * rows.top_m : nullptr,
                     rows.top_probs ? rows.top_probs + (size_t)(row0 + i) * rows.top_m : nullptr);
    }
    if (!want_stats) return;
    accumulate(ws, x, nt, w);
  }

  void accumulate(Workspace& ws, const float* x_, int nt, const float* w) {
    const int K = cp_.n_components, D = dim_;
    SuffStats& st = ws.partial;
    float* R = ws.logits.data();
    double wsum = 0, ll = 0;
    for (int i = 0; i < nt; ++i) {
      const float wi = w ? w[i] : 1.0f;
      wsum += wi;
      ll += wi * ws.lz[i];
      if (w) {
        float* ri = R + (size_t)i * K;
#pragma omp simd
        for (int k = 0; k < K; ++k) ri[k] *= wi;
      }
    }
    st.weight_sum += wsum;
    st.log_likelihood += ll;
    st.n_rows += nt;
    // N_k: column sums of R, accumulated in float over the tile (≤ 1024 terms) then float64.
    std::vector<float>& colsum = ws.colsum;
    std::fill(colsum.begin(), colsum.end(), 0.0f);
    for (int i = 0; i < nt; ++i) {
      const float* ri = R + (size_t)i * K;
#pragma omp simd
      for (int k = 0; k < K; ++k) colsum[k] += ri[k];
    }
    for (int k = 0; k < K; ++k) st.nk[k] += colsum[k];
    // Σ r x = Rᵀ X.
    float* F = ws.kd.data();
    blas::gemm_tn(K, D, nt, 1.0f, R, K, ws.xc.data(), D, 0.0f, F, D);
    for (size_t i = 0; i < (size_t)K * D; ++i) st.sx[i] += F[i];
    switch (cp_.covariance_type) {
      case CovarianceType::spherical: {
        // Σ r ‖x‖² = Rᵀ·xnorm.
        cblas_sgemv(CblasRowMajor, CblasTrans, nt, K, 1.0f, R, K, ws.xnorm.data(), 1, 0.0f, F, 1);
        for (int k = 0; k < K; ++k) st.sxx[k] += F[k];
        break;
      }
      case CovarianceType::diag: {
        // Σ r x² = Rᵀ·X² (the x² half of aux).
        blas::gemm_tn(K, D, nt, 1.0f, R, K, ws.aux.data(), 2 * D, 0.0f, F, D);
        for (size_t i = 0; i < (size_t)K * D; ++i) st.sxx[i] += F[i];
        break;
      }
      case CovarianceType::tied: {
        // Σ w x xᵀ (lower triangle), independent of r, in float64: the M-step subtracts
        // Σ N_k μμᵀ from it, and float32 sums would lose the within-component part.
        std::vector<double>& Y = ws.dbl;
        Y.resize((size_t)nt * D);
        for (int i = 0; i < nt; ++i) {
          const double sw = w ? std::sqrt((double)w[i]) : 1.0;
          for (int j = 0; j < D; ++j) Y[(size_t)i * D + j] = sw * ((double)x_[(size_t)i * D + j] - center_[j]);
        }
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, D, nt, 1.0, Y.data(), D, 1.0, st.sxx.data(), D);
        break;
      }
      case CovarianceType::full: {
        // Σ r_k x xᵀ per component: syrk on √r_k-scaled rows.
        float* Y = ws.aux.data();
        for (int k = 0; k < K; ++k) {
          if (colsum[k] == 0.0f) continue;
          for (int i = 0; i < nt; ++i) {
            const float s = std::sqrt(R[(size_t)i * K + k]);
            const float* xi = ws.xc.data() + (size_t)i * D;
            float* yi = Y + (size_t)i * D;
#pragma omp simd
            for (int j = 0; j < D; ++j) yi[j] = s * xi[j];
          }
          cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, D, nt, 1.0f, Y, D, 0.0f, ws.dd.data(), D);
          add_lower(st.sxx.data() + (size_t)k * D * D, ws.dd.data(), D);
        }
        break;
      }
    }
  }

  static void add_lower(double* dst, const float* src, int D) {
    for (int i = 0; i < D; ++i)
      for (int j = 0; j <= i; ++j) dst[(size_t)i * D + j] += src[(size_t)i * D + j];
  }

  // The syrk paths fill only lower triangles: mirror them once per pass.
  void symmetrize(SuffStats& s) const {
    const int D = dim_;
    const int blocks = cp_.covariance_type == CovarianceType::full ? cp_.n_components : 1;
    for (int b = 0; b < blocks; ++b) {
      double* m = s.sxx.data() + (size_t)b * D * D;
      for (int i = 0; i < D; ++i)
        for (int j = 0; j < i; ++j) m[(size_t)j * D + i] = m[(size_t)i * D + j];
    }
  }

  int dim_;
  int threads_;
  std::int64_t tile_;
  std::int64_t tile_rows_ = 256;
  double lognorm_offset_ = 0;
  int kblock_ = 1;
  ComponentParams cp_;
  std::vector<double> center_;
  std::vector<float> center_f_;
  std::vector<float> lognorm_, bias_, scale_, bmat_, pmat_;
  std::vector<Workspace> ws_;
};

}  // namespace

std::unique_ptr<Backend> make_backend(const Params& p, int dim) {
  return std::make_unique<CpuBackend>(p, dim);
}

}  // namespace flashgmm::cpu
