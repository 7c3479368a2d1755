// flashgmm dedup: groups and keep-lists from per-row representatives; peak memory.
#include <cstdio>
#include <cstring>

#include "flashgmm/error.hpp"
#include "flashgmm_dedup/dedup.hpp"

namespace flashgmm::dedup {

GroupList list_groups(const std::vector<std::int64_t>& rep) {
  const std::int64_t n = static_cast<std::int64_t>(rep.size());
  // size[r] counts the rows whose representative is r; then a prefix sum over representatives
  // of groups with ≥ 2 rows. Rows are visited ascending, so members come out ascending and the
  // representative (the smallest row) first.
  std::vector<std::int64_t> slot(static_cast<std::size_t>(n), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    FLASHGMM_CHECK(rep[i] >= 0 && rep[i] <= i && rep[rep[i]] == rep[i],
                   "invalid representative " << rep[i] << " for row " << i);
    ++slot[rep[i]];
  }
  GroupList g;
  g.offsets.push_back(0);
  for (std::int64_t r = 0; r < n; ++r) {
    if (rep[r] != r || slot[r] < 2) {
      slot[r] = -1;
      continue;
    }
    const std::int64_t size = slot[r];
    slot[r] = g.offsets.back();  // first free position of this group
    g.offsets.push_back(g.offsets.back() + size);
  }
  g.members.resize(g.offsets.back());
  for (std::int64_t i = 0; i < n; ++i)
    if (slot[rep[i]] >= 0) g.members[slot[rep[i]]++] = i;
  return g;
}

std::vector<std::int64_t> keep_list(const std::vector<std::int64_t>& rep) {
  std::vector<std::int64_t> keep;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(rep.size()); ++i)
    if (rep[i] == i) keep.push_back(i);
  return keep;
}

std::int64_t peak_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  long long kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmHWM:", 6) == 0) std::sscanf(line + 6, "%lld", &kb);
  std::fclose(f);
  return kb * 1024;
}

}  // namespace flashgmm::dedup
