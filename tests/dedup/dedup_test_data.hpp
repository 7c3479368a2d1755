// Test data for the dedup suites: random rows with known injected near duplicates, and a
// brute-force reference (explicitly small: O(N²) pairs).
#pragma once

#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "flashgmm_dedup/dedup.hpp"

namespace dedup_test {

using flashgmm::dedup::Metric;

struct Planted {
  std::int64_t n = 0;
  int d = 0;
  std::vector<float> x;
  std::vector<std::int64_t> expected_rep;  // per row: smallest row of its planted group
};

/// `groups` groups of 2..max_size near-identical rows (noise `noise` relative to the norm) among
/// `singles` rows from loose clusters, shuffled. In d ≥ 32 dims other rows are far apart (cosine
/// ≈ 0.2 ± 0.15), so the planted groups are the only duplicates (tests check this by brute force).
inline Planted planted(std::int64_t singles, std::int64_t groups, int max_size, int d, float noise,
                       std::uint64_t seed, int clusters = 8) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.f, 1.f);
  std::vector<std::vector<float>> rows;
  std::vector<std::int64_t> group_of;
  std::vector<float> centers(static_cast<std::size_t>(clusters) * d);
  for (float& v : centers) v = 0.5f * g(rng);  // loose clusters: within-cluster cosine ≈ 0.2
  auto fresh = [&]() {
    std::vector<float> r(d);
    const int c = static_cast<int>(rng() % clusters);
    for (int j = 0; j < d; ++j) r[j] = centers[static_cast<std::size_t>(c) * d + j] + g(rng);
    return r;
  };
  for (std::int64_t i = 0; i < singles; ++i) {
    rows.push_back(fresh());
    group_of.push_back(-1);
  }
  for (std::int64_t gi = 0; gi < groups; ++gi) {
    const std::vector<float> base = fresh();
    double norm = 0;
    for (float v : base) norm += v * v;
    norm = std::sqrt(norm);
    const int size = 2 + static_cast<int>(rng() % (max_size - 1));
    for (int s = 0; s < size; ++s) {
      std::vector<float> r = base;
      for (float& v : r) v += noise * static_cast<float>(norm) * g(rng) / std::sqrt(static_cast<float>(d));
      rows.push_back(r);
      group_of.push_back(gi);
    }
  }
  std::vector<std::int64_t> perm(rows.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  Planted p;
  p.n = static_cast<std::int64_t>(rows.size());
  p.d = d;
  p.x.resize(static_cast<std::size_t>(p.n) * d);
  std::vector<std::int64_t> first_of_group(groups, -1);
  p.expected_rep.resize(p.n);
  for (std::int64_t i = 0; i < p.n; ++i) {
    const std::int64_t src = perm[i];
    std::copy(rows[src].begin(), rows[src].end(), p.x.begin() + i * d);
    const std::int64_t gi = group_of[src];
    if (gi < 0) {
      p.expected_rep[i] = i;
    } else {
      if (first_of_group[gi] < 0) first_of_group[gi] = i;
      p.expected_rep[i] = first_of_group[gi];
    }
  }
  return p;
}

/// Clustered rows where similar pairs occur naturally (no planted structure).
inline std::vector<float> clustered(std::int64_t n, int d, int clusters, float spread, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.f, 1.f);
  std::vector<float> centers(static_cast<std::size_t>(clusters) * d);
  for (float& v : centers) v = g(rng);
  std::vector<float> x(static_cast<std::size_t>(n) * d);
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng() % clusters);
    for (int j = 0; j < d; ++j) x[i * d + j] = centers[static_cast<std::size_t>(c) * d + j] + spread * g(rng);
  }
  return x;
}

/// Reference: all similar pairs (i < j) in float64, and the groups they form.
inline bool similar(const float* a, const float* b, int d, Metric metric, double threshold) {
  double ab = 0, aa = 0, bb = 0, dd = 0;
  for (int j = 0; j < d; ++j) {
    ab += double(a[j]) * b[j];
    aa += double(a[j]) * a[j];
    bb += double(b[j]) * b[j];
    dd += (double(a[j]) - b[j]) * (double(a[j]) - b[j]);
  }
  return metric == Metric::cosine ? ab / std::sqrt(aa * bb) >= threshold : std::sqrt(dd) <= threshold;
}

/// Signed margin of a pair to the threshold in float64: > 0 inside (duplicates), < 0 outside.
inline double margin(const float* a, const float* b, int d, Metric metric, double threshold) {
  double ab = 0, aa = 0, bb = 0, dd = 0;
  for (int j = 0; j < d; ++j) {
    ab += double(a[j]) * b[j];
    aa += double(a[j]) * a[j];
    bb += double(b[j]) * b[j];
    dd += (double(a[j]) - b[j]) * (double(a[j]) - b[j]);
  }
  return metric == Metric::cosine ? ab / std::sqrt(aa * bb) - threshold : threshold - std::sqrt(dd);
}

/// Pairs (i < j) clearly inside the threshold (margin > band), and those within ±band of it
/// (float32 arithmetic may decide those either way).
struct RefPairs {
  std::vector<std::pair<std::int64_t, std::int64_t>> sure, borderline;
};
inline RefPairs reference_pairs(const std::vector<float>& x, std::int64_t n, int d, Metric metric, double threshold,
                                double band = 1e-5) {
  RefPairs r;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = i + 1; j < n; ++j) {
      const double m = margin(&x[i * d], &x[j * d], d, metric, threshold);
      if (m > band) r.sure.emplace_back(i, j);
      else if (m >= -band) r.borderline.emplace_back(i, j);
    }
  return r;
}

inline std::vector<std::pair<std::int64_t, std::int64_t>> brute_pairs(const std::vector<float>& x, std::int64_t n,
                                                                      int d, Metric metric, double threshold) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = i + 1; j < n; ++j)
      if (similar(&x[i * d], &x[j * d], d, metric, threshold)) out.emplace_back(i, j);
  return out;
}

inline std::vector<std::int64_t> groups_of(const std::vector<std::pair<std::int64_t, std::int64_t>>& pairs,
                                           std::int64_t n) {
  std::vector<std::int64_t> parent(n);
  std::iota(parent.begin(), parent.end(), 0);
  auto find = [&](std::int64_t a) {
    while (parent[a] != a) a = parent[a];
    return a;
  };
  for (const auto& e : pairs) {
    const std::int64_t a = find(e.first), b = find(e.second);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
  std::vector<std::int64_t> rep(n);
  for (std::int64_t i = 0; i < n; ++i) rep[i] = find(i);
  return rep;
}

}  // namespace dedup_test
