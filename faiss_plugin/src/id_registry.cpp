#include "flashgmm_faiss/id_registry.hpp"

#include <algorithm>

namespace flashgmm::ivf {

namespace {

using Interval = std::pair<std::int64_t, std::int64_t>;

// Joins sorted, disjoint intervals that touch (last + 1 == next first).
std::vector<Interval> coalesce(std::vector<Interval> v) {
  std::vector<Interval> out;
  out.reserve(v.size());
  for (const Interval& iv : v) {
    if (!out.empty() && out.back().second != INT64_MAX && out.back().second + 1 >= iv.first)
      out.back().second = std::max(out.back().second, iv.second);
    else
      out.push_back(iv);
  }
  return out;
}

bool run_holds(const std::vector<Interval>& run, std::int64_t id) {
  // the last interval starting at or before id
  auto it = std::upper_bound(run.begin(), run.end(), id, [](std::int64_t v, const Interval& iv) { return v < iv.first; });
  return it != run.begin() && std::prev(it)->second >= id;
}

std::int64_t count_of(const std::vector<Interval>& run) {
  std::int64_t c = 0;
  for (const Interval& iv : run) c += iv.second - iv.first + 1;
  return c;
}

}  // namespace

std::vector<Interval> id_intervals(const std::int64_t* ids, std::int64_t n) {
  std::vector<std::int64_t> s(ids, ids + n);
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
  std::vector<Interval> out;
  for (std::int64_t v : s) {
    if (!out.empty() && out.back().second + 1 == v)
      out.back().second = v;
    else
      out.emplace_back(v, v);
  }
  return out;
}

std::optional<std::int64_t> IdRegistry::first_held(const std::int64_t* ids, std::int64_t n) const {
  if (size_ == 0) return std::nullopt;
  for (std::int64_t i = 0; i < n; ++i)
    for (const Run& run : runs_)
      if (run_holds(run, ids[i])) return ids[i];
  return std::nullopt;
}

std::int64_t IdRegistry::count_held(const std::int64_t* ids, std::int64_t n) const {
  std::int64_t c = 0;
  for (const Interval& iv : id_intervals(ids, n))
    for (std::int64_t v = iv.first;; ++v) {
      for (const Run& run : runs_)
        if (run_holds(run, v)) {
          ++c;
          break;
        }
      if (v == iv.second) break;
    }
  return c;
}

void IdRegistry::push(Run run) {
  if (run.empty()) return;
  runs_.push_back(std::move(run));
  while (runs_.size() >= 2 && 2 * runs_.back().size() >= runs_[runs_.size() - 2].size()) {
    Run last = std::move(runs_.back());
    runs_.pop_back();
    Run& prev = runs_.back();
    Run merged;
    merged.reserve(prev.size() + last.size());
    std::merge(prev.begin(), prev.end(), last.begin(), last.end(), std::back_inserter(merged));
    prev = coalesce(std::move(merged));
  }
}

void IdRegistry::insert(const std::int64_t* ids, std::int64_t n) {
  Run run = id_intervals(ids, n);
  size_ += count_of(run);
  push(std::move(run));
}

void IdRegistry::insert_range(std::int64_t first, std::int64_t n) {
  if (n <= 0) return;
  size_ += n;
  push(Run{{first, first + n - 1}});
}

std::int64_t IdRegistry::erase(const std::int64_t* ids, std::int64_t n) {
  const std::vector<Interval> gone = id_intervals(ids, n);
  if (gone.empty() || size_ == 0) return 0;
  std::int64_t removed = 0;
  for (Run& run : runs_) {
    // run minus gone, both sorted and disjoint: one sweep
    Run out;
    out.reserve(run.size());
    size_t g = 0;
    for (Interval iv : run) {
      while (g < gone.size() && gone[g].second < iv.first) ++g;
      size_t h = g;
      while (h < gone.size() && gone[h].first <= iv.second) {
        const std::int64_t lo = std::max(gone[h].first, iv.first), hi = std::min(gone[h].second, iv.second);
        removed += hi - lo + 1;
        if (iv.first < lo) out.emplace_back(iv.first, lo - 1);
        if (hi == iv.second) {
          iv.first = hi;  // nothing left of iv
          iv.second = hi - 1;
          break;
        }
        iv.first = hi + 1;
        ++h;
      }
      if (iv.first <= iv.second) out.push_back(iv);
    }
    run = std::move(out);
  }
  runs_.erase(std::remove_if(runs_.begin(), runs_.end(), [](const Run& r) { return r.empty(); }), runs_.end());
  size_ -= removed;
  return removed;
}

void IdRegistry::assign(const std::int64_t* ids, std::int64_t n) {
  runs_.clear();
  size_ = 0;
  insert(ids, n);
}

std::int64_t IdRegistry::intervals() const {
  std::int64_t c = 0;
  for (const Run& r : runs_) c += static_cast<std::int64_t>(r.size());
  return c;
}

}  // namespace flashgmm::ivf
