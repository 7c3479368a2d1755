// flashgmm._core FAISS part: the plugin's operations on FAISS objects made in Python (python3-faiss).
//
// Python passes a FAISS object as its C++ address, int(obj.this); Python owns the object and
// keeps it alive during the call. The plugin's borrowed-index API (flashgmm_faiss/ivf_ops.hpp:
// train_ivf, add_multi, search_distinct, range_search_distinct — what GmmIvfIndex runs on its own index) does the work;
// the per-index state (mixture, assignment rule, id counter, copies stored) lives here in
// IvfState. Queries are routed by L2 (the quantizer stays the index's own IndexFlatL2). The
// sidecar file is the plugin's format, so C++ (GmmIvfIndex::load, flashgmm-ivf) reads what
// Python writes and back.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/invlists/InvertedLists.h>

#include "bindings.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm/model.hpp"
#include "flashgmm_faiss/gmm_clustering.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"
#include "flashgmm_faiss/ivf_ops.hpp"
#include "flashgmm_faiss/multi_assign.hpp"
#include "sidecar.hpp"  // the plugin's sidecar format (faiss_plugin/src)

namespace flashgmm_py {

namespace {

namespace fi = flashgmm::ivf;
using idx_t = faiss::Index::idx_t;
using FloatRows = py::array_t<float, py::array::c_style | py::array::forcecast>;
using IdArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

faiss::Index* index_at(std::uintptr_t address) {
  if (address == 0) throw py::value_error("null FAISS index pointer");
  return reinterpret_cast<faiss::Index*>(address);
}

// The IVF index at `address` (dynamic_cast works across the two FAISS copies: same type names).
faiss::IndexIVF* ivf_at(std::uintptr_t address) {
  auto* ivf = dynamic_cast<faiss::IndexIVF*>(index_at(address));
  if (!ivf) throw py::type_error("index must be a faiss.IndexIVF (IndexIVFFlat, IndexIVFPQ, IndexIVFScalarQuantizer, ...)");
  if (ivf->metric_type != faiss::METRIC_L2) throw flashgmm::Error("only METRIC_L2 IVF indexes are supported");
  if (!dynamic_cast<const faiss::IndexFlat*>(ivf->quantizer))
    throw flashgmm::Error("the IVF coarse quantizer must be a flat index (faiss.IndexFlatL2)");
  return ivf;
}

// Rows of d float32 values (the Python layer makes them C-contiguous float32).
std::int64_t rows_of(const FloatRows& x, std::int64_t d, const char* name) {
  if (x.ndim() != 2 || x.shape(1) != d)
    throw py::value_error(std::string(name) + " must have shape (n, " + std::to_string(d) + ")");
  return x.shape(0);
}

std::uint64_t centroid_fingerprint(const faiss::IndexIVF& ivf) {
  const auto& q = dynamic_cast<const faiss::IndexFlat&>(*ivf.quantizer);
  return fi::fnv1a64(q.get_xb(), static_cast<size_t>(q.ntotal) * static_cast<size_t>(q.d) * sizeof(float));
}

// What flashgmm keeps beside a Python-made IndexIVF (GmmIvfIndex's bookkeeping).
struct IvfState {
  flashgmm::GaussianMixture mixture;
  fi::MultiAssignParams assign;
  fi::RoutingParams routing;        // kept for the sidecar; searches here route by L2
  fi::IvfBookkeeping book;          // distinct ids, next sequential id, copies stored
  std::uint64_t seed = 1234;        // of the soar calibration sample
};

py::list stats_list(const std::vector<faiss::ClusteringIterationStats>& st) {
  py::list out;
  for (const auto& s : st) {
    py::dict d;
    d["obj"] = s.obj;
    d["time"] = s.time;
    d["time_search"] = s.time_search;
    d["imbalance_factor"] = s.imbalance_factor;
    d["nsplit"] = s.nsplit;
    out.append(d);
  }
  return out;
}

py::bytes model_bytes(const flashgmm::Model& m) {
  const auto b = flashgmm::serialize_model(m);
  return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
}

void clustering_train(fi::GmmClustering& c, const FloatRows& x, std::uintptr_t index,
                      const std::optional<FloatRows>& w) {
  faiss::Index* idx = index_at(index);
  const std::int64_t n = rows_of(x, c.d, "x");
  const float* wp = nullptr;
  if (w) {
    if (w->ndim() != 1 || w->shape(0) != n) throw py::value_error("weights must have shape (n,)");
    wp = w->data();
  }
  py::gil_scoped_release nogil;
  try {
    c.train(n, x.data(), *idx, wp);
  } catch (const faiss::FaissException& e) {
    throw flashgmm::Error(std::string("FAISS: ") + e.what());
  }
}

// fi::train_ivf with the clustering's parameters (ClusteringParameters fields and EM params) and
// the centroid options; the clustering then reports the index's centroids and the EM statistics.
IvfState train_ivf(std::uintptr_t index, const FloatRows& x, fi::GmmClustering& clus, const std::string& centroids,
                   int centroid_niter, int centroid_max_points, bool refine) {
  faiss::IndexIVF* ivf = ivf_at(index);
  const std::int64_t n = rows_of(x, ivf->d, "x");
  if (clus.k != static_cast<size_t>(ivf->nlist) || clus.d != static_cast<size_t>(ivf->d))
    throw flashgmm::Error("train_ivf: clustering (d, k) does not match the index (d, nlist)");
  fi::GmmIvfParams p;
  p.gmm = clus.gmm;
  p.cp = clus;  // the ClusteringParameters part
  p.centroids = fi::parse_centroid_source(centroids);
  if (centroid_niter >= 0) p.centroid_niter = centroid_niter;
  if (centroid_max_points >= 0) p.centroid_max_points_per_centroid = centroid_max_points;
  p.refine_centroids = refine;
  IvfState st;
  py::gil_scoped_release nogil;
  fi::IvfTraining t = fi::train_ivf(*ivf, n, x.data(), p);
  const auto& q = dynamic_cast<const faiss::IndexFlat&>(*ivf->quantizer);
  clus.centroids.assign(q.get_xb(), q.get_xb() + q.ntotal * q.d);
  clus.iteration_stats = t.stats;
  st.mixture = std::move(t.mixture);
  st.assign = t.assign;
  st.seed = static_cast<std::uint64_t>(p.cp.seed);
  return st;
}

py::dict add_multi(IvfState& st, std::uintptr_t index, const FloatRows& x, const std::optional<IdArray>& ids,
                   int max_copies, float min_posterior, std::int64_t chunk_rows, const std::string& spill,
                   float soar_lambda, int candidates, float spill_fraction, float spill_ratio, int neighbors,
                   float cost_weight, int probe_depth, float pseudo_query_fraction, float max_entries_ratio) {
  faiss::IndexIVF* ivf = ivf_at(index);
  const std::int64_t n = rows_of(x, ivf->d, "x");
  const idx_t* idp = nullptr;
  if (ids) {
    if (ids->ndim() != 1 || ids->shape(0) != n) throw py::value_error("ids must have shape (n,)");
    idp = ids->data();
  }
  fi::MultiAssignParams ap;
  ap.max_copies = max_copies;
  ap.min_posterior = min_posterior;
  if (chunk_rows > 0) ap.chunk_rows = chunk_rows;
  ap.rule = fi::parse_spill_rule(spill);
  ap.soar_lambda = soar_lambda;
  ap.candidates = candidates;
  ap.spill_fraction = spill_fraction;
  ap.spill_ratio = spill_ratio;
  ap.neighbors = neighbors;
  ap.cost_weight = cost_weight;
  ap.probe_depth = probe_depth;
  ap.pseudo_query_fraction = pseudo_query_fraction;
  ap.max_entries_ratio = max_entries_ratio;
  ap.validate();
  // One soar threshold for every add: kept from an earlier add with the same rule, else
  // add_multi calibrates it on (a sample of) these rows.
  const fi::MultiAssignParams& prev = st.assign;
  if (ap.rule == fi::SpillRule::soar && prev.rule == ap.rule && prev.max_copies == ap.max_copies &&
      prev.soar_lambda == ap.soar_lambda && prev.candidates == ap.candidates &&
      prev.spill_fraction == ap.spill_fraction && prev.spill_ratio == ap.spill_ratio && prev.spill_threshold > 0)
    ap.spill_threshold = prev.spill_threshold;
  std::int64_t entries = 0;
  {
    py::gil_scoped_release nogil;
    entries = fi::add_multi(*ivf, st.mixture, ap, st.book, n, x.data(), idp, st.seed);
    st.assign = ap;
  }
  py::dict out;
  out["n"] = n;
  out["entries"] = entries;
  out["copies_per_vector"] = n > 0 ? static_cast<double>(entries) / static_cast<double>(n) : 0.0;
  out["ntotal"] = static_cast<std::int64_t>(ivf->ntotal);
  out["n_vectors"] = st.book.n_vectors;
  return out;
}

// Removes every copy of the selected ids (fi::remove_all_copies): `ids` an int64 array or
// `selector` the address of a Python-made faiss.IDSelector. Returns the distinct ids removed.
std::int64_t remove_ids(IvfState* st, std::uintptr_t index, std::optional<IdArray> ids, std::uintptr_t selector) {
  faiss::IndexIVF* ivf = ivf_at(index);
  std::unique_ptr<faiss::IDSelectorBatch> batch;
  const faiss::IDSelector* sel = reinterpret_cast<const faiss::IDSelector*>(selector);
  if (ids) {
    if (ids->ndim() != 1) throw py::value_error("ids must be a 1-d array");
    batch = std::make_unique<faiss::IDSelectorBatch>(static_cast<size_t>(ids->shape(0)), ids->data());
    sel = batch.get();
  }
  if (sel == nullptr) throw py::value_error("remove_ids: no ids and no selector");
  fi::IvfBookkeeping none;  // an index without flashgmm state: no counts to keep
  none.entries = ivf->ntotal;
  py::gil_scoped_release nogil;
  return fi::remove_all_copies(*ivf, *sel, st ? st->book : none);
}

// What a search did, as Python's stats dict.
py::dict stats_dict(const fi::SearchStats& ss, idx_t nprobe) {
  py::dict stats;
  stats["nq"] = ss.nq;
  stats["nprobe"] = static_cast<std::int64_t>(nprobe);
  stats["ndis"] = ss.ndis;
  stats["lists_probed"] = ss.lists_probed;
  stats["duplicates_removed"] = ss.duplicates_removed;
  stats["seconds"] = ss.seconds;
  return stats;
}

// k nearest distinct ids per query (fi::search_distinct: over-fetch k·max_copies_stored entries,
// keep each id's best copy).
py::tuple search(const IvfState* st, std::uintptr_t index, const FloatRows& q, std::int64_t k, std::int64_t nprobe) {
  const faiss::IndexIVF* ivf = ivf_at(index);
  const std::int64_t n = rows_of(q, ivf->d, "q");
  if (k < 1) throw py::value_error("k must be >= 1, got " + std::to_string(k));
  const idx_t np = fi::probe_count(*ivf, nprobe);
  py::array_t<float> D({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  py::array_t<std::int64_t> I({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  fi::SearchStats ss;
  {
    py::gil_scoped_release nogil;
    fi::search_distinct(*ivf, n, q.data(), k, static_cast<int>(np), st ? st->book.max_copies_stored : 1,
                        D.mutable_data(), I.mutable_data(), &ss);
  }
  return py::make_tuple(D, I, stats_dict(ss, np));
}

// Every distinct id closer than radius, once (fi::range_search_distinct), as FAISS's Python
// range_search returns it: lims uint64 (nq + 1), D float32, I int64.
py::tuple range_search(std::uintptr_t index, const FloatRows& q, float radius, std::int64_t nprobe) {
  const faiss::IndexIVF* ivf = ivf_at(index);
  const std::int64_t n = rows_of(q, ivf->d, "q");
  const idx_t np = fi::probe_count(*ivf, nprobe);
  faiss::RangeSearchResult res(n);
  fi::SearchStats ss;
  {
    py::gil_scoped_release nogil;
    fi::range_search_distinct(*ivf, n, q.data(), radius, static_cast<int>(np), &res, &ss);
  }
  const size_t total = res.lims[n];
  py::array_t<std::uint64_t> lims(static_cast<py::ssize_t>(n + 1));
  py::array_t<float> D(static_cast<py::ssize_t>(total));
  py::array_t<std::int64_t> I(static_cast<py::ssize_t>(total));
  std::copy(res.lims, res.lims + n + 1, lims.mutable_data());
  std::copy(res.distances, res.distances + total, D.mutable_data());
  std::copy(res.labels, res.labels + total, I.mutable_data());
  return py::make_tuple(lims, D, I, stats_dict(ss, np));
}

void write_sidecar(IvfState& st, std::uintptr_t index, const std::string& path) {
  const faiss::IndexIVF* ivf = ivf_at(index);
  fi::sync_bookkeeping(*ivf, st.book);  // the lists may have been changed by FAISS's own add/remove_ids
  fi::Sidecar s;
  s.dim = static_cast<std::int32_t>(ivf->d);
  s.nlist = static_cast<std::int64_t>(ivf->nlist);
  s.ntotal = ivf->ntotal;
  s.n_vectors = st.book.n_vectors;
  s.next_id = st.book.next_id;
  s.max_copies_stored = st.book.max_copies_stored;
  s.assign = st.assign;
  s.routing = st.routing;
  s.centroid_fingerprint = centroid_fingerprint(*ivf);
  s.model = st.mixture.model();
  py::gil_scoped_release nogil;
  fi::write_sidecar(path, s);
}

IvfState read_sidecar(std::uintptr_t index, const std::string& path, const std::string& index_path) {
  const faiss::IndexIVF* ivf = ivf_at(index);
  fi::Sidecar s = fi::read_sidecar(path);
  if (s.dim != ivf->d || s.nlist != static_cast<std::int64_t>(ivf->nlist))
    throw flashgmm::Error("GMM sidecar '" + path + "' does not match '" + index_path + "': sidecar d=" +
                          std::to_string(s.dim) + ", nlist=" + std::to_string(s.nlist) + "; index d=" +
                          std::to_string(ivf->d) + ", nlist=" + std::to_string(ivf->nlist));
  if (s.ntotal != ivf->ntotal)
    throw flashgmm::Error("GMM sidecar '" + path + "' does not match '" + index_path + "': it records " +
                          std::to_string(s.ntotal) + " list entries, the index holds " + std::to_string(ivf->ntotal));
  if (ivf->quantizer->ntotal != s.nlist || s.centroid_fingerprint != centroid_fingerprint(*ivf))
    throw flashgmm::Error("GMM sidecar '" + path + "' does not match '" + index_path + "': different centroids");
  IvfState st;
  flashgmm::Params p;
  p.n_components = s.model.n_components;
  p.covariance_type = s.model.covariance_type;
  st.mixture = flashgmm::GaussianMixture(p);
  st.mixture.set_model(std::move(s.model));
  st.assign = s.assign;
  st.routing = s.routing;
  st.book.n_vectors = s.n_vectors;
  st.book.next_id = s.next_id;
  st.book.max_copies_stored = s.max_copies_stored;
  st.book.entries = s.ntotal;
  return st;
}

}  // namespace

void bind_faiss(py::module_& m) {
  py::class_<fi::GmmClustering>(m, "GmmClustering", "flashgmm::ivf::GmmClustering (a faiss::Clustering)")
      .def(py::init<int, int>(), py::arg("d"), py::arg("k"))
      .def_property_readonly("d", [](const fi::GmmClustering& c) { return c.d; })
      .def_property_readonly("k", [](const fi::GmmClustering& c) { return c.k; })
      .def_readwrite("niter", &fi::GmmClustering::niter)
      .def_readwrite("nredo", &fi::GmmClustering::nredo)
      .def_readwrite("seed", &fi::GmmClustering::seed)
      .def_readwrite("verbose", &fi::GmmClustering::verbose)
      .def_readwrite("min_points_per_centroid", &fi::GmmClustering::min_points_per_centroid)
      .def_readwrite("max_points_per_centroid", &fi::GmmClustering::max_points_per_centroid)
      .def_readwrite("gmm", &fi::GmmClustering::gmm)
      .def("train", &clustering_train, py::arg("x"), py::arg("index"), py::arg("weights") = py::none())
      .def("centroids",
           [](const fi::GmmClustering& c) {
             py::array_t<float> a({static_cast<py::ssize_t>(c.centroids.size() / std::max<size_t>(c.d, 1)),
                                   static_cast<py::ssize_t>(c.d)});
             if (!c.centroids.empty())
               std::memcpy(a.mutable_data(), c.centroids.data(), c.centroids.size() * sizeof(float));
             return a;
           })
      .def("iteration_stats", [](const fi::GmmClustering& c) { return stats_list(c.iteration_stats); })
      .def("mixture_bytes", [](const fi::GmmClustering& c) { return model_bytes(c.mixture().model()); });

  py::class_<IvfState>(m, "IvfState", "flashgmm's state beside a Python-made faiss.IndexIVF")
      .def_property_readonly("n_vectors", [](const IvfState& s) { return s.book.n_vectors; })
      .def_property_readonly("next_id", [](const IvfState& s) { return s.book.next_id; })
      .def_property_readonly("max_copies_stored", [](const IvfState& s) { return s.book.max_copies_stored; })
      .def_property_readonly("max_copies", [](const IvfState& s) { return s.assign.max_copies; })
      .def_property_readonly("min_posterior", [](const IvfState& s) { return s.assign.min_posterior; })
      .def_property_readonly("spill", [](const IvfState& s) { return fi::to_string(s.assign.rule); })
      .def_property_readonly("spill_threshold", [](const IvfState& s) { return s.assign.spill_threshold; })
      .def_property_readonly("routes_by_mixture", [](const IvfState& s) { return s.routing.uses_mixture(); })
      .def("mixture_bytes", [](const IvfState& s) { return model_bytes(s.mixture.model()); });

  const fi::GmmIvfParams dp;
  m.def("ivf_train", &train_ivf, py::arg("index"), py::arg("x"), py::arg("clustering"),
        py::arg("centroids") = fi::to_string(dp.centroids), py::arg("centroid_niter") = -1,
        py::arg("centroid_max_points") = -1, py::arg("refine_centroids") = dp.refine_centroids);
  m.def("ivf_defaults", [dp]() {
    py::dict d;
    d["centroids"] = fi::to_string(dp.centroids);
    d["centroid_niter"] = dp.centroid_niter;
    d["centroid_max_points_per_centroid"] = dp.centroid_max_points_per_centroid;
    d["refine_centroids"] = dp.refine_centroids;
    d["spill"] = fi::to_string(dp.assign.rule);
    d["max_copies"] = dp.assign.max_copies;
    d["min_posterior"] = dp.assign.min_posterior;
    d["max_entries_ratio"] = dp.assign.max_entries_ratio;
    d["refine_pseudo_query_fraction"] = dp.refine_pseudo_query_fraction;
    return d;
  });
  m.def("ivf_add_multi", &add_multi, py::arg("state"), py::arg("index"), py::arg("x"), py::arg("ids"),
        py::arg("max_copies"), py::arg("min_posterior"), py::arg("chunk_rows") = 0,
        py::arg("spill") = fi::to_string(fi::MultiAssignParams().rule),
        py::arg("soar_lambda") = fi::MultiAssignParams().soar_lambda,
        py::arg("candidates") = fi::MultiAssignParams().candidates,
        py::arg("spill_fraction") = fi::MultiAssignParams().spill_fraction,
        py::arg("spill_ratio") = fi::MultiAssignParams().spill_ratio,
        py::arg("neighbors") = fi::MultiAssignParams().neighbors,
        py::arg("cost_weight") = fi::MultiAssignParams().cost_weight,
        py::arg("probe_depth") = fi::MultiAssignParams().probe_depth,
        py::arg("pseudo_query_fraction") = fi::MultiAssignParams().pseudo_query_fraction,
        py::arg("max_entries_ratio") = fi::MultiAssignParams().max_entries_ratio);
  m.def("ivf_search", &search, py::arg("state"), py::arg("index"), py::arg("q"), py::arg("k"), py::arg("nprobe") = 0);
  m.def("ivf_range_search", &range_search, py::arg("index"), py::arg("q"), py::arg("radius"), py::arg("nprobe") = 0);
  m.def("ivf_remove_ids", &remove_ids, py::arg("state"), py::arg("index"), py::arg("ids"), py::arg("selector") = 0);
  m.def("ivf_sync", [](IvfState& st, std::uintptr_t index) { fi::sync_bookkeeping(*ivf_at(index), st.book); },
        py::arg("state"), py::arg("index"));
  m.def("ivf_write_sidecar", &write_sidecar, py::arg("state"), py::arg("index"), py::arg("path"));
  m.def("ivf_read_sidecar", &read_sidecar, py::arg("index"), py::arg("path"), py::arg("index_path"));
  m.def("ivf_sidecar_path", &fi::GmmIvfIndex::sidecar_path);
  m.def("ivf_imbalance_factor", [](std::uintptr_t index) { return ivf_at(index)->invlists->imbalance_factor(); });
  m.def("ivf_list_sizes", [](std::uintptr_t index) {
    const faiss::IndexIVF* ivf = ivf_at(index);
    py::array_t<std::int64_t> a(static_cast<py::ssize_t>(ivf->nlist));
    for (size_t l = 0; l < ivf->nlist; ++l) a.mutable_data()[l] = static_cast<std::int64_t>(ivf->invlists->list_size(l));
    return a;
  });
}

}  // namespace flashgmm_py
