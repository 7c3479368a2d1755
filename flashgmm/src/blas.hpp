// BLAS access: cblas from OpenBLAS (or any CBLAS), and a guard that keeps OpenBLAS's own
// threads off while flashgmm runs its own OpenMP threads over tiles.
#pragma once

#include <cblas.h>

namespace flashgmm::blas {

/// While alive, OpenBLAS (if that is the BLAS) uses one thread per call; restores on exit.
class SingleThreadedScope {
 public:
  SingleThreadedScope();
  ~SingleThreadedScope();
  SingleThreadedScope(const SingleThreadedScope&) = delete;
  SingleThreadedScope& operator=(const SingleThreadedScope&) = delete;

 private:
  int saved_ = -1;
};

/// C (m×n) = alpha·A·Bᵀ + beta·C for row-major A (m×k), B (n×k).
inline void gemm_nt(int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                    int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
/// C (m×n) = alpha·Aᵀ·B + beta·C for row-major A (k×m), B (k×n).
inline void gemm_tn(int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                    int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
/// C (m×n) = alpha·A·B + beta·C for row-major A (m×k), B (k×n).
inline void gemm_nn(int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                    int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace flashgmm::blas
