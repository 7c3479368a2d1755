#include "flashgmm_faiss/ivf_ops.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>
#include <random>

#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissException.h>

#include "flashgmm/error.hpp"
#include "flashgmm_faiss/gmm_clustering.hpp"

namespace flashgmm::ivf {

using idx_t = faiss::Index::idx_t;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// At most `cap` rows of x, drawn at random (data files are often sorted, e.g. by word
// frequency); `out` is left empty when all n rows are used.
idx_t sample_rows(idx_t n, const float* x, idx_t d, idx_t cap, std::uint64_t seed, std::vector<float>& out) {
  out.clear();
  if (n <= cap) return n;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<idx_t> pick(0, n - 1);
  out.resize(static_cast<size_t>(cap * d));
  for (idx_t i = 0; i < cap; ++i) {
    const idx_t r = pick(rng);
    std::copy(x + r * d, x + (r + 1) * d, out.begin() + i * d);
  }
  return cap;
}

// soar rule with spill_threshold 0: set it from a random sample of ≤ 65,536 of these rows (the
// quantile of 64k keys is within ~0.3 % of the spill fraction).
void calibrate_soar(const faiss::Index& quantizer, MultiAssignParams& ap, idx_t n, const float* x, std::uint64_t seed) {
  if (ap.rule != SpillRule::soar || ap.max_copies < 2 || ap.spill_threshold > 0 || n <= 0) return;
  std::vector<float> xs;
  const idx_t ns = sample_rows(n, x, quantizer.d, 65536, seed + 7919ULL, xs);
  ap.spill_threshold = calibrate_spill_threshold(quantizer, xs.empty() ? x : xs.data(), ns, ap);
}

// One refinement of the centroids in `q` for the neighbors rule: assign the rows by that rule,
// move each centroid to the mean of its list (copies included; empty lists keep theirs).
void refine_centroids(faiss::IndexFlat& q, const MultiAssignParams& ap, idx_t n, const float* x) {
  const idx_t K = q.ntotal, d = q.d;
  const int m = ap.max_copies;
  std::vector<idx_t> lists(static_cast<size_t>(n * m));
  const idx_t batch = neighbor_batch_rows(ap, n, d, K);
  for (idx_t b0 = 0; b0 < n; b0 += batch)
    assign_lists_neighbors(q, x + b0 * d, std::min(batch, n - b0), ap, lists.data() + b0 * m);
  std::vector<double> sum(static_cast<size_t>(K * d), 0.0), cnt(static_cast<size_t>(K), 0.0);
  for (idx_t i = 0; i < n; ++i)
    for (int j = 0; j < m; ++j) {
      const idx_t l = lists[static_cast<size_t>(i * m + j)];
      if (l < 0) continue;
      cnt[static_cast<size_t>(l)] += 1;
      for (idx_t t = 0; t < d; ++t) sum[static_cast<size_t>(l * d + t)] += x[i * d + t];
    }
  std::vector<float> c(q.get_xb(), q.get_xb() + K * d);
  for (idx_t l = 0; l < K; ++l)
    if (cnt[static_cast<size_t>(l)] > 0)
      for (idx_t t = 0; t < d; ++t)
        c[static_cast<size_t>(l * d + t)] =
            static_cast<float>(sum[static_cast<size_t>(l * d + t)] / cnt[static_cast<size_t>(l)]);
  q.reset();
  q.add(K, c.data());
}

}  // namespace

std::string to_string(CentroidSource c) { return c == CentroidSource::kmeans ? "kmeans" : "mixture"; }

CentroidSource parse_centroid_source(const std::string& s) {
  if (s == "kmeans") return CentroidSource::kmeans;
  if (s == "mixture") return CentroidSource::mixture;
  FLASHGMM_THROW("unknown centroid source '" << s << "' (expected 'kmeans' or 'mixture')");
}

GmmIvfParams::GmmIvfParams() : gmm(default_quantizer_params()) {
  cp.niter = 10;  // FAISS's default for IVF coarse quantizers (Level1Quantizer)
}

void GmmIvfParams::validate() const {
  FLASHGMM_CHECK(centroids == CentroidSource::kmeans || centroids == CentroidSource::mixture,
                 "GmmIvfParams::centroids is not a CentroidSource (" << static_cast<int>(centroids) << ")");
  FLASHGMM_CHECK(centroid_niter >= 0, "GmmIvfParams::centroid_niter must be >= 0 (0 = cp.niter), got " << centroid_niter);
  FLASHGMM_CHECK(centroid_max_points_per_centroid >= 0,
                 "GmmIvfParams::centroid_max_points_per_centroid must be >= 0 (0 = cp's), got "
                     << centroid_max_points_per_centroid);
  FLASHGMM_CHECK(refine_pseudo_query_fraction > 0.0f && refine_pseudo_query_fraction <= 1.0f,
                 "GmmIvfParams::refine_pseudo_query_fraction must be in (0, 1], got " << refine_pseudo_query_fraction);
  assign.validate();
  routing.validate();
}

IvfTraining train_centroids(idx_t d, idx_t nlist, idx_t n, const float* x, const GmmIvfParams& p) {
  p.validate();
  FLASHGMM_CHECK(x != nullptr && n > 0, "train_ivf: no training vectors");
  FLASHGMM_CHECK(d >= 1 && nlist >= 1, "train_ivf: bad shape d=" << d << ", nlist=" << nlist);
  const auto t0 = std::chrono::steady_clock::now();
  const int K = static_cast<int>(nlist);
  // Our own flat quantizer: the centroids leave this function as an array, whatever index the
  // caller will put them in (a C++ IndexIVF's quantizer, or a Python user's FAISS object).
  faiss::IndexFlatL2 q(static_cast<int>(d));
  GmmClustering clus(static_cast<int>(d), K, p.cp, p.gmm);
  std::vector<float> centroids;
  if (p.centroids == CentroidSource::kmeans) {
    faiss::ClusteringParameters kcp = p.cp;
    if (p.centroid_niter > 0) kcp.niter = p.centroid_niter;
    if (p.centroid_max_points_per_centroid > 0) kcp.max_points_per_centroid = p.centroid_max_points_per_centroid;
    faiss::Clustering km(static_cast<int>(d), K, kcp);
    try {
      km.train(n, x, q);
    } catch (const faiss::FaissException& e) {
      FLASHGMM_THROW("k-means for the IVF centroids failed: " << e.what());
    }
    if (p.refine_centroids && p.assign.rule == SpillRule::neighbors &&
        std::min<idx_t>(n, static_cast<idx_t>(kcp.max_points_per_centroid) * K) >= min_neighbor_batch(K)) {
      std::vector<float> xs;  // the rows k-means may use: at most max_points_per_centroid per list
      const idx_t ns = sample_rows(n, x, d, static_cast<idx_t>(kcp.max_points_per_centroid) * K,
                                   static_cast<std::uint64_t>(p.cp.seed) + 104729ULL, xs);
      MultiAssignParams ra = p.assign;
      ra.pseudo_query_fraction = p.refine_pseudo_query_fraction;
      refine_centroids(q, ra, ns, xs.empty() ? x : xs.data());
    }
    centroids.assign(q.get_xb(), q.get_xb() + static_cast<size_t>(K) * d);
    clus.centroids = centroids;  // → means_init
  }
  q.reset();
  clus.train(n, x, q);  // leaves the mixture's means in q
  IvfTraining out;
  if (centroids.empty()) {
    centroids.assign(q.get_xb(), q.get_xb() + static_cast<size_t>(K) * d);
  } else {  // the quantizer keeps the (refined) k-means centroids
    q.reset();
    q.add(K, centroids.data());
  }
  out.centroids = std::move(centroids);
  out.mixture = clus.release_mixture();
  out.stats = clus.iteration_stats;
  out.assign = p.assign;
  calibrate_soar(q, out.assign, n, x, static_cast<std::uint64_t>(p.cp.seed));
  out.seconds = seconds_since(t0);
  return out;
}

IvfTraining train_ivf(faiss::IndexIVF& ivf, idx_t n, const float* x, const GmmIvfParams& p) {
  p.validate();
  FLASHGMM_CHECK(x != nullptr && n > 0, "train_ivf: no training vectors");
  FLASHGMM_CHECK(ivf.metric_type == faiss::METRIC_L2, "train_ivf: only METRIC_L2 IVF indexes are supported");
  FLASHGMM_CHECK(ivf.ntotal == 0, "train_ivf: the index already holds " << ivf.ntotal << " vectors");
  auto* q = dynamic_cast<faiss::IndexFlat*>(ivf.quantizer);
  FLASHGMM_CHECK(q != nullptr && q->metric_type == faiss::METRIC_L2,
                 "train_ivf: the IVF coarse quantizer must be a flat L2 index (factory key 'IVF<nlist>,...')");
  const auto t0 = std::chrono::steady_clock::now();
  IvfTraining out = train_centroids(ivf.d, static_cast<idx_t>(ivf.nlist), n, x, p);
  q->reset();
  q->add(static_cast<idx_t>(ivf.nlist), out.centroids.data());
  // The quantizer is trained and holds nlist centroids, so IndexIVF::train skips clustering and
  // only trains the residual codec (PQ / SQ).
  try {
    ivf.is_trained = false;
    ivf.train(n, x);
  } catch (const faiss::FaissException& e) {
    FLASHGMM_THROW("training the IVF codec failed: " << e.what());
  }
  out.seconds = seconds_since(t0);
  return out;
}

void assign_for_add(const faiss::Index& quantizer, const GaussianMixture& mixture, MultiAssignParams& assign, idx_t n,
                    const float* x, std::uint64_t seed,
                    const std::function<void(idx_t, idx_t, const idx_t*)>& take_batch) {
  FLASHGMM_CHECK(n >= 0, "add: negative row count " << n);
  if (n == 0) return;
  FLASHGMM_CHECK(x != nullptr, "add: vectors are null");
  assign.validate();
  calibrate_soar(quantizer, assign, n, x, seed);  // only when not calibrated yet
  const int m = assign.max_copies;
  const idx_t d = quantizer.d;
  // The neighbors rule assigns the call in as few equal batches as its memory bound allows (its
  // rows are one another's queries); the other rules chunk by chunk.
  const idx_t batch = assign.rule == SpillRule::neighbors ? neighbor_batch_rows(assign, n, d, quantizer.ntotal)
                                                          : std::min<idx_t>(assign.chunk_rows, n);
  std::vector<idx_t> lists(static_cast<size_t>(std::min(batch, n) * m));
  for (idx_t b0 = 0; b0 < n; b0 += batch) {
    const idx_t nb = std::min(batch, n - b0);
    assign_lists(mixture, quantizer, x + b0 * d, nb, assign, lists.data());
    take_batch(b0, nb, lists.data());
  }
}

std::int64_t add_multi(faiss::IndexIVF& ivf, const GaussianMixture& mixture, MultiAssignParams& assign,
                       IvfBookkeeping& book, idx_t n, const float* x, const idx_t* ids, std::uint64_t seed) {
  FLASHGMM_CHECK(ivf.is_trained, "add: the index is not trained");
  FLASHGMM_CHECK(n >= 0, "add: negative row count " << n);
  if (n == 0) return 0;
  FLASHGMM_CHECK(x != nullptr, "add: vectors are null");
  assign.validate();
  sync_bookkeeping(ivf, book);
  // Ids are int64: sequential ids must not run past its end, nor may a given id leave no room
  // for the next one (signed overflow is undefined).
  constexpr idx_t kMaxId = std::numeric_limits<idx_t>::max() - 1;
  FLASHGMM_CHECK(ids || book.next_id <= kMaxId - (n - 1),
                 "add: sequential ids from " << book.next_id << " would overflow int64");
  for (idx_t i = 0; ids && i < n; ++i) {
    FLASHGMM_CHECK(ids[i] >= 0, "add_with_ids: negative id " << ids[i]);
    FLASHGMM_CHECK(ids[i] <= kMaxId, "add_with_ids: id " << ids[i] << " is too large (max " << kMaxId << ")");
  }
  if (assign.max_copies > 1 && ivf.direct_map.type != faiss::DirectMap::NoMap)
    FLASHGMM_THROW("add: an index with a direct map cannot store a vector twice; use max_copies = 1");
  const int m = assign.max_copies;
  const std::int64_t d = ivf.d;
  // Copies are written chunk by chunk of each assigned batch.
  const std::int64_t chunk = std::min<std::int64_t>(assign.chunk_rows, n);
  std::vector<idx_t> xid, xl;
  std::vector<float> xs;
  std::int64_t entries = 0;
  assign_for_add(*ivf.quantizer, mixture, assign, n, x, seed, [&](idx_t b0, idx_t nb, const idx_t* lists) {
    for (std::int64_t c0 = 0; c0 < nb; c0 += chunk) {
      const std::int64_t nc = std::min(chunk, nb - c0);
      xs.clear();
      xid.clear();
      xl.clear();
      for (std::int64_t i = c0; i < c0 + nc; ++i) {
        const idx_t id = ids ? ids[b0 + i] : book.next_id + b0 + i;
        for (int j = 0; j < m; ++j) {
          const idx_t l = lists[i * m + j];
          if (l < 0) continue;
          xs.insert(xs.end(), x + (b0 + i) * d, x + (b0 + i + 1) * d);
          xid.push_back(id);
          xl.push_back(l);
        }
      }
      try {
        // add_core with precomputed lists: each copy is encoded against its own list's centroid
        // (IVFPQ / IVFSQ residuals), and IndexIVF::ntotal counts every copy.
        ivf.add_core(static_cast<idx_t>(xid.size()), xs.data(), xid.data(), xl.data());
      } catch (const faiss::FaissException& e) {
        FLASHGMM_THROW("adding to the IVF index failed: " << e.what());
      }
      entries += static_cast<std::int64_t>(xid.size());
    }
  });
  idx_t max_id = book.next_id - 1;
  for (idx_t i = 0; ids && i < n; ++i) max_id = std::max(max_id, ids[i]);
  book.entries = ivf.ntotal;
  book.n_vectors += n;
  book.next_id = ids ? std::max(book.next_id, max_id + 1) : book.next_id + n;
  book.max_copies_stored = std::max(book.max_copies_stored, m);
  return entries;
}

std::int64_t keep_distinct_topk(idx_t n, idx_t kf, const float* d_in, const idx_t* i_in, idx_t k, float* distances,
                                idx_t* labels) {
  std::int64_t dropped = 0;
#pragma omp parallel for schedule(static) if (n > 64) reduction(+ : dropped)
  for (idx_t i = 0; i < n; ++i) {
    float* dout = distances + i * k;
    idx_t* lout = labels + i * k;
    idx_t w = 0;
    for (idx_t j = 0; j < kf && w < k; ++j) {
      const idx_t id = i_in[i * kf + j];
      if (id < 0) break;  // heap results are sorted: −1 only at the end
      if (std::find(lout, lout + w, id) != lout + w) {
        ++dropped;
        continue;
      }
      lout[w] = id;
      dout[w] = d_in[i * kf + j];
      ++w;
    }
    for (; w < k; ++w) {
      lout[w] = -1;
      dout[w] = std::numeric_limits<float>::max();
    }
  }
  return dropped;
}

void search_distinct(const faiss::IndexIVF& ivf, idx_t n, const float* x, idx_t k, int nprobe, int max_copies,
                     float* distances, idx_t* labels, SearchStats* stats) {
  FLASHGMM_CHECK(ivf.is_trained, "search: the IVF index is not trained");
  FLASHGMM_CHECK(k >= 1, "search: k must be >= 1, got " << k);
  FLASHGMM_CHECK(max_copies >= 1, "search: max_copies must be >= 1, got " << max_copies);
  FLASHGMM_CHECK(n >= 0 && (n == 0 || (x && distances && labels)), "search: null buffers");
  const auto t0 = std::chrono::steady_clock::now();
  const idx_t np = probe_count(ivf, nprobe);
  // Each id is stored at most max_copies times, so the best k·m entries hold the best copy of
  // each of the k nearest distinct ids (only copies of better ids can rank above it).
  const idx_t kf = k * max_copies;
  const idx_t d = ivf.d;
  constexpr idx_t kBatch = 4096;  // bounds the over-fetch buffers
  std::vector<idx_t> keys, it;
  std::vector<float> coarse, dt;
  faiss::SearchParametersIVF sp;
  sp.nprobe = static_cast<size_t>(np);
  sp.max_codes = ivf.max_codes;
  SearchStats acc;
  for (idx_t b0 = 0; b0 < n; b0 += kBatch) {
    const idx_t nb = std::min(kBatch, n - b0);
    const float* xb = x + b0 * d;
    keys.resize(static_cast<size_t>(nb * np));
    coarse.resize(keys.size());
    dt.resize(static_cast<size_t>(nb * kf));
    it.resize(dt.size());
    faiss::IndexIVFStats st;
    try {
      ivf.quantizer->search(nb, xb, np, coarse.data(), keys.data());
      ivf.search_preassigned(nb, xb, kf, keys.data(), coarse.data(), dt.data(), it.data(), false, &sp, &st);
    } catch (const faiss::FaissException& e) {
      FLASHGMM_THROW("FAISS search failed: " << e.what());
    }
    acc.ndis += static_cast<std::int64_t>(st.ndis);
    for (idx_t key : keys) acc.lists_probed += key >= 0;
    const std::int64_t dropped = keep_distinct_topk(nb, kf, dt.data(), it.data(), k, distances + b0 * k, labels + b0 * k);
    acc.duplicates_removed += dropped;
  }
  acc.nq = n;
  acc.seconds = seconds_since(t0);
  if (stats) {
    stats->nq += acc.nq;
    stats->ndis += acc.ndis;
    stats->lists_probed += acc.lists_probed;
    stats->duplicates_removed += acc.duplicates_removed;
    stats->seconds += acc.seconds;
  }
}

}  // namespace flashgmm::ivf
