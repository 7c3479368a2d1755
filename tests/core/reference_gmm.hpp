// A small, obviously-correct float64 GMM used as the reference in tests. It materialises
// N×K responsibilities: test-only, small N.
#pragma once

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "flashgmm/model.hpp"
#include "flashgmm/stats.hpp"

namespace flashgmm::testing {

// log N(x | μ_k, Σ_k) through a Cholesky solve of the covariance itself (not the precision
// path the library uses).
inline std::vector<double> reference_log_prob(const Model& m, const float* x, std::int64_t n) {
  const int K = m.n_components, D = m.dim;
  std::vector<double> out((size_t)n * K);
  const double log2pi = std::log(2 * M_PI);
  for (int k = 0; k < K; ++k) {
    std::vector<double> L((size_t)D * D, 0.0);
    double logdet = 0;  // log|Σ|
    std::vector<double> var(D, 0.0);
    switch (m.covariance_type) {
      case CovarianceType::spherical:
        for (int j = 0; j < D; ++j) var[j] = m.covariances[k];
        break;
      case CovarianceType::diag:
        for (int j = 0; j < D; ++j) var[j] = m.covariances[(size_t)k * D + j];
        break;
      default: {
        const double* C = m.covariances.data() + (m.covariance_type == CovarianceType::full ? (size_t)k * D * D : 0);
        for (int i = 0; i < D; ++i)
          for (int j = 0; j <= i; ++j) {
            double s = C[(size_t)i * D + j];
            for (int q = 0; q < j; ++q) s -= L[(size_t)i * D + q] * L[(size_t)j * D + q];
            L[(size_t)i * D + j] = i == j ? std::sqrt(s) : s / L[(size_t)j * D + j];
          }
        for (int i = 0; i < D; ++i) logdet += 2 * std::log(L[(size_t)i * D + i]);
      }
    }
    if (m.covariance_type == CovarianceType::spherical || m.covariance_type == CovarianceType::diag)
      for (int j = 0; j < D; ++j) logdet += std::log(var[j]);
    for (std::int64_t i = 0; i < n; ++i) {
      double maha = 0;
      std::vector<double> y(D);
      for (int j = 0; j < D; ++j) y[j] = (double)x[i * D + j] - m.means[(size_t)k * D + j];
      if (m.covariance_type == CovarianceType::spherical || m.covariance_type == CovarianceType::diag) {
        for (int j = 0; j < D; ++j) maha += y[j] * y[j] / var[j];
      } else {
        for (int r = 0; r < D; ++r) {  // forward solve L z = y
          double s = y[r];
          for (int q = 0; q < r; ++q) s -= L[(size_t)r * D + q] * y[q];
          y[r] = s / L[(size_t)r * D + r];
          maha += y[r] * y[r];
        }
      }
      out[(size_t)i * K + k] = std::log(m.weights[k]) - 0.5 * (D * log2pi + logdet + maha);
    }
  }
  return out;
}

struct ReferenceEStep {
  std::vector<double> log_z;  // n
  std::vector<double> resp;   // n×K
};

inline ReferenceEStep reference_estep(const Model& m, const float* x, std::int64_t n) {
  const int K = m.n_components;
  ReferenceEStep r;
  r.resp = reference_log_prob(m, x, n);
  r.log_z.resize(n);
  for (std::int64_t i = 0; i < n; ++i) {
    double mx = -INFINITY;
    for (int k = 0; k < K; ++k) mx = std::max(mx, r.resp[(size_t)i * K + k]);
    double s = 0;
    for (int k = 0; k < K; ++k) s += std::exp(r.resp[(size_t)i * K + k] - mx);
    r.log_z[i] = mx + std::log(s);
    for (int k = 0; k < K; ++k) r.resp[(size_t)i * K + k] = std::exp(r.resp[(size_t)i * K + k] - r.log_z[i]);
  }
  return r;
}

// Statistics as the library defines them (stats.hpp), around `center`, with optional weights.
inline SuffStats reference_stats(const Model& m, const float* x, std::int64_t n, const std::vector<double>& c,
                                 const float* w = nullptr) {
  const int K = m.n_components, D = m.dim;
  const ReferenceEStep e = reference_estep(m, x, n);
  SuffStats s(m.covariance_type, K, D);
  std::vector<double> y(D);
  for (std::int64_t i = 0; i < n; ++i) {
    const double wi = w ? w[i] : 1.0;
    for (int j = 0; j < D; ++j) y[j] = (double)x[i * D + j] - c[j];
    s.log_likelihood += wi * e.log_z[i];
    s.weight_sum += wi;
    s.n_rows += 1;
    if (m.covariance_type == CovarianceType::tied)
      for (int a = 0; a < D; ++a)
        for (int b = 0; b < D; ++b) s.sxx[(size_t)a * D + b] += wi * y[a] * y[b];
    for (int k = 0; k < K; ++k) {
      const double r = wi * e.resp[(size_t)i * K + k];
      s.nk[k] += r;
      for (int j = 0; j < D; ++j) s.sx[(size_t)k * D + j] += r * y[j];
      switch (m.covariance_type) {
        case CovarianceType::spherical:
          for (int j = 0; j < D; ++j) s.sxx[k] += r * y[j] * y[j];
          break;
        case CovarianceType::diag:
          for (int j = 0; j < D; ++j) s.sxx[(size_t)k * D + j] += r * y[j] * y[j];
          break;
        case CovarianceType::full:
          for (int a = 0; a < D; ++a)
            for (int b = 0; b < D; ++b) s.sxx[(size_t)k * D * D + (size_t)a * D + b] += r * y[a] * y[b];
          break;
        case CovarianceType::tied: break;
      }
    }
  }
  return s;
}

// ‖a − b‖ / ‖b‖.
inline double rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
}

// Well-separated blobs: k centres at spread `sep`, unit-ish noise.
struct Blobs {
  std::vector<float> x;
  std::vector<int> labels;
  std::vector<float> centers;
};
inline Blobs make_blobs(std::int64_t n, int k, int d, double sep, std::uint64_t seed, double noise = 1.0,
                        double offset = 0.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  Blobs b;
  b.centers.resize((size_t)k * d);
  for (auto& v : b.centers) v = (float)(nd(rng) * sep + offset);
  b.x.resize((size_t)n * d);
  b.labels.resize(n);
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = (int)(i % k);
    b.labels[i] = c;
    for (int j = 0; j < d; ++j) b.x[(size_t)i * d + j] = (float)(b.centers[(size_t)c * d + j] + noise * nd(rng));
  }
  return b;
}

// A random valid model (positive-definite covariances of every type).
inline Model random_model(CovarianceType t, int k, int d, std::uint64_t seed, double spread = 3.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.5, 1.5);
  Model m;
  m.covariance_type = t;
  m.n_components = k;
  m.dim = d;
  m.weights.resize(k);
  double s = 0;
  for (auto& w : m.weights) s += (w = u(rng));
  for (auto& w : m.weights) w /= s;
  m.means.resize((size_t)k * d);
  for (auto& v : m.means) v = nd(rng) * spread;
  m.covariances.resize(covariance_size(t, k, d));
  if (t == CovarianceType::spherical || t == CovarianceType::diag) {
    for (auto& v : m.covariances) v = u(rng);
  } else {
    const int blocks = t == CovarianceType::full ? k : 1;
    for (int b = 0; b < blocks; ++b) {
      std::vector<double> a((size_t)d * d);
      for (auto& v : a) v = nd(rng) * 0.3;
      double* c = m.covariances.data() + (size_t)b * d * d;
      for (int i = 0; i < d; ++i)
        for (int j = 0; j < d; ++j) {
          double v = i == j ? u(rng) : 0.0;
          for (int q = 0; q < d; ++q) v += a[(size_t)i * d + q] * a[(size_t)j * d + q];
          c[(size_t)i * d + j] = v;
        }
      for (int i = 0; i < d; ++i)
        for (int j = 0; j < i; ++j) c[(size_t)i * d + j] = c[(size_t)j * d + i];
    }
  }
  m.update_precisions_cholesky();
  return m;
}

// Adjusted Rand index of two labelings.
inline double adjusted_rand_index(const std::vector<int>& a, const std::vector<int>& b) {
  int ka = 0, kb = 0;
  for (int v : a) ka = std::max(ka, v + 1);
  for (int v : b) kb = std::max(kb, v + 1);
  std::vector<double> table((size_t)ka * kb, 0), ra(ka, 0), rb(kb, 0);
  for (size_t i = 0; i < a.size(); ++i) {
    table[(size_t)a[i] * kb + b[i]] += 1;
    ra[a[i]] += 1;
    rb[b[i]] += 1;
  }
  auto c2 = [](double v) { return v * (v - 1) / 2; };
  double sum = 0, sa = 0, sb = 0;
  for (double v : table) sum += c2(v);
  for (double v : ra) sa += c2(v);
  for (double v : rb) sb += c2(v);
  const double expected = sa * sb / c2((double)a.size());
  const double maxv = 0.5 * (sa + sb);
  return (sum - expected) / (maxv - expected);
}

}  // namespace flashgmm::testing

namespace flashgmm::testing {

// scikit-learn's M-step from explicit responsibilities, in the data's own coordinates.
inline void reference_m_step(Model& m, const float* x, std::int64_t n, const std::vector<double>& resp,
                             double reg) {
  const int K = m.n_components, D = m.dim;
  const double eps10 = 10 * std::numeric_limits<double>::epsilon();
  std::vector<double> nk(K, eps10);
  for (std::int64_t i = 0; i < n; ++i)
    for (int k = 0; k < K; ++k) nk[k] += resp[(size_t)i * K + k];
  double ns = 0;
  for (double v : nk) ns += v;
  for (int k = 0; k < K; ++k) m.weights[k] = nk[k] / ns;
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < D; ++j) {
      double s = 0;
      for (std::int64_t i = 0; i < n; ++i) s += resp[(size_t)i * K + k] * x[i * D + j];
      m.means[(size_t)k * D + j] = s / nk[k];
    }
  std::vector<double> full((size_t)K * D * D, 0.0);
  for (int k = 0; k < K; ++k)
    for (std::int64_t i = 0; i < n; ++i) {
      const double r = resp[(size_t)i * K + k];
      for (int a = 0; a < D; ++a)
        for (int b = 0; b < D; ++b)
          full[(size_t)k * D * D + (size_t)a * D + b] +=
              r * (x[i * D + a] - m.means[(size_t)k * D + a]) * (x[i * D + b] - m.means[(size_t)k * D + b]);
    }
  switch (m.covariance_type) {
    case CovarianceType::full:
      for (int k = 0; k < K; ++k)
        for (int a = 0; a < D; ++a)
          for (int b = 0; b < D; ++b)
            m.covariances[(size_t)k * D * D + (size_t)a * D + b] =
                full[(size_t)k * D * D + (size_t)a * D + b] / nk[k] + (a == b ? reg : 0.0);
      break;
    case CovarianceType::tied:
      for (int a = 0; a < D; ++a)
        for (int b = 0; b < D; ++b) {
          double s = 0;
          for (int k = 0; k < K; ++k) s += full[(size_t)k * D * D + (size_t)a * D + b];
          m.covariances[(size_t)a * D + b] = s / ns + (a == b ? reg : 0.0);
        }
      break;
    case CovarianceType::diag:
      for (int k = 0; k < K; ++k)
        for (int a = 0; a < D; ++a)
          m.covariances[(size_t)k * D + a] = full[(size_t)k * D * D + (size_t)a * D + a] / nk[k] + reg;
      break;
    case CovarianceType::spherical:
      for (int k = 0; k < K; ++k) {
        double s = 0;
        for (int a = 0; a < D; ++a) s += full[(size_t)k * D * D + (size_t)a * D + a] / nk[k] + reg;
        m.covariances[k] = s / D;
      }
      break;
  }
  m.update_precisions_cholesky();
}

struct ReferenceFit {
  Model model;
  double lower_bound = 0;
  int n_iter = 0;
  bool converged = false;
};

// scikit-learn's loop: E-step (lower bound of current parameters), M-step, stop when the
// lower bound changes by less than tol.
inline ReferenceFit reference_fit(Model m, const float* x, std::int64_t n, int max_iter, double tol, double reg) {
  ReferenceFit f;
  double lb = -INFINITY;
  for (int it = 1; it <= max_iter; ++it) {
    const ReferenceEStep e = reference_estep(m, x, n);
    double s = 0;
    for (double v : e.log_z) s += v;
    reference_m_step(m, x, n, e.resp, reg);
    const double change = s / n - lb;
    lb = s / n;
    f.n_iter = it;
    if (std::fabs(change) < tol) {
      f.converged = true;
      break;
    }
  }
  f.model = m;
  f.lower_bound = lb;
  return f;
}

}  // namespace flashgmm::testing
