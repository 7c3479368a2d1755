// Component table and byte counts shared by `flashgmm fit` and `flashgmm info`.
#include "model_summary.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

namespace flashgmm::cli {

namespace {
double mean_variance(const Model& m, int k) {
  double var = 0;
  switch (m.covariance_type) {
    case CovarianceType::spherical: return m.covariances[k];
    case CovarianceType::diag:
      for (int j = 0; j < m.dim; ++j) var += m.covariances[(size_t)k * m.dim + j] / m.dim;
      return var;
    case CovarianceType::full:
    case CovarianceType::tied: {
      const size_t off = m.covariance_type == CovarianceType::full ? (size_t)k * m.dim * m.dim : 0;
      for (int j = 0; j < m.dim; ++j) var += m.covariances[off + (size_t)j * m.dim + j] / m.dim;
      return var;
    }
  }
  return var;
}
}  // namespace

void print_component_table(const Model& m, int max_rows) {
  std::vector<int> order(m.n_components);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return m.weights[a] > m.weights[b]; });
  const int show = std::min(max_rows, m.n_components);
  std::printf("%6s %10s %14s   %s\n", "comp", "weight", "mean variance", "mean (first 4 dims)");
  for (int r = 0; r < show; ++r) {
    const int k = order[r];
    std::printf("%6d %10.5f %14.5g   ", k, m.weights[k], mean_variance(m, k));
    for (int j = 0; j < std::min(4, m.dim); ++j) std::printf("%s%.4g", j ? ", " : "", m.means[(size_t)k * m.dim + j]);
    std::printf("%s\n", m.dim > 4 ? ", ..." : "");
  }
  if (m.n_components > show) std::printf("%6s (%d more components)\n", "...", m.n_components - show);
}

std::string human_bytes(double bytes) {
  static const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (bytes >= 1000 && u < 5) {
    bytes /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

}  // namespace flashgmm::cli
