#include "flashgmm_faiss/gmm_quantizer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include <faiss/utils/distances.h>

#include "component_scorer.hpp"
#include "flashgmm/error.hpp"

namespace flashgmm::ivf {

std::string to_string(ProbeOrder o) { return o == ProbeOrder::l2 ? "l2" : "posterior"; }

ProbeOrder parse_probe_order(const std::string& s) {
  if (s == "l2") return ProbeOrder::l2;
  if (s == "posterior") return ProbeOrder::posterior;
  FLASHGMM_THROW("unknown probe order '" << s << "' (expected 'l2' or 'posterior')");
}

void RoutingParams::validate() const {
  FLASHGMM_CHECK(probe_mass > 0.0 && probe_mass <= 1.0, "RoutingParams::probe_mass must be in (0, 1], got " << probe_mass);
  FLASHGMM_CHECK(std::isfinite(temperature) && temperature > 0.0,
                 "RoutingParams::temperature must be finite and > 0, got " << temperature);
  FLASHGMM_CHECK(min_probes >= 1, "RoutingParams::min_probes must be >= 1, got " << min_probes);
}

GmmQuantizer::GmmQuantizer(const Model& mixture, const RoutingParams& r, const float* centroids)
    : faiss::IndexFlatL2(mixture.dim), routing(r), model_(mixture),
      scorer_(std::make_shared<ComponentScorer>(mixture)) {
  routing.validate();
  const size_t kd = static_cast<size_t>(mixture.n_components) * static_cast<size_t>(mixture.dim);
  if (centroids) {
    add(mixture.n_components, centroids);
    // Centroids other than the means (CentroidSource::kmeans): the posterior must use the means.
    for (size_t i = 0; i < kd && centroids_are_means_; ++i)
      centroids_are_means_ = centroids[i] == static_cast<float>(mixture.means[i]);
  } else {
    std::vector<float> c(kd);
    for (size_t i = 0; i < kd; ++i) c[i] = static_cast<float>(mixture.means[i]);
    add(mixture.n_components, c.data());
  }
}

GmmQuantizer::~GmmQuantizer() = default;

void GmmQuantizer::search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels,
                          const faiss::SearchParameters* params) const {
  if (!routing.uses_mixture()) {  // plain L2 probing: FAISS's own BLAS path
    faiss::IndexFlatL2::search(n, x, k, distances, labels, params);
    return;
  }
  const idx_t K = ntotal;
  const idx_t kk = std::min(k, K);
  const double inv_t = 1.0 / routing.temperature;
  constexpr idx_t kBatch = 256;  // queries per tile: the tile holds kBatch·K distances
  std::vector<float> l2(static_cast<size_t>(kBatch * K));
  std::vector<double> ll(static_cast<size_t>(kBatch * K));
  for (idx_t b0 = 0; b0 < n; b0 += kBatch) {
    const idx_t nb = std::min(kBatch, n - b0);
    const float* xb = x + b0 * d;
    faiss::pairwise_L2sqr(d, nb, xb, K, get_xb(), l2.data());
    // The L2 distances double as the spherical Mahalanobis terms only when centroids are the means.
    scorer_->log_likelihoods(xb, nb, centroids_are_means_ ? l2.data() : nullptr, ll.data());
#pragma omp parallel for schedule(static) if (nb > 8)
    for (idx_t i = 0; i < nb; ++i) {
      const float* di = l2.data() + i * K;
      const double* li = ll.data() + i * K;
      std::vector<idx_t> order(static_cast<size_t>(K));
      std::iota(order.begin(), order.end(), idx_t(0));
      auto better = [&](idx_t a, idx_t c) {
        if (routing.order == ProbeOrder::l2) return di[a] < di[c] || (di[a] == di[c] && a < c);
        return li[a] > li[c] || (li[a] == li[c] && a < c);
      };
      std::partial_sort(order.begin(), order.begin() + kk, order.end(), better);
      // Tempered log-normaliser log Σ_k exp(ℓ_k / T), max-shifted.
      double mx = -std::numeric_limits<double>::infinity();
      for (idx_t c = 0; c < K; ++c) mx = std::max(mx, li[c] * inv_t);
      double z = 0;
      for (idx_t c = 0; c < K; ++c) z += std::exp(li[c] * inv_t - mx);
      const double log_z = mx + std::log(z);
      float* dout = distances + (b0 + i) * k;
      idx_t* lout = labels + (b0 + i) * k;
      double mass = 0;
      bool stopped = false;
      for (idx_t j = 0; j < k; ++j) {
        if (j >= kk || stopped) {
          dout[j] = std::numeric_limits<float>::max();
          lout[j] = -1;
          continue;
        }
        const idx_t c = order[static_cast<size_t>(j)];
        dout[j] = di[c];
        lout[j] = c;
        mass += std::exp(li[c] * inv_t - log_z);
        if (routing.probe_mass < 1.0 && j + 1 >= routing.min_probes && mass >= routing.probe_mass) stopped = true;
      }
    }
  }
}

}  // namespace flashgmm::ivf
