// flashgmm dedup: disjoint sets over row ids whose root is always the set's smallest row, so the
// representative of a group is its first row without a final pass.
#pragma once

#include <cstdint>
#include <vector>

namespace flashgmm::dedup::detail {

class UnionFind {
 public:
  explicit UnionFind(std::int64_t n) : parent_(static_cast<std::size_t>(n)) {
    for (std::int64_t i = 0; i < n; ++i) parent_[i] = i;
  }
  std::int64_t find(std::int64_t x) {
    while (parent_[x] != x) {  // path halving
      parent_[x] = parent_[parent_[x]];
      x = parent_[x];
    }
    return x;
  }
  /// Merges the sets of a and b; returns false when they were already one set.
  bool unite(std::int64_t a, std::int64_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return false;
    if (a < b) parent_[b] = a; else parent_[a] = b;  // the smaller root stays the root
    return true;
  }
  /// Every row's root (= smallest row of its set); leaves the structure empty.
  std::vector<std::int64_t> release_roots() {
    for (std::size_t i = 0; i < parent_.size(); ++i) parent_[i] = parent_[parent_[i]];  // parents precede children
    return std::move(parent_);
  }
  std::int64_t bytes() const { return static_cast<std::int64_t>(parent_.size() * sizeof(std::int64_t)); }

 private:
  std::vector<std::int64_t> parent_;
};

}  // namespace flashgmm::dedup::detail
