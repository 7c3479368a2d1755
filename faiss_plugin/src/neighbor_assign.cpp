// The neighbors multi-assignment rule (SpillRule::neighbors): the rows of a batch are their own
// pseudo-queries, and each row takes the one or two lists that the rows needing it probe early,
// charged for the scan cost of those lists.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <omp.h>

#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissException.h>

#include "flashgmm/error.hpp"
#include "flashgmm_faiss/multi_assign.hpp"
#include "list_search.hpp"

namespace flashgmm::ivf {

using idx_t = faiss::Index::idx_t;

namespace {

// A set of lists a row may take: candidate slots a (and b, c, or −1).
struct Option {
  int a, b, c;
};

// Triples are drawn from the nearest kTripleSlots candidates only (≤ 56 of them): a third list
// pays only for rows on a corner between nearby lists, and the benefits grow with the options.
constexpr int kTripleSlots = 8;

// The automatic central probe depth: ¾ of the depth at which probing lists in L2 order reaches
// the nearest list of 90 % of the 10 nearest rows of up to 1,000 sample rows (evenly strided),
// i.e. about where an index of these lists works at recall@10 ≈ 0.9 (GloVe, 1,024 lists: ≈ 16).
int calibrate_probe_depth(const faiss::IndexFlat& q, const GroupedRows& rows, const float* x, std::int64_t n,
                          const std::vector<idx_t>& primary) {
  const idx_t K = q.ntotal, d = q.d;
  const std::int64_t ns = std::min<std::int64_t>(n, 1000), step = n / ns;
  constexpr int kNb = 10;
  std::vector<float> xs(static_cast<size_t>(ns * d));
  for (std::int64_t i = 0; i < ns; ++i) std::copy(x + i * step * d, x + (i * step + 1) * d, xs.begin() + i * d);
  std::vector<float> cd(static_cast<size_t>(ns * K)), nd(static_cast<size_t>(ns * (kNb + 1)));
  std::vector<idx_t> order(cd.size()), nb(nd.size());
  q.faiss::IndexFlat::search(ns, xs.data(), K, cd.data(), order.data());  // full probe order
  std::vector<std::int32_t> probes(order.begin(), order.end());
  // every list: exact neighbours
  search_grouped(rows, ns, xs.data(), probes.data(), static_cast<int>(K), static_cast<int>(K), kNb + 1, nb.data(), nd.data());
  std::vector<idx_t> hist(static_cast<size_t>(K) + 1, 0);
  std::vector<idx_t> rank_of(static_cast<size_t>(K));
  idx_t pairs = 0;
  for (std::int64_t i = 0; i < ns; ++i) {
    for (idx_t r = 0; r < K; ++r) rank_of[static_cast<size_t>(order[static_cast<size_t>(i * K + r)])] = r;
    int used = 0;
    for (int j = 0; j < kNb + 1 && used < kNb; ++j) {
      const idx_t xn = nb[static_cast<size_t>(i * (kNb + 1) + j)];
      if (xn < 0 || xn == i * step) continue;
      ++hist[static_cast<size_t>(rank_of[static_cast<size_t>(primary[static_cast<size_t>(xn)])])];
      ++pairs;
      ++used;
    }
  }
  idx_t acc = 0, d90 = K;
  for (idx_t r = 0; r < K; ++r) {
    acc += hist[static_cast<size_t>(r)];
    if (acc >= 0.9 * static_cast<double>(pairs)) {
      d90 = r + 1;
      break;
    }
  }
  return static_cast<int>(std::clamp<idx_t>(std::lround(0.75 * static_cast<double>(d90)), 2, K));
}

}  // namespace

void assign_lists_neighbors(const faiss::Index& quantizer, const float* x, std::int64_t n,
                            const MultiAssignParams& p, idx_t* lists) {
  p.validate();
  FLASHGMM_CHECK(p.rule == SpillRule::neighbors, "assign_lists_neighbors: MultiAssignParams::rule must be neighbors");
  FLASHGMM_CHECK(n >= 0 && (n == 0 || (x != nullptr && lists != nullptr)), "assign_lists_neighbors: null buffers");
  const auto* flat = dynamic_cast<const faiss::IndexFlat*>(&quantizer);
  FLASHGMM_CHECK(flat != nullptr && flat->metric_type == faiss::METRIC_L2,
                 "assign_lists_neighbors: needs a flat L2 quantizer (faiss::IndexFlatL2 or GmmQuantizer)");
  const idx_t K = quantizer.ntotal;
  const int m = p.max_copies;
  if (n == 0) return;
  if (n < min_neighbor_batch(K) || K < 2) {  // too few rows to stand for the queries: soar
    // with at most two lists (soar's own default), written with this call's stride m
    MultiAssignParams q = p;
    q.rule = SpillRule::soar;
    q.max_copies = std::min(m, 2);
    q.candidates = std::max(q.candidates, q.max_copies);
    if (q.max_copies == m) {
      assign_lists_soar(quantizer, x, n, q, lists);
      return;
    }
    std::vector<idx_t> two(static_cast<size_t>(n * q.max_copies));
    assign_lists_soar(quantizer, x, n, q, two.data());
    for (std::int64_t i = 0; i < n; ++i)
      for (int j = 0; j < m; ++j) lists[i * m + j] = j < q.max_copies ? two[static_cast<size_t>(i * q.max_copies + j)] : -1;
    return;
  }
  const idx_t d = quantizer.d;
  // Every row in its nearest list (a copy of the batch grouped by list): the neighbour search of
  // pass 2, and (with every list probed) exact neighbours for the depth calibration.
  std::vector<idx_t> primary(static_cast<size_t>(n));
  const int P0 = static_cast<int>(std::min<idx_t>(K, p.probe_depth > 0 ? p.probe_depth : 0));
  try {
    flat->faiss::IndexFlat::assign(n, x, primary.data());
  } catch (const faiss::FaissException& e) {
    FLASHGMM_THROW("neighbors rule: assigning the rows to their nearest lists failed: " << e.what());
  }
  const GroupedRows rows = group_rows(x, n, d, K, primary.data());
  const int depth = P0 > 0 ? P0 : calibrate_probe_depth(*flat, rows, x, n, primary);
  std::vector<int> depths;
  for (double f : {0.5, 0.75, 1.0, 1.5})
    depths.push_back(static_cast<int>(std::clamp<double>(std::lround(f * depth), 1, static_cast<double>(K))));
  const int R = *std::max_element(depths.begin(), depths.end());  // ranks ≥ R earn nothing
  const int L = static_cast<int>(std::min<idx_t>(p.candidates, K));
  const int snp = static_cast<int>(std::min<idx_t>(K, p.search_nprobe > 0 ? p.search_nprobe : 4 * depth));
  const int T = std::max({R, L, snp});
  // Pseudo-queries: every row, or every step-th (pseudo_query_fraction < 1: the neighbour search,
  // which dominates the cost, shrinks by the same factor).
  const std::int64_t step = std::max<std::int64_t>(1, std::llround(1.0 / p.pseudo_query_fraction));
  // w[r]: share of the probe depths at which a list of rank r is probed.
  std::vector<float> w(static_cast<size_t>(R) + 1, 0.0f);
  for (int r = 0; r < R; ++r)
    for (int P : depths) w[static_cast<size_t>(r)] += r < P ? 1.0f / static_cast<float>(depths.size()) : 0.0f;

  // Pass 1: every row's T nearest lists (its probe order and its candidates), and π.
  std::vector<std::int32_t> top(static_cast<size_t>(n * T));
  {
    constexpr std::int64_t kChunk = 16384;
    std::vector<float> dis(static_cast<size_t>(std::min(kChunk, n) * T));
    std::vector<idx_t> lab(dis.size());
    for (std::int64_t c0 = 0; c0 < n; c0 += kChunk) {
      const std::int64_t nc = std::min(kChunk, n - c0);
      flat->faiss::IndexFlat::search(nc, x + c0 * d, T, dis.data(), lab.data());  // plain L2 order
      for (std::int64_t i = 0; i < nc * T; ++i) top[static_cast<size_t>(c0 * T + i)] = static_cast<std::int32_t>(lab[i]);
    }
  }
  std::vector<double> cost(static_cast<size_t>(K), 0.0);  // π_l / (P̄/K)
  double pbar = 0;
  for (int P : depths) pbar += static_cast<double>(P) / depths.size();
  for (std::int64_t i = 0; i < n; ++i)
    for (int r = 0; r < R; ++r) {
      const std::int32_t l = top[static_cast<size_t>(i * T + r)];
      if (l >= 0) cost[static_cast<size_t>(l)] += w[static_cast<size_t>(r)];
    }
  for (double& c : cost) c /= static_cast<double>(n) * (pbar / static_cast<double>(K));

  std::vector<Option> opts;
  for (int a = 0; a < L; ++a) opts.push_back({a, -1, -1});
  if (m >= 2)
    for (int a = 0; a < L; ++a)
      for (int b = a + 1; b < L; ++b) opts.push_back({a, b, -1});
  if (m >= 3)
    for (int a = 0; a < std::min(L, kTripleSlots); ++a)
      for (int b = a + 1; b < std::min(L, kTripleSlots); ++b)
        for (int c = b + 1; c < std::min(L, kTripleSlots); ++c) opts.push_back({a, b, c});
  const size_t no = opts.size();

  // Pass 2: each pseudo-query's neighbours among the batch (the rows in the lists it probes), and
  // for every (pseudo-query y, neighbour x) the benefit of each of x's options: the share of
  // depths at which y reaches one of its lists. Pseudo-queries go in list order (their searches
  // share lists); the sums do not depend on the order but in rounding.
  std::vector<float> benefit(static_cast<size_t>(n) * no, 0.0f);
  {
    const int kk = p.neighbors + 1;  // + the row itself
    std::vector<std::int64_t> ys;   // pseudo-queries in list order
    ys.reserve(static_cast<size_t>((n + step - 1) / step));
    for (std::int64_t r : rows.row)
      if (r % step == 0) ys.push_back(r);
    const std::int64_t nyq = static_cast<std::int64_t>(ys.size());
    constexpr std::int64_t kBlock = 16384;
    std::vector<std::int32_t> keys(static_cast<size_t>(kBlock * snp));
    std::vector<idx_t> nb(static_cast<size_t>(kBlock * kk));
    std::vector<float> nd(nb.size()), yq(static_cast<size_t>(kBlock * d));
    std::vector<idx_t> px(static_cast<size_t>(kBlock * p.neighbors));
    std::vector<std::uint16_t> pr(static_cast<size_t>(kBlock * p.neighbors * L));
    for (std::int64_t q0 = 0; q0 < nyq; q0 += kBlock) {
      const std::int64_t nb_rows = std::min(kBlock, nyq - q0);
      for (std::int64_t i = 0; i < nb_rows; ++i) {
        const std::int64_t y = ys[static_cast<size_t>(q0 + i)];
        std::copy(top.begin() + y * T, top.begin() + y * T + snp, keys.begin() + i * snp);
        std::copy(x + y * d, x + (y + 1) * d, yq.begin() + i * d);
      }
      search_grouped(rows, nb_rows, yq.data(), keys.data(), snp, snp, kk, nb.data(), nd.data());
      // Ranks, in y's probe order, of each neighbour's candidate lists (R = not in the first R).
#pragma omp parallel for schedule(static)
      for (std::int64_t i = 0; i < nb_rows; ++i) {
        const std::int64_t y = ys[static_cast<size_t>(q0 + i)];
        const std::int32_t* ty = top.data() + y * T;
        int used = 0;
        for (int j = 0; j < kk; ++j) {
          const idx_t xn = nb[static_cast<size_t>(i * kk + j)];
          const size_t slot = static_cast<size_t>(i * p.neighbors + used);
          if (used == p.neighbors) break;
          if (xn < 0 || xn == y) continue;
          px[slot] = xn;
          const std::int32_t* tx = top.data() + xn * T;
          for (int c = 0; c < L; ++c) {
            int r = R;
            for (int t = 0; t < R; ++t)
              if (ty[t] == tx[c]) {
                r = t;
                break;
              }
            pr[slot * L + c] = static_cast<std::uint16_t>(std::min(r, 65535));
          }
          ++used;
        }
        for (; used < p.neighbors; ++used) px[static_cast<size_t>(i * p.neighbors + used)] = -1;
      }
      // Accumulate: each thread owns the rows x with x mod threads = its number (no races).
      const std::int64_t npairs = nb_rows * p.neighbors;
#pragma omp parallel
      {
        const int nt = omp_get_num_threads(), me = omp_get_thread_num();
        for (std::int64_t s = 0; s < npairs; ++s) {
          const idx_t xn = px[static_cast<size_t>(s)];
          if (xn < 0 || xn % nt != me) continue;
          const std::uint16_t* r = pr.data() + s * L;
          float* bx = benefit.data() + xn * static_cast<std::int64_t>(no);
          for (size_t o = 0; o < no; ++o) {
            const int ra = std::min<int>(r[opts[o].a], R);
            const int rb = opts[o].b < 0 ? R : std::min<int>(r[opts[o].b], R);
            const int rc = opts[o].c < 0 ? R : std::min<int>(r[opts[o].c], R);
            bx[o] += w[static_cast<size_t>(std::min({ra, rb, rc}))];
          }
        }
      }
    }
  }

  // Choice per row: benefit per neighbour minus the weighted scan cost of the lists taken.
  // Per pseudo-query neighbour; with every step-th row a pseudo-query, each counts step times.
  const double inv_k = static_cast<double>(step) / p.neighbors;
  std::vector<std::uint16_t> choice(static_cast<size_t>(n));
  auto choose = [&](double mu) {  // each row's best option at cost weight mu; returns the entries
    std::int64_t entries = 0;
#pragma omp parallel for schedule(static) reduction(+ : entries)
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int32_t* tx = top.data() + i * T;
      const float* bx = benefit.data() + i * static_cast<std::int64_t>(no);
      double best = -std::numeric_limits<double>::infinity();
      size_t bo = 0;
      for (size_t o = 0; o < no; ++o) {
        const std::int32_t la = tx[opts[o].a], lb = opts[o].b < 0 ? -1 : tx[opts[o].b];
        const std::int32_t lc = opts[o].c < 0 ? -1 : tx[opts[o].c];
        if (la < 0 || (opts[o].b >= 0 && lb < 0) || (opts[o].c >= 0 && lc < 0)) continue;
        double c = cost[static_cast<size_t>(la)] + (lb >= 0 ? cost[static_cast<size_t>(lb)] : 0.0) +
                   (lc >= 0 ? cost[static_cast<size_t>(lc)] : 0.0);
        const double v = bx[o] * inv_k - mu * c;
        if (v > best) {
          best = v;
          bo = o;
        }
      }
      choice[static_cast<size_t>(i)] = static_cast<std::uint16_t>(bo);
      entries += 1 + (opts[bo].b >= 0) + (opts[bo].c >= 0);
    }
    return entries;
  };
  // The entry budget: when cost_weight leaves more than max_entries_ratio·n entries, the smallest
  // weight (bisection, to 0.5 %) that fits: the same trade-off, priced higher.
  const double budget = p.max_entries_ratio > 0 ? static_cast<double>(p.max_entries_ratio) * static_cast<double>(n)
                                                : std::numeric_limits<double>::infinity();
  double mu = p.cost_weight;
  if (static_cast<double>(choose(mu)) > budget) {
    double lo = mu, hi = std::max(2.0 * mu, 1e-3);
    while (static_cast<double>(choose(hi)) > budget && hi < 1e6) lo = hi, hi *= 2;
    while (hi - lo > 0.005 * hi) {
      const double mid = 0.5 * (lo + hi);
      (static_cast<double>(choose(mid)) > budget ? lo : hi) = mid;
    }
    mu = hi;
    choose(mu);
  }
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    idx_t* out = lists + i * m;
    std::fill(out, out + m, idx_t(-1));
    const std::int32_t* tx = top.data() + i * T;
    const Option& o = opts[choice[static_cast<size_t>(i)]];
    out[0] = tx[o.a];
    if (o.b >= 0) out[1] = tx[o.b];
    if (o.c >= 0) out[2] = tx[o.c];
  }
}

}  // namespace flashgmm::ivf
