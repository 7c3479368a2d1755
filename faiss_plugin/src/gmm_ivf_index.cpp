#include "flashgmm_faiss/gmm_ivf_index.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <random>
#include <unordered_set>

#include <unistd.h>

#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>

#include "flashgmm/error.hpp"
#include "flashgmm_faiss/gmm_clustering.hpp"
#include "sidecar.hpp"

namespace flashgmm::ivf {

namespace {

const faiss::IndexFlat& flat_quantizer(const faiss::IndexIVF& ivf) {
  const auto* q = dynamic_cast<const faiss::IndexFlat*>(ivf.quantizer);
  FLASHGMM_CHECK(q != nullptr, "the IVF coarse quantizer must be a flat index (factory key 'IVF<nlist>,...')");
  return *q;
}

std::uint64_t centroid_fingerprint(const faiss::IndexIVF& ivf) {
  const faiss::IndexFlat& q = flat_quantizer(ivf);
  return fnv1a64(q.get_xb(), static_cast<size_t>(q.ntotal) * static_cast<size_t>(q.d) * sizeof(float));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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

GmmIvfIndex::GmmIvfIndex(int d, const std::string& factory_key, GmmIvfParams params) : params_(std::move(params)) {
  FLASHGMM_CHECK(d >= 1, "GmmIvfIndex: dimension must be >= 1, got " << d);
  params_.assign.validate();
  params_.routing.validate();
  std::unique_ptr<faiss::Index> idx;
  try {
    idx.reset(faiss::index_factory(d, factory_key.c_str(), faiss::METRIC_L2));
  } catch (const faiss::FaissException& e) {
    FLASHGMM_THROW("invalid FAISS index key '" << factory_key << "': " << e.what());
  }
  auto* ivf = dynamic_cast<faiss::IndexIVF*>(idx.get());
  FLASHGMM_CHECK(ivf != nullptr, "index key '" << factory_key
                                              << "' does not make an IVF index (expected e.g. 'IVF1024,Flat', "
                                                 "'IVF1024,PQ16', 'IVF1024,SQ8')");
  flat_quantizer(*ivf);
  idx.release();
  ivf_.reset(ivf);
}

GmmIvfIndex::GmmIvfIndex(std::unique_ptr<faiss::IndexIVF> ivf, GaussianMixture mixture, GmmIvfParams params,
                         std::int64_t n_vectors, std::int64_t next_id)
    : ivf_(std::move(ivf)), params_(std::move(params)), n_vectors_(n_vectors), next_id_(next_id) {
  FLASHGMM_CHECK(ivf_ != nullptr, "GmmIvfIndex: null IVF index");
  FLASHGMM_CHECK(ivf_->metric_type == faiss::METRIC_L2, "GmmIvfIndex: only METRIC_L2 IVF indexes are supported");
  FLASHGMM_CHECK(mixture.fitted(), "GmmIvfIndex: the mixture is not fitted");
  const Model& m = mixture.model();
  FLASHGMM_CHECK(m.dim == ivf_->d && static_cast<size_t>(m.n_components) == ivf_->nlist,
                 "GmmIvfIndex: mixture (d=" << m.dim << ", K=" << m.n_components << ") does not match the IVF index (d="
                                            << ivf_->d << ", nlist=" << ivf_->nlist << ")");
  FLASHGMM_CHECK(ivf_->quantizer->ntotal == static_cast<faiss::Index::idx_t>(ivf_->nlist),
                 "GmmIvfIndex: the IVF quantizer holds " << ivf_->quantizer->ntotal << " centroids, expected "
                                                         << ivf_->nlist);
  params_.assign.validate();
  params_.routing.validate();
  mixture_ = std::make_unique<GaussianMixture>(std::move(mixture));
  max_copies_stored_ = std::max(1, params_.assign.max_copies);
  install_quantizer();
}

GmmIvfIndex::~GmmIvfIndex() = default;
GmmIvfIndex::GmmIvfIndex(GmmIvfIndex&&) noexcept = default;
GmmIvfIndex& GmmIvfIndex::operator=(GmmIvfIndex&&) noexcept = default;

int GmmIvfIndex::dim() const { return static_cast<int>(ivf_->d); }
std::int64_t GmmIvfIndex::nlist() const { return static_cast<std::int64_t>(ivf_->nlist); }
std::int64_t GmmIvfIndex::n_entries() const { return ivf_->ntotal; }
double GmmIvfIndex::imbalance_factor() const { return ivf_->invlists->imbalance_factor(); }
bool GmmIvfIndex::is_trained() const { return mixture_ != nullptr && ivf_->is_trained; }

const GaussianMixture& GmmIvfIndex::mixture() const {
  FLASHGMM_CHECK(mixture_ != nullptr, "GmmIvfIndex: not trained");
  return *mixture_;
}

void GmmIvfIndex::install_quantizer() {
  const faiss::IndexFlat& old = flat_quantizer(*ivf_);
  auto q = std::make_unique<GmmQuantizer>(mixture_->model(), params_.routing, old.get_xb());
  if (ivf_->own_fields) delete ivf_->quantizer;
  ivf_->quantizer = q.release();
  ivf_->own_fields = true;
}

void GmmIvfIndex::set_routing(const RoutingParams& r) {
  r.validate();
  params_.routing = r;
  if (mixture_) install_quantizer();
}

void GmmIvfIndex::set_assign(const MultiAssignParams& a) {
  a.validate();
  params_.assign = a;
}

void GmmIvfIndex::train(idx_t n, const float* x) {
  FLASHGMM_CHECK(!is_trained(), "GmmIvfIndex::train: already trained");
  FLASHGMM_CHECK(x != nullptr && n > 0, "GmmIvfIndex::train: no training vectors");
  const auto t0 = std::chrono::steady_clock::now();
  GmmClustering clus(dim(), static_cast<int>(ivf_->nlist), params_.cp, params_.gmm);
  std::vector<float> kmeans_centroids;
  if (params_.centroids == CentroidSource::kmeans) {
    // What IndexIVF::train would do (same ClusteringParameters, so the same centroids), then EM
    // starts from them.
    faiss::Clustering km(dim(), static_cast<int>(ivf_->nlist), params_.cp);
    ivf_->quantizer->reset();
    try {
      km.train(n, x, *ivf_->quantizer);
    } catch (const faiss::FaissException& e) {
      FLASHGMM_THROW("k-means for the IVF centroids failed: " << e.what());
    }
    kmeans_centroids = km.centroids;
    clus.centroids = km.centroids;  // → means_init
  }
  ivf_->quantizer->reset();
  clus.train(n, x, *ivf_->quantizer);
  if (!kmeans_centroids.empty()) {  // the quantizer keeps the k-means centroids
    ivf_->quantizer->reset();
    ivf_->quantizer->add(static_cast<idx_t>(ivf_->nlist), kmeans_centroids.data());
  }
  mixture_ = std::make_unique<GaussianMixture>(clus.release_mixture());
  train_stats_ = clus.iteration_stats;
  install_quantizer();
  // The quantizer is trained and holds nlist centroids, so IndexIVF::train skips clustering and
  // only trains the residual codec (PQ / SQ).
  try {
    ivf_->train(n, x);
  } catch (const faiss::FaissException& e) {
    FLASHGMM_THROW("training the IVF codec failed: " << e.what());
  }
  calibrate_spill(n, x);
  train_seconds_ = seconds_since(t0);
}

void GmmIvfIndex::calibrate_spill(idx_t n, const float* x) {
  MultiAssignParams& ap = params_.assign;
  if (ap.rule != SpillRule::soar || ap.max_copies < 2 || ap.spill_threshold > 0 || n <= 0) return;
  // A random sample (data files are often sorted, e.g. by word frequency): the quantile of 64k
  // keys is within ~0.3 % of the spill fraction.
  constexpr idx_t kSample = 65536;
  const std::int64_t d = dim();
  std::vector<float> xs;
  const float* xp = x;
  idx_t ns = n;
  if (n > kSample) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(params_.cp.seed) + 7919ULL);
    std::uniform_int_distribution<idx_t> pick(0, n - 1);
    xs.resize(static_cast<size_t>(kSample * d));
    for (idx_t i = 0; i < kSample; ++i) {
      const idx_t r = pick(rng);
      std::copy(x + r * d, x + (r + 1) * d, xs.begin() + i * d);
    }
    xp = xs.data();
    ns = kSample;
  }
  ap.spill_threshold = calibrate_spill_threshold(*ivf_->quantizer, xp, ns, ap);
}

void GmmIvfIndex::add(idx_t n, const float* x) { add_impl(n, x, nullptr); }

void GmmIvfIndex::add_with_ids(idx_t n, const float* x, const idx_t* ids) {
  FLASHGMM_CHECK(ids != nullptr || n == 0, "GmmIvfIndex::add_with_ids: ids are null");
  add_impl(n, x, ids);
}

void GmmIvfIndex::add_impl(idx_t n, const float* x, const idx_t* ids) {
  FLASHGMM_CHECK(is_trained(), "GmmIvfIndex::add: the index is not trained");
  FLASHGMM_CHECK(n >= 0, "GmmIvfIndex::add: negative row count " << n);
  if (n == 0) return;
  FLASHGMM_CHECK(x != nullptr, "GmmIvfIndex::add: vectors are null");
  // Ids are int64: sequential ids must not run past its end, nor may a given id leave no room
  // for the next one (signed overflow is undefined).
  constexpr idx_t kMaxId = std::numeric_limits<idx_t>::max() - 1;
  FLASHGMM_CHECK(ids || next_id_ <= kMaxId - (n - 1),
                 "GmmIvfIndex::add: sequential ids from " << next_id_ << " would overflow int64");
  if (ids)
    for (idx_t i = 0; i < n; ++i)
      FLASHGMM_CHECK(ids[i] <= kMaxId, "GmmIvfIndex::add_with_ids: id " << ids[i] << " is too large (max "
                                                                    << kMaxId << ")");
  calibrate_spill(n, x);  // only when not calibrated yet (index adopted, or set_assign)
  const MultiAssignParams& ap = params_.assign;
  const int m = ap.max_copies;
  const std::int64_t d = dim();
  const std::int64_t chunk = std::min<std::int64_t>(ap.chunk_rows, n);
  std::vector<idx_t> lists(static_cast<size_t>(chunk * m));
  std::vector<float> xs;
  std::vector<idx_t> xid, xl;
  idx_t max_id = next_id_ - 1;
  for (std::int64_t c0 = 0; c0 < n; c0 += chunk) {
    const std::int64_t nc = std::min(chunk, n - c0);
    const float* xc = x + c0 * d;
    assign_lists(*mixture_, *ivf_->quantizer, xc, nc, ap, lists.data());
    xs.clear();
    xid.clear();
    xl.clear();
    for (std::int64_t i = 0; i < nc; ++i) {
      const idx_t id = ids ? ids[c0 + i] : next_id_ + c0 + i;
      FLASHGMM_CHECK(id >= 0, "GmmIvfIndex::add_with_ids: negative id " << id);
      max_id = std::max(max_id, id);
      for (int j = 0; j < m; ++j) {
        const idx_t l = lists[static_cast<size_t>(i * m + j)];
        if (l < 0) continue;
        xs.insert(xs.end(), xc + i * d, xc + (i + 1) * d);
        xid.push_back(id);
        xl.push_back(l);
      }
    }
    try {
      // add_core with precomputed lists: each copy is encoded against its own list's centroid
      // (IVFPQ / IVFSQ residuals), and IndexIVF::ntotal counts every copy.
      ivf_->add_core(static_cast<idx_t>(xid.size()), xs.data(), xid.data(), xl.data());
    } catch (const faiss::FaissException& e) {
      FLASHGMM_THROW("adding to the IVF index failed: " << e.what());
    }
  }
  n_vectors_ += n;
  next_id_ = ids ? std::max(next_id_, max_id + 1) : next_id_ + n;
  max_copies_stored_ = std::max(max_copies_stored_, m);
}

std::size_t GmmIvfIndex::remove_ids(const faiss::IDSelector& sel) {
  std::unordered_set<idx_t> hit;
  const faiss::InvertedLists* il = ivf_->invlists;
  for (size_t l = 0; l < il->nlist; ++l) {
    faiss::InvertedLists::ScopedIds list_ids(il, l);
    const size_t sz = il->list_size(l);
    for (size_t j = 0; j < sz; ++j)
      if (sel.is_member(list_ids[j])) hit.insert(list_ids[j]);
  }
  ivf_->remove_ids(sel);  // scans every list: removes all copies and lowers ntotal by their count
  n_vectors_ -= static_cast<std::int64_t>(hit.size());
  return hit.size();
}

void search_distinct(const faiss::IndexIVF& ivf, faiss::Index::idx_t n, const float* x, faiss::Index::idx_t k,
                     int nprobe, int max_copies, float* distances, faiss::Index::idx_t* labels, SearchStats* stats) {
  using idx_t = faiss::Index::idx_t;
  FLASHGMM_CHECK(ivf.is_trained, "search: the IVF index is not trained");
  FLASHGMM_CHECK(k >= 1, "search: k must be >= 1, got " << k);
  FLASHGMM_CHECK(max_copies >= 1, "search: max_copies must be >= 1, got " << max_copies);
  FLASHGMM_CHECK(n >= 0 && (n == 0 || (x && distances && labels)), "search: null buffers");
  const auto t0 = std::chrono::steady_clock::now();
  const idx_t np = std::min<idx_t>(nprobe > 0 ? nprobe : static_cast<idx_t>(ivf.nprobe), static_cast<idx_t>(ivf.nlist));
  // Each id is stored at most max_copies times, so the best k·m entries hold the best copy of
  // each of the k nearest distinct ids (only copies of better ids can rank above it).
  const idx_t kf = k * max_copies;
  const idx_t d = ivf.d;
  constexpr idx_t kBatch = 4096;
  std::vector<idx_t> keys, it;
  std::vector<float> coarse, dt;
  faiss::SearchParametersIVF sp;
  sp.nprobe = static_cast<size_t>(np);
  SearchStats acc;
  for (idx_t b0 = 0; b0 < n; b0 += kBatch) {
    const idx_t nb = std::min(kBatch, n - b0);
    const float* xb = x + b0 * d;
    keys.resize(static_cast<size_t>(nb * np));
    coarse.resize(keys.size());
    dt.resize(static_cast<size_t>(nb * kf));
    it.resize(dt.size());
    ivf.quantizer->search(nb, xb, np, coarse.data(), keys.data());
    faiss::IndexIVFStats st;
    ivf.search_preassigned(nb, xb, kf, keys.data(), coarse.data(), dt.data(), it.data(), false, &sp, &st);
    acc.ndis += static_cast<std::int64_t>(st.ndis);
    for (idx_t key : keys) acc.lists_probed += key >= 0;
#pragma omp parallel for schedule(static) if (nb > 64)
    for (idx_t i = 0; i < nb; ++i) {
      float* dout = distances + (b0 + i) * k;
      idx_t* lout = labels + (b0 + i) * k;
      idx_t w = 0;
      for (idx_t j = 0; j < kf && w < k; ++j) {
        const idx_t id = it[static_cast<size_t>(i * kf + j)];
        if (id < 0) break;  // heap results are sorted: −1 only at the end
        if (std::find(lout, lout + w, id) != lout + w) continue;
        lout[w] = id;
        dout[w] = dt[static_cast<size_t>(i * kf + j)];
        ++w;
      }
      for (; w < k; ++w) {
        lout[w] = -1;
        dout[w] = std::numeric_limits<float>::max();
      }
    }
  }
  acc.nq = n;
  acc.seconds = seconds_since(t0);
  if (stats) {
    stats->nq += acc.nq;
    stats->ndis += acc.ndis;
    stats->lists_probed += acc.lists_probed;
    stats->seconds += acc.seconds;
  }
}

void GmmIvfIndex::search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels, int nprobe,
                         SearchStats* stats) const {
  FLASHGMM_CHECK(is_trained(), "GmmIvfIndex::search: the index is not trained");
  search_distinct(*ivf_, n, x, k, nprobe, max_copies_stored_, distances, labels, stats);
}

void GmmIvfIndex::save(const std::string& path) const {
  FLASHGMM_CHECK(is_trained(), "GmmIvfIndex::save: the index is not trained");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    faiss::write_index(ivf_.get(), tmp.c_str());
  } catch (const faiss::FaissException& e) {
    std::remove(tmp.c_str());
    FLASHGMM_THROW("cannot write FAISS index '" << path << "': " << e.what());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    FLASHGMM_THROW("cannot rename '" << tmp << "' to '" << path << "'");
  }
  Sidecar s;
  s.dim = dim();
  s.nlist = nlist();
  s.ntotal = n_entries();
  s.n_vectors = n_vectors_;
  s.next_id = next_id_;
  s.max_copies_stored = max_copies_stored_;
  s.assign = params_.assign;
  s.routing = params_.routing;
  s.centroid_fingerprint = centroid_fingerprint(*ivf_);
  s.model = mixture_->model();
  write_sidecar(sidecar_path(path), s);
}

GmmIvfIndex GmmIvfIndex::load(const std::string& path) {
  std::unique_ptr<faiss::Index> idx;
  try {
    idx.reset(faiss::read_index(path.c_str()));
  } catch (const faiss::FaissException& e) {
    FLASHGMM_THROW("cannot read FAISS index '" << path << "': " << e.what());
  }
  auto* ivf = dynamic_cast<faiss::IndexIVF*>(idx.get());
  FLASHGMM_CHECK(ivf != nullptr, "'" << path << "' is not an IVF index");
  const std::string sp = sidecar_path(path);
  Sidecar s = read_sidecar(sp);
  FLASHGMM_CHECK(s.dim == ivf->d && s.nlist == static_cast<std::int64_t>(ivf->nlist),
                 "GMM sidecar '" << sp << "' does not match '" << path << "': sidecar d=" << s.dim << ", nlist="
                                 << s.nlist << "; index d=" << ivf->d << ", nlist=" << ivf->nlist);
  FLASHGMM_CHECK(s.ntotal == ivf->ntotal, "GMM sidecar '" << sp << "' does not match '" << path << "': it records "
                                                          << s.ntotal << " list entries, the index holds "
                                                          << ivf->ntotal);
  FLASHGMM_CHECK(ivf->quantizer->ntotal == s.nlist && s.centroid_fingerprint == centroid_fingerprint(*ivf),
                 "GMM sidecar '" << sp << "' does not match '" << path << "': different centroids");
  GmmIvfParams p;
  p.gmm.n_components = s.model.n_components;
  p.gmm.covariance_type = s.model.covariance_type;
  p.assign = s.assign;
  p.routing = s.routing;
  GaussianMixture gm(p.gmm);
  gm.set_model(std::move(s.model));
  idx.release();
  GmmIvfIndex out(std::unique_ptr<faiss::IndexIVF>(ivf), std::move(gm), p, s.n_vectors, s.next_id);
  out.max_copies_stored_ = s.max_copies_stored;
  return out;
}

}  // namespace flashgmm::ivf
