#include "flashgmm_faiss/sidecar.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include <unistd.h>

#include "flashgmm/error.hpp"

namespace flashgmm::ivf {

namespace {
constexpr char kMagic[8] = {'F', 'G', 'M', 'M', 'I', 'V', 'F', '\0'};

struct Writer {
  std::vector<std::uint8_t> buf;
  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    buf.insert(buf.end(), p, p + sizeof(T));
  }
  void bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    buf.insert(buf.end(), b, b + n);
  }
};

struct Reader {
  const std::uint8_t* p;
  std::size_t left;
  const std::string& what;
  template <class T>
  T get() {
    FLASHGMM_CHECK(left >= sizeof(T), "GMM sidecar '" << what << "' is truncated");
    T v;
    std::memcpy(&v, p, sizeof(T));
    p += sizeof(T);
    left -= sizeof(T);
    return v;
  }
};
}  // namespace

std::uint64_t fnv1a64(const void* data, std::size_t bytes, std::uint64_t h) {
  const auto* b = static_cast<const std::uint8_t*>(data);
  for (std::size_t i = 0; i < bytes; ++i) {
    h ^= b[i];
    h *= 1099511628211ULL;
  }
  return h;
}

std::vector<std::uint8_t> encode_sidecar(const Sidecar& s) {
  Writer pl;
  pl.put<std::int32_t>(s.dim);
  pl.put<std::int64_t>(s.nlist);
  pl.put<std::int64_t>(s.ntotal);
  pl.put<std::int64_t>(s.n_vectors);
  pl.put<std::int64_t>(s.next_id);
  pl.put<std::int32_t>(s.max_copies_stored);
  pl.put<std::int32_t>(s.assign.max_copies);
  pl.put<float>(s.assign.min_posterior);
  pl.put<std::int64_t>(s.assign.chunk_rows);
  pl.put<std::int32_t>(static_cast<std::int32_t>(s.assign.rule));  // version 2
  pl.put<float>(s.assign.soar_lambda);
  pl.put<std::int32_t>(s.assign.candidates);
  pl.put<float>(s.assign.spill_fraction);
  pl.put<float>(s.assign.spill_threshold);
  pl.put<std::int32_t>(s.assign.neighbors);  // version 3
  pl.put<float>(s.assign.cost_weight);
  pl.put<std::int32_t>(s.assign.probe_depth);
  pl.put<std::int32_t>(s.assign.search_nprobe);
  pl.put<float>(s.assign.pseudo_query_fraction);
  pl.put<std::int64_t>(s.assign.neighbors_batch_rows);  // version 4
  pl.put<float>(s.assign.max_entries_ratio);  // version 5
  pl.put<std::int32_t>(static_cast<std::int32_t>(s.routing.order));
  pl.put<double>(s.routing.probe_mass);
  pl.put<double>(s.routing.temperature);
  pl.put<std::int32_t>(s.routing.min_probes);
  pl.put<std::uint64_t>(s.centroid_fingerprint);
  const std::vector<std::uint8_t> mb = serialize_model(s.model);
  pl.put<std::uint64_t>(mb.size());
  pl.bytes(mb.data(), mb.size());

  Writer out;
  out.bytes(kMagic, sizeof(kMagic));
  out.put<std::uint32_t>(kSidecarVersion);
  out.put<std::uint32_t>(0);
  out.put<std::uint64_t>(pl.buf.size());
  out.bytes(pl.buf.data(), pl.buf.size());
  out.put<std::uint64_t>(fnv1a64(out.buf.data(), out.buf.size()));
  return out.buf;
}

Sidecar decode_sidecar(const std::uint8_t* data, std::size_t size, const std::string& what) {
  constexpr std::size_t kHeader = sizeof(kMagic) + 4 + 4 + 8;
  FLASHGMM_CHECK(size >= kHeader + 8, "GMM sidecar '" << what << "' is truncated (" << size << " bytes)");
  FLASHGMM_CHECK(std::memcmp(data, kMagic, sizeof(kMagic)) == 0,
                 "'" << what << "' is not a flashgmm GMM sidecar (bad magic)");
  std::uint64_t stored;
  std::memcpy(&stored, data + size - 8, 8);
  FLASHGMM_CHECK(stored == fnv1a64(data, size - 8),
                 "GMM sidecar '" << what << "' is corrupted or truncated (checksum mismatch)");
  Reader h{data + sizeof(kMagic), size - sizeof(kMagic), what};
  const auto version = h.get<std::uint32_t>();
  FLASHGMM_CHECK(version >= 1 && version <= kSidecarVersion, "GMM sidecar '" << what << "' has version " << version
                                                 << ", this build reads versions 1 to " << kSidecarVersion);
  h.get<std::uint32_t>();
  const auto payload = h.get<std::uint64_t>();
  FLASHGMM_CHECK(payload == size - kHeader - 8,
                 "GMM sidecar '" << what << "' is truncated or has trailing bytes (payload " << payload
                                 << " bytes, file " << size << " bytes)");

  Reader r{data + kHeader, static_cast<std::size_t>(payload), what};
  Sidecar s;
  s.dim = r.get<std::int32_t>();
  s.nlist = r.get<std::int64_t>();
  s.ntotal = r.get<std::int64_t>();
  s.n_vectors = r.get<std::int64_t>();
  s.next_id = r.get<std::int64_t>();
  s.max_copies_stored = r.get<std::int32_t>();
  s.assign.max_copies = r.get<std::int32_t>();
  s.assign.min_posterior = r.get<float>();
  s.assign.chunk_rows = r.get<std::int64_t>();
  if (version >= 2) {
    const auto rule = r.get<std::int32_t>();
    FLASHGMM_CHECK(rule == 0 || rule == 1 || (rule == 2 && version >= 3),
                   "GMM sidecar '" << what << "' has an unknown spill rule " << rule);
    s.assign.rule = static_cast<SpillRule>(rule);
    s.assign.soar_lambda = r.get<float>();
    s.assign.candidates = r.get<std::int32_t>();
    s.assign.spill_fraction = r.get<float>();
    s.assign.spill_threshold = r.get<float>();
    if (version >= 3) {
      s.assign.neighbors = r.get<std::int32_t>();
      s.assign.cost_weight = r.get<float>();
      s.assign.probe_depth = r.get<std::int32_t>();
      s.assign.search_nprobe = r.get<std::int32_t>();
      s.assign.pseudo_query_fraction = r.get<float>();
      if (version >= 4) s.assign.neighbors_batch_rows = r.get<std::int64_t>();
      s.assign.max_entries_ratio = version >= 5 ? r.get<float>() : 0.0f;
    }
  } else {
    s.assign.rule = SpillRule::posterior;  // the only rule version 1 knew
  }
  const auto order = r.get<std::int32_t>();
  FLASHGMM_CHECK(order == 0 || order == 1, "GMM sidecar '" << what << "' has an unknown probe order " << order);
  s.routing.order = static_cast<ProbeOrder>(order);
  s.routing.probe_mass = r.get<double>();
  s.routing.temperature = r.get<double>();
  s.routing.min_probes = r.get<std::int32_t>();
  s.centroid_fingerprint = r.get<std::uint64_t>();
  const auto mb = r.get<std::uint64_t>();
  FLASHGMM_CHECK(mb == r.left, "GMM sidecar '" << what << "' has a model block of " << mb << " bytes, "
                                                << r.left << " remain");
  s.model = deserialize_model(r.p, static_cast<std::size_t>(mb));
  s.assign.validate();
  s.routing.validate();
  FLASHGMM_CHECK(s.dim == s.model.dim && s.nlist == s.model.n_components,
                 "GMM sidecar '" << what << "' is inconsistent: header says d=" << s.dim << ", nlist=" << s.nlist
                                 << ", model has d=" << s.model.dim << ", K=" << s.model.n_components);
  FLASHGMM_CHECK(s.max_copies_stored >= 1 && s.n_vectors >= 0 && s.ntotal >= s.n_vectors && s.next_id >= 0,
                 "GMM sidecar '" << what << "' has inconsistent counts");
  // An id lands in at most nlist distinct lists, so larger copy counts mean the same as nlist;
  // unclamped, a damaged or crafted file would make add() and search() size their buffers by
  // them (rows·max_copies, k·max_copies_stored: gigabytes from one int32).
  s.assign.max_copies = static_cast<std::int32_t>(std::min<std::int64_t>(s.assign.max_copies, s.nlist));
  s.max_copies_stored = static_cast<std::int32_t>(std::min<std::int64_t>(s.max_copies_stored, s.nlist));
  return s;
}

void write_sidecar(const std::string& path, const Sidecar& s) {
  const std::vector<std::uint8_t> bytes = encode_sidecar(s);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    FLASHGMM_CHECK(f, "cannot open '" << tmp << "' for writing");
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      FLASHGMM_THROW("cannot write '" << tmp << "' (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    FLASHGMM_THROW("cannot rename '" << tmp << "' to '" << path << "'");
  }
}

Sidecar read_sidecar(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  FLASHGMM_CHECK(f, "cannot open GMM sidecar '" << path << "' (it must sit next to the index file)");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return decode_sidecar(bytes.data(), bytes.size(), path);
}

std::uint64_t centroid_fingerprint(const float* centroids, std::int64_t nlist, std::int64_t d) {
  return fnv1a64(centroids, static_cast<std::size_t>(nlist) * static_cast<std::size_t>(d) * sizeof(float));
}

void check_sidecar_matches(const Sidecar& s, const SidecarTarget& index, const std::string& sidecar_path,
                           const std::string& index_path) {
  const std::string head = "GMM sidecar '" + sidecar_path + "' does not match '" + index_path + "': ";
  FLASHGMM_CHECK(s.dim == index.d && s.nlist == index.nlist,
                 head << "sidecar d=" << s.dim << ", nlist=" << s.nlist << "; index d=" << index.d
                      << ", nlist=" << index.nlist);
  FLASHGMM_CHECK(s.ntotal == index.ntotal,
                 head << "it records " << s.ntotal << " list entries, the index holds " << index.ntotal);
  FLASHGMM_CHECK(index.quantizer_ntotal == s.nlist && s.centroid_fingerprint == index.centroid_fingerprint,
                 head << "different centroids");
}

}  // namespace flashgmm::ivf
