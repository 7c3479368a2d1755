// The m largest of K posteriors, best first (ties: lower component id first).
#pragma once

#include <algorithm>
#include <cstdint>

namespace flashgmm::cpu {

/// idx: scratch of K ints. ids / probs (m each) may be null.
inline void select_top_m(const float* p, int k, int m, std::int32_t* idx, std::int32_t* ids,
                         float* probs) {
  auto better = [p](std::int32_t a, std::int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); };
  if (m <= 8) {
    // Insertion into a short sorted list: one pass over K.
    int len = 0;
    for (int c = 0; c < k; ++c) {
      if (len == m && !better(c, idx[len - 1])) continue;
      int pos = len < m ? len++ : m - 1;
      while (pos > 0 && better(c, idx[pos - 1])) {
        idx[pos] = idx[pos - 1];
        --pos;
      }
      idx[pos] = c;
    }
  } else {
    for (int c = 0; c < k; ++c) idx[c] = c;
    std::partial_sort(idx, idx + m, idx + k, better);
  }
  for (int j = 0; j < m; ++j) {
    if (ids) ids[j] = idx[j];
    if (probs) probs[j] = p[idx[j]];
  }
}

}  // namespace flashgmm::cpu
