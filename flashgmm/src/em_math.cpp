#include "em_math.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "flashgmm/error.hpp"
#include "linalg.hpp"

namespace flashgmm::em {

namespace {
constexpr double kLog2Pi = 1.8378770664093453;  // log(2π)
}

std::vector<double> mixture_mean(const Model& m) {
  std::vector<double> c(m.dim, 0.0);
  for (int k = 0; k < m.n_components; ++k)
    for (int j = 0; j < m.dim; ++j) c[j] += m.weights[k] * m.means[(size_t)k * m.dim + j];
  return c;
}

std::vector<double> robust_center(const Model& m) {
  const int K = m.n_components, D = m.dim;
  std::vector<double> c(D);
  std::vector<std::pair<double, double>> col(K);  // (mean value, weight)
  for (int j = 0; j < D; ++j) {
    for (int k = 0; k < K; ++k) col[k] = {m.means[(size_t)k * D + j], m.weights[k]};
    std::sort(col.begin(), col.end());
    double acc = 0, half = 0;
    for (const auto& e : col) half += e.second;
    half *= 0.5;
    c[j] = col.back().first;
    for (const auto& e : col)
      if ((acc += e.second) >= half) {
        c[j] = e.first;
        break;
      }
  }
  return c;
}

ComponentParams make_component_params(const Model& m, const std::vector<double>& center) {
  const int K = m.n_components, D = m.dim;
  ComponentParams p;
  p.covariance_type = m.covariance_type;
  p.n_components = K;
  p.dim = D;
  p.center = center;
  p.means.resize((size_t)K * D);
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < D; ++j) p.means[(size_t)k * D + j] = m.means[(size_t)k * D + j] - center[j];
  p.log_norm.resize(K);
  const std::vector<double>& pc = m.precisions_cholesky;
  switch (m.covariance_type) {
    case CovarianceType::spherical:
      p.prec.resize(K);
      for (int k = 0; k < K; ++k) {
        p.prec[k] = pc[k] * pc[k];
        p.log_norm[k] = D * std::log(pc[k]);
      }
      break;
    case CovarianceType::diag:
      p.prec.resize((size_t)K * D);
      for (int k = 0; k < K; ++k) {
        double ld = 0;
        for (int j = 0; j < D; ++j) {
          const double v = pc[(size_t)k * D + j];
          p.prec[(size_t)k * D + j] = v * v;
          ld += std::log(v);
        }
        p.log_norm[k] = ld;
      }
      break;
    case CovarianceType::full:
      p.prec = pc;
      for (int k = 0; k < K; ++k)
        p.log_norm[k] = linalg::log_abs_det_triangular(pc.data() + (size_t)k * D * D, D);
      break;
    case CovarianceType::tied: {
      p.prec = pc;
      const double ld = linalg::log_abs_det_triangular(pc.data(), D);
      for (int k = 0; k < K; ++k) p.log_norm[k] = ld;
      break;
    }
  }
  for (int k = 0; k < K; ++k) {
    // A zero weight gives −inf: that component never takes responsibility.
    const double lw = m.weights[k] > 0 ? std::log(m.weights[k]) : -std::numeric_limits<double>::infinity();
    p.log_norm[k] += lw - 0.5 * D * kLog2Pi;
  }
  return p;
}

MStepResult m_step(const SuffStats& s, const std::vector<double>& c, double reg, double min_count,
                   Model& m) {
  const int K = s.n_components, D = s.dim;
  const CovarianceType t = s.covariance_type;
  FLASHGMM_ASSERT(K > 0 && D > 0 && (int)c.size() == D);
  m.covariance_type = t;
  m.n_components = K;
  m.dim = D;
  const double eps10 = 10 * std::numeric_limits<double>::epsilon();
  std::vector<double> nk(K);
  double nsum = 0;
  for (int k = 0; k < K; ++k) {
    nk[k] = s.nk[k] + eps10;
    nsum += nk[k];
  }
  MStepResult res;
  const double rows_per_weight = s.weight_sum > 0 ? (double)s.n_rows / s.weight_sum : 1.0;
  m.weights.resize(K);
  for (int k = 0; k < K; ++k) {
    m.weights[k] = nk[k] / nsum;
    if (s.nk[k] * rows_per_weight < min_count) res.collapsed.push_back(k);
  }
  // Centred means first (μ' = Σr x / N_k); the caller's coordinates add the centre back.
  std::vector<double> mu((size_t)K * D);
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < D; ++j) mu[(size_t)k * D + j] = s.sx[(size_t)k * D + j] / nk[k];
  m.means.resize((size_t)K * D);
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < D; ++j) m.means[(size_t)k * D + j] = mu[(size_t)k * D + j] + c[j];

  m.covariances.assign(covariance_size(t, K, D), 0.0);
  switch (t) {
    case CovarianceType::spherical:
      for (int k = 0; k < K; ++k) {
        double mn = 0;
        for (int j = 0; j < D; ++j) mn += mu[(size_t)k * D + j] * mu[(size_t)k * D + j];
        m.covariances[k] = std::max(s.sxx[k] / nk[k] - mn, 0.0) / D + reg;
      }
      break;
    case CovarianceType::diag:
      for (int k = 0; k < K; ++k)
        for (int j = 0; j < D; ++j) {
          const size_t i = (size_t)k * D + j;
          m.covariances[i] = std::max(s.sxx[i] / nk[k] - mu[i] * mu[i], 0.0) + reg;
        }
      break;
    case CovarianceType::full:
      for (int k = 0; k < K; ++k) {
        const double* sk = s.sxx.data() + (size_t)k * D * D;
        double* ck = m.covariances.data() + (size_t)k * D * D;
        const double* mk = mu.data() + (size_t)k * D;
        for (int i = 0; i < D; ++i)
          for (int j = 0; j <= i; ++j) {
            // The statistics are symmetric up to rounding: average the two triangles.
            double v = 0.5 * (sk[(size_t)i * D + j] + sk[(size_t)j * D + i]) / nk[k] - mk[i] * mk[j];
            if (i == j) v = std::max(v, 0.0) + reg;
            ck[(size_t)i * D + j] = v;
            ck[(size_t)j * D + i] = v;
          }
      }
      break;
    case CovarianceType::tied: {
      double* cv = m.covariances.data();
      for (int i = 0; i < D; ++i)
        for (int j = 0; j <= i; ++j) {
          double v = 0.5 * (s.sxx[(size_t)i * D + j] + s.sxx[(size_t)j * D + i]);
          for (int k = 0; k < K; ++k) v -= nk[k] * mu[(size_t)k * D + i] * mu[(size_t)k * D + j];
          v /= nsum;
          if (i == j) v = std::max(v, 0.0) + reg;
          cv[(size_t)i * D + j] = v;
          cv[(size_t)j * D + i] = v;
        }
      break;
    }
  }
  // Precision factors; a matrix that is not positive definite marks its component collapsed
  // (the driver re-seeds it) and gets a finite placeholder meanwhile.
  m.precisions_cholesky.resize(m.covariances.size());
  if (t == CovarianceType::full || t == CovarianceType::tied) {
    const size_t dd = (size_t)D * D;
    const int blocks = t == CovarianceType::full ? K : 1;
    for (int b = 0; b < blocks; ++b) {
      double* cb = m.covariances.data() + b * dd;
      bool ok = linalg::precision_cholesky_from_covariance(cb, D, m.precisions_cholesky.data() + b * dd);
      // Float32 statistics cannot resolve variances far below the second moments they come
      // from: lift the diagonal by growing multiples of its scale before giving up.
      double scale = 0;
      for (int i = 0; i < D; ++i) scale = std::max(scale, std::fabs(cb[(size_t)i * D + i]));
      for (int attempt = 0; !ok && scale > 0 && attempt < 8; ++attempt) {
        const double lift = scale * 1e-6 * std::pow(10.0, attempt);
        for (int i = 0; i < D; ++i) cb[(size_t)i * D + i] += lift;
        ok = linalg::precision_cholesky_from_covariance(cb, D, m.precisions_cholesky.data() + b * dd);
      }
      if (!ok) {
        FLASHGMM_CHECK(t == CovarianceType::full,
                       kIllDefinedCovariance << " (The tied covariance matrix is not positive definite "
                                             "with reg_covar = " << reg << ".)");
        bool listed = false;
        for (int k : res.collapsed) listed |= (k == b);
        if (!listed) res.collapsed.push_back(b);
        double* ck = m.covariances.data() + b * dd;
        double* pk = m.precisions_cholesky.data() + b * dd;
        for (size_t i = 0; i < dd; ++i) ck[i] = pk[i] = 0;
        for (int i = 0; i < D; ++i) {
          ck[(size_t)i * D + i] = 1.0;
          pk[(size_t)i * D + i] = 1.0;
        }
      }
    }
  } else {
    for (size_t i = 0; i < m.covariances.size(); ++i) {
      if (!(m.covariances[i] > 0)) {
        const int k = t == CovarianceType::diag ? (int)(i / D) : (int)i;
        bool listed = false;
        for (int q : res.collapsed) listed |= (q == k);
        if (!listed) res.collapsed.push_back(k);
        m.covariances[i] = 1.0;
      }
      m.precisions_cholesky[i] = 1.0 / std::sqrt(m.covariances[i]);
    }
  }
  return res;
}

namespace {
void add_row(const double* xc, int d, double r, int k, SuffStats& s) {
  s.nk[k] += r;
  double* sx = s.sx.data() + (size_t)k * d;
  for (int j = 0; j < d; ++j) sx[j] += r * xc[j];
  switch (s.covariance_type) {
    case CovarianceType::spherical: {
      double n2 = 0;
      for (int j = 0; j < d; ++j) n2 += xc[j] * xc[j];
      s.sxx[k] += r * n2;
      break;
    }
    case CovarianceType::diag: {
      double* q = s.sxx.data() + (size_t)k * d;
      for (int j = 0; j < d; ++j) q[j] += r * xc[j] * xc[j];
      break;
    }
    case CovarianceType::full: {
      double* q = s.sxx.data() + (size_t)k * d * d;
      for (int i = 0; i < d; ++i)
        for (int j = 0; j < d; ++j) q[(size_t)i * d + j] += r * xc[i] * xc[j];
      break;
    }
    case CovarianceType::tied: break;  // added once per row by the caller
  }
}
void add_tied(const double* xc, int d, SuffStats& s) {
  if (s.covariance_type != CovarianceType::tied) return;
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) s.sxx[(size_t)i * d + j] += xc[i] * xc[j];
}
}  // namespace

void accumulate_hard(const float* x, std::int64_t n, int d, const std::int32_t* labels,
                     const std::vector<double>& c, SuffStats& s) {
  std::vector<double> xc(d);
  for (std::int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) xc[j] = (double)x[i * d + j] - c[j];
    add_row(xc.data(), d, 1.0, labels[i], s);
    add_tied(xc.data(), d, s);
    s.weight_sum += 1.0;
    s.n_rows += 1;
  }
}

void accumulate_soft(const float* x, std::int64_t n, int d, const double* resp,
                     const std::vector<double>& c, SuffStats& s) {
  const int K = s.n_components;
  std::vector<double> xc(d);
  for (std::int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < d; ++j) xc[j] = (double)x[i * d + j] - c[j];
    for (int k = 0; k < K; ++k) add_row(xc.data(), d, resp[i * K + k], k, s);
    add_tied(xc.data(), d, s);
    s.weight_sum += 1.0;
    s.n_rows += 1;
  }
}

}  // namespace flashgmm::em
