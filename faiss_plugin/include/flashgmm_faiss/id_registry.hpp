// The distinct ids stored in a multi-assignment IVF index, so that an add can refuse ids that are
// already there (FAISS would store a second, unrelated vector under the same id) and the index
// can report its distinct vectors without scanning its lists.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace flashgmm::ivf {

/// A set of int64 ids kept as disjoint closed intervals: sequential ids (the common case) cost
/// one interval whatever their number, arbitrary ids 16 bytes each. Intervals live in a few
/// sorted runs merged like a binary counter (a new run merges into the last while it is at
/// least half its size), so an add costs O(n log N) amortised and never rewrites all N ids.
class IdRegistry {
 public:
  /// Distinct ids held.
  std::int64_t size() const { return size_; }

  /// The first of ids[0, n) that is held, if any.
  std::optional<std::int64_t> first_held(const std::int64_t* ids, std::int64_t n) const;

  /// How many distinct values of ids[0, n) are held.
  std::int64_t count_held(const std::int64_t* ids, std::int64_t n) const;

  /// Adds ids[0, n) (none held, no repeats: the caller checked) / the ids [first, first + n).
  void insert(const std::int64_t* ids, std::int64_t n);
  void insert_range(std::int64_t first, std::int64_t n);

  /// Removes the held ones of ids[0, n) (repeats allowed) and returns how many were held.
  std::int64_t erase(const std::int64_t* ids, std::int64_t n);

  /// Replaces the contents with the distinct values of ids[0, n) (e.g. every id in the lists).
  void assign(const std::int64_t* ids, std::int64_t n);

  /// Intervals held, all runs together (for tests and memory reports).
  std::int64_t intervals() const;

 private:
  using Interval = std::pair<std::int64_t, std::int64_t>;  // [first, last]
  using Run = std::vector<Interval>;
  void push(Run run);
  std::vector<Run> runs_;
  std::int64_t size_ = 0;
};

/// Sorted distinct ids of ids[0, n) as intervals (consecutive ids joined).
std::vector<std::pair<std::int64_t, std::int64_t>> id_intervals(const std::int64_t* ids, std::int64_t n);

}  // namespace flashgmm::ivf
