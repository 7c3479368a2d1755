#include "flashgmm_faiss/multi_assign.hpp"

#include <algorithm>
#include <vector>

#include "flashgmm/error.hpp"

namespace flashgmm::ivf {

void MultiAssignParams::validate() const {
  FLASHGMM_CHECK(max_copies >= 1, "MultiAssignParams::max_copies must be >= 1, got " << max_copies);
  FLASHGMM_CHECK(min_posterior > 0.0f && min_posterior <= 1.0f,
                 "MultiAssignParams::min_posterior must be in (0, 1], got " << min_posterior);
  FLASHGMM_CHECK(chunk_rows >= 1, "MultiAssignParams::chunk_rows must be >= 1, got " << chunk_rows);
}

void assign_lists(const GaussianMixture& mixture, const faiss::Index& quantizer, const float* x,
                  std::int64_t n, const MultiAssignParams& p, faiss::Index::idx_t* lists) {
  using idx_t = faiss::Index::idx_t;
  p.validate();
  FLASHGMM_CHECK(mixture.fitted(), "assign_lists: the mixture is not fitted");
  const int K = mixture.model().n_components;
  FLASHGMM_CHECK(quantizer.ntotal == K, "assign_lists: quantizer holds " << quantizer.ntotal
                                            << " centroids but the mixture has " << K << " components");
  FLASHGMM_CHECK(quantizer.d == mixture.model().dim, "assign_lists: quantizer dimension " << quantizer.d
                                                         << " != mixture dimension " << mixture.model().dim);
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

}  // namespace flashgmm::ivf
