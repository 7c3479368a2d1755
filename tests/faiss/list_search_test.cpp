// The neighbors rule's grouped-list search (faiss_plugin/src/list_search.hpp, internal): equal to
// brute force over the rows of the probed lists, −1 padding when too few rows were scanned.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

// Internal header of the plugin (not installed): the tests reach it by path.
#include "../../faiss_plugin/src/list_search.hpp"

using flashgmm::ivf::group_rows;
using flashgmm::ivf::search_grouped;

namespace {

struct Case {
  std::int64_t n, d, nlist, nq;
  int nprobe, stride, k;
};

class ListSearch : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(ListSearch, EqualsBruteForceOverProbedLists) {
  const Case c = GetParam();
  std::mt19937 rng(17);
  std::normal_distribution<float> g;
  std::uniform_int_distribution<std::int64_t> pick(0, c.nlist - 1);
  std::vector<float> x(c.n * c.d), q(c.nq * c.d);
  for (float& v : x) v = g(rng);
  for (float& v : q) v = g(rng);
  std::vector<std::int64_t> list(c.n);
  for (auto& l : list) l = pick(rng) % std::max<std::int64_t>(1, c.nlist - 1);  // the last list stays empty
  std::vector<std::int32_t> probes(c.nq * c.stride, -1);
  for (std::int64_t i = 0; i < c.nq; ++i) {
    std::vector<std::int32_t> perm(c.nlist);
    for (std::int64_t l = 0; l < c.nlist; ++l) perm[l] = static_cast<std::int32_t>(l);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int j = 0; j < c.nprobe; ++j) probes[i * c.stride + j] = (j == 1 && i % 5 == 0) ? -1 : perm[j];
  }
  const auto rows = group_rows(x.data(), c.n, c.d, c.nlist, list.data());
  std::vector<std::int64_t> lab(c.nq * c.k);
  std::vector<float> dis(lab.size());
  search_grouped(rows, c.nq, q.data(), probes.data(), c.stride, c.nprobe, c.k, lab.data(), dis.data());
  for (std::int64_t i = 0; i < c.nq; ++i) {
    std::vector<std::pair<double, std::int64_t>> ref;
    for (std::int64_t r = 0; r < c.n; ++r) {
      const std::int32_t* pi = probes.data() + i * c.stride;
      if (std::find(pi, pi + c.nprobe, static_cast<std::int32_t>(list[r])) == pi + c.nprobe) continue;
      double s = 0;
      for (std::int64_t t = 0; t < c.d; ++t) s += (q[i * c.d + t] - x[r * c.d + t]) * double(q[i * c.d + t] - x[r * c.d + t]);
      ref.push_back({s, r});
    }
    std::sort(ref.begin(), ref.end());
    for (int j = 0; j < c.k; ++j) {
      if (j < static_cast<int>(ref.size())) {
        EXPECT_EQ(lab[i * c.k + j], ref[j].second) << "query " << i << " rank " << j;
        EXPECT_NEAR(dis[i * c.k + j], ref[j].first, 1e-3 * (1 + ref[j].first));
      } else {
        EXPECT_EQ(lab[i * c.k + j], -1) << "query " << i << " rank " << j << ": only " << ref.size() << " rows scanned";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ListSearch,
                         ::testing::Values(Case{3000, 13, 20, 300, 5, 7, 10},     // D not a multiple of 4
                                           Case{2500, 32, 3, 700, 2, 3, 25},      // > 256 queries share a first list
                                           Case{400, 8, 50, 60, 2, 4, 30},        // fewer rows scanned than k
                                           Case{5000, 50, 8, 200, 8, 8, 51}),     // every list, long lists (> 1,024 rows)
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return "n" + std::to_string(i.param.n) + "_d" + std::to_string(i.param.d) + "_k" +
                                  std::to_string(i.param.k);
                         });
