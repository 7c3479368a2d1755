#include "flashgmm_faiss/gmm_ivf_index.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <random>

#include <unistd.h>

#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>

#include "flashgmm/error.hpp"
#include "flashgmm_faiss/gmm_clustering.hpp"
#include "flashgmm_faiss/sidecar.hpp"

namespace flashgmm::ivf {

namespace {

const faiss::IndexFlat& flat_quantizer(const faiss::IndexIVF& ivf) {
  const auto* q = dynamic_cast<const faiss::IndexFlat*>(ivf.quantizer);
  FLASHGMM_CHECK(q != nullptr, "the IVF coarse quantizer must be a flat index (factory key 'IVF<nlist>,...')");
  return *q;
}

std::uint64_t centroid_fingerprint(const faiss::IndexIVF& ivf) {
  const faiss::IndexFlat& q = flat_quantizer(ivf);
  return ivf::centroid_fingerprint(q.get_xb(), q.ntotal, q.d);
}

SidecarTarget sidecar_target(const faiss::IndexIVF& ivf) {
  SidecarTarget t;
  t.d = ivf.d;
  t.nlist = static_cast<std::int64_t>(ivf.nlist);
  t.ntotal = ivf.ntotal;
  t.quantizer_ntotal = ivf.quantizer->ntotal;
  t.centroid_fingerprint = centroid_fingerprint(ivf);
  return t;
}

}  // namespace

GmmIvfIndex::GmmIvfIndex(int d, const std::string& factory_key, GmmIvfParams params) : params_(std::move(params)) {
  FLASHGMM_CHECK(d >= 1, "GmmIvfIndex: dimension must be >= 1, got " << d);
  params_.validate();
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
    : ivf_(std::move(ivf)), params_(std::move(params)) {
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
  // Counts not given for a filled index (the defaults): recounted from the lists when needed.
  const bool unknown = n_vectors == 0 && ivf_->ntotal > 0;
  book_ = IvfBookkeeping{n_vectors, next_id, std::max(1, params_.assign.max_copies), unknown ? -1 : ivf_->ntotal};
  install_quantizer();
}

GmmIvfIndex::~GmmIvfIndex() = default;
GmmIvfIndex::GmmIvfIndex(GmmIvfIndex&&) noexcept = default;
GmmIvfIndex& GmmIvfIndex::operator=(GmmIvfIndex&&) noexcept = default;

int GmmIvfIndex::dim() const { return static_cast<int>(ivf_->d); }
std::int64_t GmmIvfIndex::nlist() const { return static_cast<std::int64_t>(ivf_->nlist); }
std::int64_t GmmIvfIndex::n_entries() const { return ivf_->ntotal; }
std::int64_t GmmIvfIndex::n_vectors() const {
  sync_bookkeeping(*ivf_, book_);
  return book_.n_vectors;
}
std::int64_t GmmIvfIndex::n_added() const {
  sync_bookkeeping(*ivf_, book_);
  return book_.next_id;
}
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
  if (auto* gq = dynamic_cast<GmmQuantizer*>(ivf_->quantizer)) {  // adopted: back to a plain flat quantizer
    auto q = std::make_unique<faiss::IndexFlatL2>(dim());
    if (ivf_->own_fields) delete gq;
    ivf_->quantizer = q.release();
    ivf_->own_fields = true;
  }
  IvfTraining t = train_ivf(*ivf_, n, x, params_);
  mixture_ = std::make_unique<GaussianMixture>(std::move(t.mixture));
  train_stats_ = std::move(t.stats);
  params_.assign = t.assign;
  train_seconds_ = t.seconds;
  install_quantizer();
}

void GmmIvfIndex::add(idx_t n, const float* x) { add_impl(n, x, nullptr); }

void GmmIvfIndex::add_with_ids(idx_t n, const float* x, const idx_t* ids) {
  FLASHGMM_CHECK(ids != nullptr || n == 0, "GmmIvfIndex::add_with_ids: ids are null");
  add_impl(n, x, ids);
}

void GmmIvfIndex::add_impl(idx_t n, const float* x, const idx_t* ids) {
  FLASHGMM_CHECK(is_trained(), "GmmIvfIndex::add: the index is not trained");
  add_multi(*ivf_, *mixture_, params_.assign, book_, n, x, ids, static_cast<std::uint64_t>(params_.cp.seed));
}

std::size_t GmmIvfIndex::remove_ids(const faiss::IDSelector& sel) {
  return static_cast<std::size_t>(remove_all_copies(*ivf_, sel, book_));
}

void GmmIvfIndex::search(idx_t n, const float* x, idx_t k, float* distances, idx_t* labels, int nprobe,
                         SearchStats* stats) const {
  FLASHGMM_CHECK(is_trained(), "GmmIvfIndex::search: the index is not trained");
  search_distinct(*ivf_, n, x, k, nprobe, book_.max_copies_stored, distances, labels, stats);
}

void GmmIvfIndex::range_search(idx_t n, const float* x, float radius, faiss::RangeSearchResult* result, int nprobe,
                               SearchStats* stats) const {
  FLASHGMM_CHECK(is_trained(), "GmmIvfIndex::range_search: the index is not trained");
  range_search_distinct(*ivf_, n, x, radius, nprobe, result, stats);
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
  sync_bookkeeping(*ivf_, book_);
  s.n_vectors = book_.n_vectors;
  s.next_id = book_.next_id;
  s.max_copies_stored = book_.max_copies_stored;
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
  check_sidecar_matches(s, sidecar_target(*ivf), sp, path);
  GmmIvfParams p;
  p.gmm.n_components = s.model.n_components;
  p.gmm.covariance_type = s.model.covariance_type;
  p.assign = s.assign;
  p.routing = s.routing;
  GaussianMixture gm(p.gmm);
  gm.set_model(std::move(s.model));
  idx.release();
  GmmIvfIndex out(std::unique_ptr<faiss::IndexIVF>(ivf), std::move(gm), p, s.n_vectors, s.next_id);
  out.book_.max_copies_stored = s.max_copies_stored;
  return out;
}

}  // namespace flashgmm::ivf
