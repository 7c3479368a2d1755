#include "flashgmm_faiss/multi_assign.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include <faiss/IndexFlat.h>

#include "flashgmm/error.hpp"

namespace flashgmm::ivf {

using idx_t = faiss::Index::idx_t;

std::string to_string(SpillRule r) {
  return r == SpillRule::soar ? "soar" : r == SpillRule::neighbors ? "neighbors" : "posterior";
}

SpillRule parse_spill_rule(const std::string& s) {
  if (s == "soar") return SpillRule::soar;
  if (s == "posterior") return SpillRule::posterior;
  if (s == "neighbors") return SpillRule::neighbors;
  FLASHGMM_THROW("unknown spill rule '" << s << "' (expected 'neighbors', 'soar' or 'posterior')");
}

std::int64_t neighbor_batch_rows(const MultiAssignParams& p, std::int64_t n, std::int64_t d,
                                 std::int64_t nlist) {
  if (n <= 0) return 0;
  std::int64_t cap = p.neighbors_batch_rows;
  if (cap == 0) {
    // Per row: its copy in the temporary neighbour index and its ids, its nearest lists and the
    // benefits of its candidate options (≤ 64 candidates), its assignment.
    const std::int64_t per_row = 4 * d + 8 * 64 + 64;
    cap = std::max(min_neighbor_batch(nlist), (std::int64_t(2) << 30) / per_row);
  }
  if (cap >= n) return n;  // also keeps a huge cap (up to INT64_MAX) out of the ceilings below
  const std::int64_t batches = n / cap + (n % cap != 0);
  return n / batches + (n % batches != 0);
}

void MultiAssignParams::validate() const {
  FLASHGMM_CHECK(max_copies >= 1, "MultiAssignParams::max_copies must be >= 1, got " << max_copies);
  FLASHGMM_CHECK(rule == SpillRule::posterior || rule == SpillRule::soar || rule == SpillRule::neighbors,
                 "MultiAssignParams::rule is not a SpillRule (" << static_cast<int>(rule) << ")");
  FLASHGMM_CHECK(min_posterior > 0.0f && min_posterior <= 1.0f,
                 "MultiAssignParams::min_posterior must be in (0, 1], got " << min_posterior);
  FLASHGMM_CHECK(std::isfinite(soar_lambda) && soar_lambda >= 0.0f,
                 "MultiAssignParams::soar_lambda must be finite and >= 0, got " << soar_lambda);
  FLASHGMM_CHECK(rule == SpillRule::posterior || candidates >= max_copies,
                 "MultiAssignParams::candidates must be >= max_copies (" << max_copies << ") with the " << to_string(rule)
                                                                          << " rule, got " << candidates);
  // Bounded: the neighbors rule's buffers grow with neighbors·candidates and candidates² (a
  // damaged sidecar must not make add() allocate gigabytes).
  FLASHGMM_CHECK(neighbors >= 1 && neighbors <= 4096, "MultiAssignParams::neighbors must be in [1, 4096], got " << neighbors);
  FLASHGMM_CHECK(rule != SpillRule::neighbors || candidates <= 64,
                 "MultiAssignParams::candidates must be <= 64 with the neighbors rule, got " << candidates);
  FLASHGMM_CHECK(std::isfinite(cost_weight) && cost_weight >= 0.0f,
                 "MultiAssignParams::cost_weight must be finite and >= 0, got " << cost_weight);
  FLASHGMM_CHECK(max_entries_ratio == 0.0f || (std::isfinite(max_entries_ratio) && max_entries_ratio >= 1.0f),
                 "MultiAssignParams::max_entries_ratio must be 0 (no bound) or in [1, inf), got " << max_entries_ratio);
  FLASHGMM_CHECK(probe_depth == 0 || probe_depth >= 2, "MultiAssignParams::probe_depth must be 0 (automatic) or >= 2, got "
                                                           << probe_depth);
  FLASHGMM_CHECK(pseudo_query_fraction > 0.0f && pseudo_query_fraction <= 1.0f,
                 "MultiAssignParams::pseudo_query_fraction must be in (0, 1], got " << pseudo_query_fraction);
  FLASHGMM_CHECK(search_nprobe >= 0, "MultiAssignParams::search_nprobe must be >= 0 (0 = automatic), got " << search_nprobe);
  FLASHGMM_CHECK(neighbors_batch_rows >= 0,
                 "MultiAssignParams::neighbors_batch_rows must be >= 0 (0 = automatic), got " << neighbors_batch_rows);
  FLASHGMM_CHECK(spill_fraction >= 0.0f && spill_fraction <= 1.0f,
                 "MultiAssignParams::spill_fraction must be in [0, 1], got " << spill_fraction);
  FLASHGMM_CHECK(!std::isnan(spill_ratio) && spill_ratio > 0.0f,
                 "MultiAssignParams::spill_ratio must be > 0 (+inf = no limit), got " << spill_ratio);
  FLASHGMM_CHECK(!std::isnan(spill_threshold) && spill_threshold >= 0.0f,
                 "MultiAssignParams::spill_threshold must be >= 0 (0 = calibrate), got " << spill_threshold);
  FLASHGMM_CHECK(chunk_rows >= 1, "MultiAssignParams::chunk_rows must be >= 1, got " << chunk_rows);
}

namespace {

void check_inputs(const GaussianMixture& mixture, const faiss::Index& quantizer) {
  FLASHGMM_CHECK(mixture.fitted(), "assign_lists: the mixture is not fitted");
  const int K = mixture.model().n_components;
  FLASHGMM_CHECK(quantizer.ntotal == K, "assign_lists: quantizer holds " << quantizer.ntotal
                                            << " centroids but the mixture has " << K << " components");
  FLASHGMM_CHECK(quantizer.d == mixture.model().dim, "assign_lists: quantizer dimension " << quantizer.d
                                                         << " != mixture dimension " << mixture.model().dim);
}

void assign_posterior(const GaussianMixture& mixture, const faiss::Index& quantizer, const float* x, std::int64_t n,
                      const MultiAssignParams& p, idx_t* lists) {
  const int K = mixture.model().n_components;
  const int m = p.max_copies;
  const int top = std::min(K, m + 1);  // one more than m: the primary may not be the top posterior
  const std::int64_t chunk = std::min<std::int64_t>(p.chunk_rows, std::max<std::int64_t>(n, 1));
  std::vector<idx_t> primary(static_cast<size_t>(chunk));
  std::vector<std::int32_t> ids(m > 1 ? static_cast<size_t>(chunk * top) : 0);
  std::vector<float> probs(ids.size());
  for (std::int64_t c0 = 0; c0 < n; c0 += chunk) {
    const std::int64_t nc = std::min(chunk, n - c0);
    const float* xc = x + c0 * quantizer.d;
    quantizer.assign(nc, xc, primary.data());
    if (m > 1) mixture.predict_topk(xc, nc, top, ids.data(), probs.data());
    for (std::int64_t i = 0; i < nc; ++i) {
      idx_t* out = lists + (c0 + i) * m;
      std::fill(out, out + m, idx_t(-1));
      out[0] = primary[static_cast<size_t>(i)];
      int used = 1;
      for (int j = 0; j < top && used < m && m > 1; ++j) {
        const idx_t l = ids[static_cast<size_t>(i * top + j)];
        const float pr = probs[static_cast<size_t>(i * top + j)];
        if (pr < p.min_posterior) break;  // descending: nothing further qualifies
        if (l == out[0] || l < 0) continue;
        out[used++] = l;
      }
    }
  }
}

// SOAR: per row, the extra lists (greedy, each penalised along the residuals of the lists already
// chosen) and key = score of the first extra list / ‖r‖²; then the rows with the smallest keys keep
// their copies. Memory O(chunk·candidates + n).
void assign_soar(const faiss::Index& quantizer, const float* x, std::int64_t n, const MultiAssignParams& p,
                 idx_t* lists, std::vector<float>* key_out = nullptr) {
  const auto* flat = dynamic_cast<const faiss::IndexFlat*>(&quantizer);
  FLASHGMM_CHECK(flat != nullptr && flat->metric_type == faiss::METRIC_L2,
                 "assign_lists: the soar rule needs a flat L2 quantizer (faiss::IndexFlatL2 or GmmQuantizer)");
  const int m = p.max_copies;
  const std::int64_t d = quantizer.d;
  const float* cent = flat->get_xb();
  const int L = static_cast<int>(std::min<idx_t>(p.candidates, quantizer.ntotal));
  const std::int64_t chunk = std::min<std::int64_t>(p.chunk_rows, std::max<std::int64_t>(n, 1));
  std::vector<idx_t> primary(static_cast<size_t>(chunk)), cand(static_cast<size_t>(chunk * L));
  std::vector<float> cdis(cand.size());
  std::vector<float> key(static_cast<size_t>(n), std::numeric_limits<float>::infinity());
  const double lambda = p.soar_lambda;
  for (std::int64_t c0 = 0; c0 < n; c0 += chunk) {
    const std::int64_t nc = std::min(chunk, n - c0);
    const float* xc = x + c0 * d;
    quantizer.assign(nc, xc, primary.data());  // routing's first choice (L2 nearest by default)
    if (m > 1) flat->faiss::IndexFlat::search(nc, xc, L, cdis.data(), cand.data());  // plain L2 order
#pragma omp parallel for schedule(static) if (nc > 256)
    for (std::int64_t i = 0; i < nc; ++i) {
      idx_t* out = lists + (c0 + i) * m;
      std::fill(out, out + m, idx_t(-1));
      out[0] = primary[static_cast<size_t>(i)];
      if (m == 1 || out[0] < 0) continue;
      const float* xi = xc + i * d;
      // Residuals of the lists chosen so far (unit-free: penalties use ⟨r, v⟩² / ‖r‖²).
      std::vector<double> res(static_cast<size_t>(m * d));
      std::vector<double> res_norm(static_cast<size_t>(m));
      auto set_residual = [&](int slot, idx_t l) {
        double s = 0;
        for (std::int64_t t = 0; t < d; ++t) {
          const double v = static_cast<double>(xi[t]) - cent[l * d + t];
          res[static_cast<size_t>(slot * d + t)] = v;
          s += v * v;
        }
        res_norm[static_cast<size_t>(slot)] = s;
      };
      set_residual(0, out[0]);
      if (!(res_norm[0] > 0)) continue;  // x sits on its centroid: every query reaching it scans list 0
      for (int used = 1; used < m; ++used) {
        double best = std::numeric_limits<double>::infinity();
        idx_t best_l = -1;
        for (int j = 0; j < L; ++j) {
          const idx_t l = cand[static_cast<size_t>(i * L + j)];
          if (l < 0 || std::find(out, out + used, l) != out + used) continue;
          // Exact distance (float64) rather than the search's: BLAS and direct paths differ in the
          // last bits with the batch size, and keys must not (the spill threshold is a cut on them).
          double s = 0;
          for (std::int64_t t = 0; t < d; ++t) {
            const double v = static_cast<double>(xi[t]) - cent[l * d + t];
            s += v * v;
          }
          if (lambda > 0) {
            for (int u = 0; u < used; ++u) {
              if (!(res_norm[static_cast<size_t>(u)] > 0)) continue;
              double dot = 0;
              for (std::int64_t t = 0; t < d; ++t)
                dot += res[static_cast<size_t>(u * d + t)] * (static_cast<double>(xi[t]) - cent[l * d + t]);
              s += lambda * dot * dot / res_norm[static_cast<size_t>(u)];
            }
          }
          if (s < best) {
            best = s;
            best_l = l;
          }
        }
        if (best_l < 0) break;
        out[used] = best_l;
        set_residual(used, best_l);
        if (used == 1) key[static_cast<size_t>(c0 + i)] = static_cast<float>(best / res_norm[0]);
      }
    }
  }
  if (m == 1) return;
  if (p.spill_threshold > 0) {  // calibrated: a fixed rule per row
    for (std::int64_t r = 0; r < n; ++r)
      if (!(key[static_cast<size_t>(r)] <= p.spill_threshold)) std::fill(lists + r * m + 1, lists + (r + 1) * m, idx_t(-1));
    if (key_out) *key_out = std::move(key);
    return;
  }
  // Keep the copies of the spill_fraction·n rows with the smallest keys (ties: lower row first).
  const std::int64_t keep = std::llround(static_cast<double>(p.spill_fraction) * static_cast<double>(n));
  if (key_out) *key_out = key;
  for (std::int64_t r = 0; r < n; ++r)  // the ratio limit first: such rows never spill
    if (!(key[static_cast<size_t>(r)] <= p.spill_ratio)) {
      std::fill(lists + r * m + 1, lists + (r + 1) * m, idx_t(-1));
      key[static_cast<size_t>(r)] = std::numeric_limits<float>::infinity();
    }
  if (keep >= n) return;
  std::vector<std::int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t(0));
  auto less = [&](std::int64_t a, std::int64_t b) {
    const float ka = key[static_cast<size_t>(a)], kb = key[static_cast<size_t>(b)];
    return ka < kb || (ka == kb && a < b);
  };
  if (keep > 0) std::nth_element(order.begin(), order.begin() + keep, order.end(), less);
  for (std::int64_t r = keep; r < n; ++r) {
    idx_t* out = lists + order[static_cast<size_t>(r)] * m;
    std::fill(out + 1, out + m, idx_t(-1));
  }
}

}  // namespace

void assign_lists(const GaussianMixture& mixture, const faiss::Index& quantizer, const float* x,
                  std::int64_t n, const MultiAssignParams& p, idx_t* lists) {
  p.validate();
  check_inputs(mixture, quantizer);
  FLASHGMM_CHECK(n >= 0 && (n == 0 || (x != nullptr && lists != nullptr)), "assign_lists: null buffers");
  if (p.rule == SpillRule::neighbors)
    assign_lists_neighbors(quantizer, x, n, p, lists);
  else if (p.rule == SpillRule::soar)
    assign_soar(quantizer, x, n, p, lists);
  else
    assign_posterior(mixture, quantizer, x, n, p, lists);
}

float calibrate_spill_threshold(const faiss::Index& quantizer, const float* x, std::int64_t n,
                                const MultiAssignParams& p) {
  p.validate();
  FLASHGMM_CHECK(p.rule == SpillRule::soar, "calibrate_spill_threshold: MultiAssignParams::rule must be soar");
  FLASHGMM_CHECK(n >= 1 && x != nullptr, "calibrate_spill_threshold: no rows");
  MultiAssignParams q = p;
  q.max_copies = std::max(2, p.max_copies);
  q.candidates = std::max(q.candidates, q.max_copies);
  q.spill_threshold = 0;
  q.spill_fraction = 1.0f;
  std::vector<idx_t> lists(static_cast<size_t>(n * q.max_copies));
  std::vector<float> key;
  assign_soar(quantizer, x, n, q, lists.data(), &key);
  const std::int64_t keep = std::llround(static_cast<double>(p.spill_fraction) * static_cast<double>(n));
  if (keep <= 0) return std::numeric_limits<float>::min();  // keys are ≈ ≥ 1: nothing spills
  if (keep >= n) return p.spill_ratio;
  std::nth_element(key.begin(), key.begin() + (keep - 1), key.end());
  return std::max(std::min(key[static_cast<size_t>(keep - 1)], p.spill_ratio), std::numeric_limits<float>::min());
}

void assign_lists_soar(const faiss::Index& quantizer, const float* x, std::int64_t n, const MultiAssignParams& p,
                       idx_t* lists) {
  p.validate();
  FLASHGMM_CHECK(p.rule == SpillRule::soar, "assign_lists_soar: MultiAssignParams::rule must be soar");
  FLASHGMM_CHECK(n >= 0 && (n == 0 || (x != nullptr && lists != nullptr)), "assign_lists_soar: null buffers");
  assign_soar(quantizer, x, n, p, lists);
}

}  // namespace flashgmm::ivf
