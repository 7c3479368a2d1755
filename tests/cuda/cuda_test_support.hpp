// Shared helpers of the CUDA backend tests: skipping without a device, random mixtures and
// a float64 reference E-step computed directly from the definitions in backend.hpp.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "cuda/cuda_backend.hpp"
#include "flashgmm/backend.hpp"
#include "flashgmm/model.hpp"

namespace flashgmm::cuda_test {

/// Skips the calling test (with the reason) when no CUDA device can be used.
#define FLASHGMM_REQUIRE_CUDA_DEVICE()                                 \
  do {                                                                 \
    std::string flashgmm_why_;                                         \
    if (::flashgmm::cuda::device_count(&flashgmm_why_) == 0)           \
      GTEST_SKIP() << flashgmm_why_;                                   \
  } while (0)

struct Problem {
  int n = 0, k = 0, d = 0;
  CovarianceType type = CovarianceType::spherical;
  std::vector<float> x;  // n·d, not centred
  std::vector<float> w;  // n weights (empty = unweighted)
  ComponentParams params;
};

/// Rows drawn from a mixture whose components overlap enough for soft posteriors; parameters
/// near (not equal to) the generating ones; centre = the data mean plus an offset so that the
/// centring is exercised.
inline Problem make_problem(CovarianceType type, int n, int k, int d, std::uint64_t seed,
                            bool weighted = false) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::uniform_real_distribution<double> ud(0.0, 1.0);
  Problem p;
  p.n = n, p.k = k, p.d = d, p.type = type;
  const std::size_t K = k, D = d;
  // Means ~ N(0, s²·I) with s = 2/√D: two means lie about 4 noise σ (0.7) apart in any D.
  const double s = 2.0 / std::sqrt(double(d));
  std::vector<double> mu(K * D);
  for (auto& v : mu) v = s * nd(rng);
  std::vector<double> offset(D);
  for (auto& v : offset) v = 3.0 * nd(rng);
  p.x.resize(std::size_t(n) * D);
  std::vector<double> mean(D, 0.0);
  for (int i = 0; i < n; ++i) {
    const std::size_t c = std::size_t(ud(rng) * k) % K;
    for (std::size_t t = 0; t < D; ++t) {
      const double v = offset[t] + mu[c * D + t] + 0.7 * nd(rng);
      p.x[i * D + t] = float(v);
      mean[t] += v / n;
    }
  }
  if (weighted) {
    p.w.resize(n);
    for (auto& v : p.w) v = float(2.0 * ud(rng));
  }
  ComponentParams& cp = p.params;
  cp.covariance_type = type;
  cp.n_components = k;
  cp.dim = d;
  cp.center.resize(D);
  for (std::size_t t = 0; t < D; ++t) cp.center[t] = mean[t] + 0.1 * nd(rng);
  cp.means.resize(K * D);
  for (std::size_t j = 0; j < K; ++j)
    for (std::size_t t = 0; t < D; ++t)
      cp.means[j * D + t] = offset[t] + mu[j * D + t] + 0.05 * nd(rng) - cp.center[t];
  cp.prec.resize(covariance_size(type, k, d));
  cp.log_norm.resize(K);
  std::vector<double> wts(K);
  double wsum = 0;
  for (auto& v : wts) wsum += (v = 0.5 + ud(rng));
  const double base = 1.0 / (0.7 * 0.7);
  for (std::size_t j = 0; j < K; ++j) {
    double logdet = 0;  // log|det P_k|, consistent with the precisions
    switch (type) {
      case CovarianceType::spherical:
        cp.prec[j] = base * (0.7 + 0.6 * ud(rng));
        logdet = 0.5 * d * std::log(cp.prec[j]);
        break;
      case CovarianceType::diag:
        for (std::size_t t = 0; t < D; ++t) {
          cp.prec[j * D + t] = base * (0.7 + 0.6 * ud(rng));
          logdet += 0.5 * std::log(cp.prec[j * D + t]);
        }
        break;
      case CovarianceType::full:
      case CovarianceType::tied: {
        if (type == CovarianceType::tied && j > 0) break;
        // Upper-triangular factor with a positive diagonal: log|det| = Σ log diag.
        double* P = cp.prec.data() + j * D * D;
        for (std::size_t r = 0; r < D; ++r)
          for (std::size_t c = 0; c < D; ++c) {
            if (c == r) {
              P[r * D + c] = std::sqrt(base) * (0.8 + 0.4 * ud(rng));
              logdet += std::log(P[r * D + c]);
            } else if (c > r) {
              P[r * D + c] = 0.3 / std::sqrt(double(d)) * nd(rng);
            } else {
              P[r * D + c] = 0.0;
            }
          }
        break;
      }
    }
    if (type == CovarianceType::tied && j > 0) {
      const double* P = cp.prec.data();
      for (std::size_t r = 0; r < D; ++r) logdet += std::log(P[r * D + r]);
    }
    cp.log_norm[j] = std::log(wts[j] / wsum) - 0.5 * d * std::log(2 * M_PI) + logdet;
  }
  return p;
}

struct Reference {
  SuffStats stats;
  std::vector<double> log_z;
  std::vector<double> post;  // n·K posteriors
};

/// float64 E-step straight from the definitions (small n only: it stores n·K posteriors).
inline Reference reference_estep(const Problem& p) {
  const ComponentParams& cp = p.params;
  const std::size_t K = p.k, D = p.d;
  Reference ref;
  ref.stats.reset(p.type, p.k, p.d);
  ref.log_z.resize(p.n);
  ref.post.resize(std::size_t(p.n) * K);
  std::vector<double> y(D), l(K), z(D);
  for (int i = 0; i < p.n; ++i) {
    for (std::size_t t = 0; t < D; ++t) y[t] = double(p.x[i * D + t]) - cp.center[t];
    double mx = -INFINITY;
    for (std::size_t j = 0; j < K; ++j) {
      double maha = 0;
      const double* mu = cp.means.data() + j * D;
      switch (p.type) {
        case CovarianceType::spherical:
          for (std::size_t t = 0; t < D; ++t) maha += (y[t] - mu[t]) * (y[t] - mu[t]);
          maha *= cp.prec[j];
          break;
        case CovarianceType::diag:
          for (std::size_t t = 0; t < D; ++t)
            maha += cp.prec[j * D + t] * (y[t] - mu[t]) * (y[t] - mu[t]);
          break;
        default: {
          const double* P = cp.prec.data() + (p.type == CovarianceType::full ? j * D * D : 0);
          for (std::size_t c = 0; c < D; ++c) {
            double s = 0;
            for (std::size_t r = 0; r < D; ++r) s += (y[r] - mu[r]) * P[r * D + c];
            maha += s * s;
          }
        }
      }
      l[j] = cp.log_norm[j] - 0.5 * maha;
      mx = std::max(mx, l[j]);
    }
    double sum = 0;
    for (std::size_t j = 0; j < K; ++j) sum += std::exp(l[j] - mx);
    const double lse = mx + std::log(sum);
    ref.log_z[i] = lse;
    const double wi = p.w.empty() ? 1.0 : p.w[i];
    SuffStats& st = ref.stats;
    st.log_likelihood += wi * lse;
    st.weight_sum += wi;
    st.n_rows += 1;
    for (std::size_t j = 0; j < K; ++j) {
      const double post = std::exp(l[j] - lse);
      ref.post[i * K + j] = post;
      const double r = wi * post;
      st.nk[j] += r;
      for (std::size_t t = 0; t < D; ++t) st.sx[j * D + t] += r * y[t];
      switch (p.type) {
        case CovarianceType::spherical:
          for (std::size_t t = 0; t < D; ++t) st.sxx[j] += r * y[t] * y[t];
          break;
        case CovarianceType::diag:
          for (std::size_t t = 0; t < D; ++t) st.sxx[j * D + t] += r * y[t] * y[t];
          break;
        case CovarianceType::full:
          for (std::size_t a = 0; a < D; ++a)
            for (std::size_t b = 0; b < D; ++b) st.sxx[(j * D + a) * D + b] += r * y[a] * y[b];
          break;
        case CovarianceType::tied:
          break;
      }
    }
    if (p.type == CovarianceType::tied)
      for (std::size_t a = 0; a < D; ++a)
        for (std::size_t b = 0; b < D; ++b) ref.stats.sxx[a * D + b] += wi * y[a] * y[b];
  }
  return ref;
}

/// ‖a − b‖ / ‖b‖ (NaN anywhere gives +inf so that it fails every bound).
inline double rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace flashgmm::cuda_test
