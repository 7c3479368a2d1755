// Distinct-id counts of a multi-assignment IVF index, kept right when its lists change, and
// removal of every copy of an id.
#include <algorithm>
#include <unordered_set>

#include <faiss/invlists/DirectMap.h>
#include <faiss/impl/FaissException.h>

#include "flashgmm/error.hpp"
#include "flashgmm_faiss/ivf_ops.hpp"

namespace flashgmm::ivf {

using idx_t = faiss::Index::idx_t;

namespace {

// Calls f(id) for every list entry.
template <class F>
void for_each_stored_id(const faiss::IndexIVF& ivf, F&& f) {
  const faiss::InvertedLists* il = ivf.invlists;
  for (size_t l = 0; l < il->nlist; ++l) {
    faiss::InvertedLists::ScopedIds list_ids(il, l);
    const size_t sz = il->list_size(l);
    for (size_t j = 0; j < sz; ++j) f(list_ids[j]);
  }
}

}  // namespace

void sync_bookkeeping(const faiss::IndexIVF& ivf, IvfBookkeeping& book) {
  if (book.entries == ivf.ntotal) return;
  std::unordered_set<idx_t> ids;
  ids.reserve(static_cast<size_t>(std::max<idx_t>(ivf.ntotal, 0)));
  idx_t max_id = -1;
  for_each_stored_id(ivf, [&](idx_t id) {
    ids.insert(id);
    max_id = std::max(max_id, id);
  });
  book.n_vectors = static_cast<std::int64_t>(ids.size());
  // FAISS's own add() numbers rows from ntotal: later sequential ids must not reuse them.
  book.next_id = std::max<std::int64_t>(book.next_id, max_id + 1);
  book.entries = ivf.ntotal;
}

std::int64_t remove_all_copies(faiss::IndexIVF& ivf, const faiss::IDSelector& sel, IvfBookkeeping& book) {
  const faiss::DirectMap::Type map = ivf.direct_map.type;
  FLASHGMM_CHECK(map != faiss::DirectMap::Array,
                 "remove_ids: the index has an array direct map, which FAISS cannot remove from; switch it to a "
                 "hashtable (set_direct_map_type(DirectMap::Hashtable)) or drop it first");
  sync_bookkeeping(ivf, book);
  std::unordered_set<idx_t> hit;
  for_each_stored_id(ivf, [&](idx_t id) {
    if (sel.is_member(id)) hit.insert(id);
  });
  try {
    if (map != faiss::DirectMap::NoMap) ivf.set_direct_map_type(faiss::DirectMap::NoMap);
    ivf.remove_ids(sel);  // without a map: scans every list, removes all copies, lowers ntotal by their count
    if (map != faiss::DirectMap::NoMap) ivf.set_direct_map_type(map);  // rebuilt from the lists
  } catch (const faiss::FaissException& e) {
    FLASHGMM_THROW("remove_ids failed in FAISS: " << e.what());
  }
  book.n_vectors -= static_cast<std::int64_t>(hit.size());
  book.entries = ivf.ntotal;
  return static_cast<std::int64_t>(hit.size());
}

}  // namespace flashgmm::ivf
