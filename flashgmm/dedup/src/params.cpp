// flashgmm dedup: parameter names and validation.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "flashgmm/error.hpp"
#include "flashgmm_dedup/dedup.hpp"

namespace flashgmm::dedup {

std::string to_string(Metric m) { return m == Metric::cosine ? "cosine" : "l2"; }

Metric parse_metric(const std::string& s) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (l == "cosine") return Metric::cosine;
  if (l == "l2" || l == "euclidean") return Metric::l2;
  FLASHGMM_THROW("unknown metric '" << s << "'; expected 'cosine' or 'l2'");
}

void DedupParams::validate() const {
  if (metric == Metric::cosine) {
    FLASHGMM_CHECK(std::isfinite(threshold) && threshold > 0.0 && threshold <= 1.0,
                   "cosine similarity threshold must be in (0, 1], got " << threshold);
  } else {
    FLASHGMM_CHECK(std::isfinite(threshold) && threshold >= 0.0,
                   "L2 radius must be a finite number >= 0, got " << threshold);
  }
  FLASHGMM_CHECK(n_components >= 0, "n_components must be >= 0 (0 = automatic), got " << n_components);
  FLASHGMM_CHECK(max_assign >= 1, "max_assign (m) must be >= 1, got " << max_assign);
  FLASHGMM_CHECK(std::isfinite(min_posterior) && min_posterior > 0.0 && min_posterior <= 1.0,
                 "min_posterior (tau) must be in (0, 1], got " << min_posterior);
  FLASHGMM_CHECK(std::isfinite(temperature) && temperature >= 1.0,
                 "temperature must be a finite number >= 1, got " << temperature);
  FLASHGMM_CHECK(fit_sample >= 0, "fit_sample must be >= 0 (0 = automatic), got " << fit_sample);
  FLASHGMM_CHECK(max_iter >= 1, "max_iter must be >= 1, got " << max_iter);
  FLASHGMM_CHECK(std::isfinite(tol) && tol >= 0.0, "tol must be >= 0, got " << tol);
  FLASHGMM_CHECK(n_threads >= 0, "n_threads must be >= 0 (0 = default), got " << n_threads);
  FLASHGMM_CHECK(chunk_rows >= 1, "chunk_rows must be >= 1, got " << chunk_rows);
  FLASHGMM_CHECK(check_sample >= 0, "check_sample must be >= 0 (0 = no quality report), got " << check_sample);
}

}  // namespace flashgmm::dedup
