#include "linalg.hpp"

#include <cmath>

namespace flashgmm::linalg {

bool cholesky_lower(double* a, int d) {
  for (int j = 0; j < d; ++j) {
    double s = a[(size_t)j * d + j];
    for (int k = 0; k < j; ++k) s -= a[(size_t)j * d + k] * a[(size_t)j * d + k];
    if (!(s > 0) || !std::isfinite(s)) return false;
    const double ljj = std::sqrt(s);
    a[(size_t)j * d + j] = ljj;
    for (int i = j + 1; i < d; ++i) {
      double t = a[(size_t)i * d + j];
      for (int k = 0; k < j; ++k) t -= a[(size_t)i * d + k] * a[(size_t)j * d + k];
      a[(size_t)i * d + j] = t / ljj;
    }
    for (int k = j + 1; k < d; ++k) a[(size_t)j * d + k] = 0.0;
  }
  return true;
}

void invert_lower(double* l, int d) {
  // Column by column forward substitution, in place (row i of the inverse needs rows < i).
  std::vector<double> inv((size_t)d * d, 0.0);
  for (int j = 0; j < d; ++j) {
    inv[(size_t)j * d + j] = 1.0 / l[(size_t)j * d + j];
    for (int i = j + 1; i < d; ++i) {
      double s = 0;
      for (int k = j; k < i; ++k) s += l[(size_t)i * d + k] * inv[(size_t)k * d + j];
      inv[(size_t)i * d + j] = -s / l[(size_t)i * d + i];
    }
  }
  for (size_t i = 0; i < inv.size(); ++i) l[i] = inv[i];
}

bool precision_cholesky_from_covariance(const double* c, int d, double* p) {
  std::vector<double> l(c, c + (size_t)d * d);
  if (!cholesky_lower(l.data(), d)) return false;
  invert_lower(l.data(), d);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) p[(size_t)i * d + j] = l[(size_t)j * d + i];
  return true;
}

bool inverse_spd(const double* c, int d, double* out) {
  std::vector<double> l(c, c + (size_t)d * d);
  if (!cholesky_lower(l.data(), d)) return false;
  invert_lower(l.data(), d);  // M = L⁻¹, C⁻¹ = Mᵀ M
  for (int i = 0; i < d; ++i)
    for (int j = 0; j <= i; ++j) {
      double s = 0;
      for (int k = i; k < d; ++k) s += l[(size_t)k * d + i] * l[(size_t)k * d + j];
      out[(size_t)i * d + j] = s;
      out[(size_t)j * d + i] = s;
    }
  return true;
}

double log_abs_det_triangular(const double* p, int d) {
  double s = 0;
  for (int i = 0; i < d; ++i) s += std::log(std::fabs(p[(size_t)i * d + i]));
  return s;
}

}  // namespace flashgmm::linalg
