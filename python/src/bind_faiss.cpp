// flashgmm._core IVF part: the FAISS plugin's work over NumPy arrays, for the Python layer
// (flashgmm/faiss.py) that drives the user's own FAISS objects through FAISS's public Python API.
//
// No pointer to a user's FAISS object enters this module: a PyPI faiss-cpu 1.15 index has
// another C++ layout than the Debian FAISS 1.7.3 this module is built with. What crosses is
// arrays: training rows in, centroids and a fitted mixture out; rows to add in, their list
// numbers out (Python then calls the user's index.add_core); raw search results in,
// de-duplicated results out. The k-means, the neighbour searches of the assignment rules and
// the mixture run here on this module's own FAISS copy and BLAS, on the centroids it was given.
// IvfState is the bookkeeping GmmIvfIndex keeps beside its index: mixture, rule, ids stored.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <faiss/IndexFlat.h>

#include "bindings.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm/model.hpp"
#include "flashgmm_faiss/gmm_clustering.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"
#include "flashgmm_faiss/id_registry.hpp"
#include "flashgmm_faiss/ivf_ops.hpp"
#include "flashgmm_faiss/multi_assign.hpp"
#include "flashgmm_faiss/sidecar.hpp"

namespace flashgmm_py {

namespace {

namespace fi = flashgmm::ivf;
using idx_t = faiss::Index::idx_t;
using FloatRows = py::array_t<float, py::array::c_style | py::array::forcecast>;
using IdArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

// Rows of d float32 values (the Python layer makes them C-contiguous float32).
std::int64_t rows_of(const FloatRows& x, std::int64_t d, const char* name) {
  if (x.ndim() != 2 || x.shape(1) != d)
    throw py::value_error(std::string(name) + " must have shape (n, " + std::to_string(d) + ")");
  return x.shape(0);
}

py::array_t<float> float_matrix(const std::vector<float>& v, std::int64_t rows, std::int64_t cols) {
  py::array_t<float> a({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(float));
  return a;
}

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

flashgmm::GaussianMixture mixture_of(flashgmm::Model model) {
  flashgmm::Params p;
  p.n_components = model.n_components;
  p.covariance_type = model.covariance_type;
  flashgmm::GaussianMixture g(p);
  g.set_model(std::move(model));
  return g;
}

// What flashgmm keeps beside a user's IndexIVF (GmmIvfIndex's bookkeeping), and a flat L2 index of
// its centroids in this module's own FAISS for the assignment rules.
struct IvfState {
  flashgmm::GaussianMixture mixture;
  fi::MultiAssignParams assign;
  fi::RoutingParams routing;        // kept for the sidecar; the Python layer routes by L2
  fi::IvfBookkeeping book;          // distinct ids, next sequential id, copies stored, entries
  fi::IdRegistry ids;               // the distinct ids stored
  std::uint64_t seed = 1234;        // of the soar calibration sample
  std::vector<float> centroids;     // nlist × d, as the user's quantizer holds them
  std::unique_ptr<faiss::IndexFlatL2> quantizer;

  void set_centroids(std::vector<float> c, std::int64_t nlist, std::int64_t d) {
    centroids = std::move(c);
    quantizer = std::make_unique<faiss::IndexFlatL2>(static_cast<idx_t>(d));
    quantizer->add(static_cast<idx_t>(nlist), centroids.data());
  }
  std::int64_t d() const { return quantizer ? quantizer->d : 0; }
  std::int64_t nlist() const { return quantizer ? quantizer->ntotal : 0; }
};

// ------------------------------------------------------------------ training

// GmmClustering over arrays: the mixture fitted on x; returns the centroids (the means), which
// the Python layer puts into the user's index as faiss.Clustering.train would.
py::array_t<float> clustering_train(fi::GmmClustering& c, const FloatRows& x, const std::optional<FloatRows>& w) {
  const std::int64_t n = rows_of(x, c.d, "x");
  const float* wp = nullptr;
  if (w) {
    if (w->ndim() != 1 || w->shape(0) != n) throw py::value_error("weights must have shape (n,)");
    wp = w->data();
  }
  {
    py::gil_scoped_release nogil;
    faiss::IndexFlatL2 q(static_cast<idx_t>(c.d));
    c.train(n, x.data(), q, wp);
  }
  return float_matrix(c.centroids, static_cast<std::int64_t>(c.k), static_cast<std::int64_t>(c.d));
}

// fi::train_centroids with the clustering's parameters (ClusteringParameters fields and EM params)
// and the centroid options. The Python layer then puts state.centroids into the user's quantizer
// and lets the user's FAISS train the codec.
IvfState train(std::int64_t nlist, const FloatRows& x, fi::GmmClustering& clus, const std::string& centroids,
               int centroid_niter, int centroid_max_points, bool refine) {
  const std::int64_t d = static_cast<std::int64_t>(clus.d);
  const std::int64_t n = rows_of(x, d, "x");
  if (clus.k != static_cast<size_t>(nlist))
    throw flashgmm::Error("train_ivf: clustering k does not match the index's nlist");
  fi::GmmIvfParams p;
  p.gmm = clus.gmm;
  p.cp = clus;  // the ClusteringParameters part
  p.centroids = fi::parse_centroid_source(centroids);
  if (centroid_niter >= 0) p.centroid_niter = centroid_niter;
  if (centroid_max_points >= 0) p.centroid_max_points_per_centroid = centroid_max_points;
  p.refine_centroids = refine;
  IvfState st;
  py::gil_scoped_release nogil;
  fi::IvfTraining t = fi::train_centroids(d, nlist, n, x.data(), p);
  clus.centroids = t.centroids;
  clus.iteration_stats = t.stats;
  st.mixture = std::move(t.mixture);
  st.assign = t.assign;
  st.seed = static_cast<std::uint64_t>(p.cp.seed);
  st.set_centroids(std::move(t.centroids), nlist, d);
  return st;
}

// ------------------------------------------------------------------ add

fi::MultiAssignParams assign_params(const IvfState& st, int max_copies, float min_posterior, const std::string& spill,
                                    float soar_lambda, int candidates, float spill_fraction, float spill_ratio,
                                    int neighbors, float cost_weight, int probe_depth, float pseudo_query_fraction,
                                    float max_entries_ratio) {
  fi::MultiAssignParams ap;
  ap.max_copies = max_copies;
  ap.min_posterior = min_posterior;
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
  // calibrated on (a sample of) this call's rows.
  const fi::MultiAssignParams& prev = st.assign;
  if (ap.rule == fi::SpillRule::soar && prev.rule == ap.rule && prev.max_copies == ap.max_copies &&
      prev.soar_lambda == ap.soar_lambda && prev.candidates == ap.candidates &&
      prev.spill_fraction == ap.spill_fraction && prev.spill_ratio == ap.spill_ratio && prev.spill_threshold > 0)
    ap.spill_threshold = prev.spill_threshold;
  return ap;
}

// Refuses ids the index cannot take, before anything is added: negative, too large, repeated
// within the call or already stored; sequential ids that would overflow.
void check_new_ids(const IvfState& st, std::int64_t n, const std::optional<IdArray>& ids) {
  constexpr std::int64_t kMaxId = std::numeric_limits<std::int64_t>::max() - 1;
  if (!ids) {
    if (n > 0 && st.book.next_id > kMaxId - (n - 1))
      throw py::value_error("add: sequential ids from " + std::to_string(st.book.next_id) + " would overflow int64");
    return;
  }
  if (ids->ndim() != 1 || ids->shape(0) != n) throw py::value_error("ids must have shape (" + std::to_string(n) + ",)");
  const std::int64_t* p = ids->data();
  for (std::int64_t i = 0; i < n; ++i) {
    if (p[i] < 0) throw py::value_error("add_with_ids: negative id " + std::to_string(p[i]));
    if (p[i] > kMaxId)
      throw py::value_error("add_with_ids: id " + std::to_string(p[i]) + " is too large (max " +
                            std::to_string(kMaxId) + ")");
  }
  std::vector<std::int64_t> sorted(p, p + n);
  std::sort(sorted.begin(), sorted.end());
  const auto rep = std::adjacent_find(sorted.begin(), sorted.end());
  if (rep != sorted.end())
    throw py::value_error("add_with_ids: id " + std::to_string(*rep) + " appears more than once in this call");
  if (auto held = st.ids.first_held(p, n))
    throw py::value_error("add_with_ids: id " + std::to_string(*held) +
                          " is already stored in the index; remove it first (remove_ids) to replace its vector");
}

// The lists each row of x goes to (n × max_copies int64, −1 where unused), assigned batch by batch
// as GmmIvfIndex's add does; updates the calibrated soar threshold in st.assign.
py::array_t<std::int64_t> assign(IvfState& st, const FloatRows& x, fi::MultiAssignParams ap) {
  if (!st.quantizer) throw flashgmm::Error("the index has no centroids (train it first)");
  const std::int64_t n = rows_of(x, st.d(), "x");
  const int m = ap.max_copies;
  py::array_t<std::int64_t> lists({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(m)});
  std::int64_t* out = lists.mutable_data();
  {
    py::gil_scoped_release nogil;
    fi::assign_for_add(*st.quantizer, st.mixture, ap, n, x.data(), st.seed,
                       [&](idx_t b0, idx_t nb, const idx_t* l) { std::copy(l, l + nb * m, out + b0 * m); });
  }
  st.assign = ap;
  return lists;
}

// After the user's index took the copies: the ids (given, or sequential from next_id) are stored.
void record_add(IvfState& st, std::int64_t n, const std::optional<IdArray>& ids, int max_copies, std::int64_t ntotal) {
  if (ids) {
    const std::int64_t* p = ids->data();
    st.ids.insert(p, n);
    for (std::int64_t i = 0; i < n; ++i) st.book.next_id = std::max(st.book.next_id, p[i] + 1);
  } else {
    st.ids.insert_range(st.book.next_id, n);
    st.book.next_id += n;
  }
  st.book.n_vectors = st.ids.size();
  st.book.max_copies_stored = std::max(st.book.max_copies_stored, max_copies);
  st.book.entries = ntotal;
}

// The lists changed outside flashgmm (FAISS's own add / remove_ids) or were just read: the
// distinct ids are recounted from every id in the lists.
void rebuild(IvfState& st, const IdArray& all_ids, std::int64_t ntotal) {
  if (all_ids.ndim() != 1) throw py::value_error("ids must be 1-d");
  const std::int64_t n = all_ids.shape(0);
  const std::int64_t* p = all_ids.data();
  py::gil_scoped_release nogil;
  st.ids.assign(p, n);
  std::int64_t max_id = -1;
  for (std::int64_t i = 0; i < n; ++i) max_id = std::max(max_id, p[i]);
  st.book.n_vectors = st.ids.size();
  // FAISS's own add() numbers rows from ntotal: later sequential ids must not reuse them.
  st.book.next_id = std::max<std::int64_t>(st.book.next_id, max_id + 1);
  st.book.entries = ntotal;
}

// ------------------------------------------------------------------ search results

// k nearest distinct ids from an over-fetched FAISS search (kf = k · copies per id ≥ k columns).
py::tuple distinct_topk(const FloatRows& D, const IdArray& I, std::int64_t k) {
  if (D.ndim() != 2 || I.ndim() != 2 || D.shape(0) != I.shape(0) || D.shape(1) != I.shape(1))
    throw py::value_error("distances and labels must be (n, kf) arrays of one shape");
  const std::int64_t n = D.shape(0), kf = D.shape(1);
  if (k < 1 || k > kf) throw py::value_error("k must be in [1, " + std::to_string(kf) + "], got " + std::to_string(k));
  py::array_t<float> Dk({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  py::array_t<std::int64_t> Ik({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  std::int64_t dropped = 0;
  {
    float* dk = Dk.mutable_data();
    std::int64_t* ik = Ik.mutable_data();
    py::gil_scoped_release nogil;
    dropped = fi::keep_distinct_topk(n, kf, D.data(), I.data(), k, dk, ik);
  }
  return py::make_tuple(Dk, Ik, dropped);
}

// FAISS's range-search output (lims n + 1, D, I) with each id once per query at its nearest copy.
py::tuple distinct_ranges(py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast> lims,
                          const FloatRows& D, const IdArray& I) {
  if (lims.ndim() != 1 || lims.shape(0) < 1 || D.ndim() != 1 || I.ndim() != 1 || D.shape(0) != I.shape(0))
    throw py::value_error("expected lims (n + 1,), distances (m,) and labels (m,)");
  const std::int64_t n = lims.shape(0) - 1;
  const std::uint64_t* lp = lims.data();
  if (lp[0] != 0 || lp[n] != static_cast<std::uint64_t>(D.shape(0)))
    throw py::value_error("lims must start at 0 and end at len(labels)");
  for (std::int64_t i = 0; i < n; ++i)
    if (lp[i] > lp[i + 1]) throw py::value_error("lims must not decrease");
  py::array_t<std::uint64_t> L(static_cast<py::ssize_t>(n + 1));
  std::vector<size_t> l(lp, lp + n + 1);
  std::vector<float> dv(D.data(), D.data() + D.shape(0));
  std::vector<idx_t> iv(I.data(), I.data() + I.shape(0));
  std::int64_t dropped = 0;
  {
    py::gil_scoped_release nogil;
    dropped = fi::keep_distinct_ranges(n, l.data(), iv.data(), dv.data());
  }
  const size_t total = l[static_cast<size_t>(n)];
  py::array_t<float> Do(static_cast<py::ssize_t>(total));
  py::array_t<std::int64_t> Io(static_cast<py::ssize_t>(total));
  std::copy(l.begin(), l.end(), L.mutable_data());
  std::copy(dv.begin(), dv.begin() + total, Do.mutable_data());
  std::copy(iv.begin(), iv.begin() + total, Io.mutable_data());
  return py::make_tuple(L, Do, Io, dropped);
}

// ------------------------------------------------------------------ sidecar

void write_sidecar(IvfState& st, const std::string& path, std::int64_t ntotal) {
  if (!st.quantizer) throw flashgmm::Error("write_index: the index has no centroids (train it first)");
  if (st.book.entries != ntotal)
    throw flashgmm::Error("write_index: the ids stored were not recounted after the lists changed (internal error)");
  fi::Sidecar s;
  s.dim = static_cast<std::int32_t>(st.d());
  s.nlist = st.nlist();
  s.ntotal = ntotal;
  s.n_vectors = st.book.n_vectors;
  s.next_id = st.book.next_id;
  s.max_copies_stored = st.book.max_copies_stored;
  s.assign = st.assign;
  s.routing = st.routing;
  s.centroid_fingerprint = fi::centroid_fingerprint(st.centroids.data(), st.nlist(), st.d());
  s.model = st.mixture.model();
  py::gil_scoped_release nogil;
  fi::write_sidecar(path, s);
}

// The sidecar at `path`, checked against the index the user's FAISS read (its d, nlist, ntotal
// and the centroids its quantizer holds). The ids are counted by the caller (rebuild).
IvfState read_sidecar(const std::string& path, const std::string& index_path, std::int64_t d, std::int64_t nlist,
                      std::int64_t ntotal, const FloatRows& centroids) {
  fi::Sidecar s = fi::read_sidecar(path);
  const std::int64_t qn = centroids.ndim() == 2 && centroids.shape(1) == d ? centroids.shape(0) : -1;
  fi::SidecarTarget t;
  t.d = d;
  t.nlist = nlist;
  t.ntotal = ntotal;
  t.quantizer_ntotal = qn;
  t.centroid_fingerprint = qn == nlist ? fi::centroid_fingerprint(centroids.data(), nlist, d) : 0;
  fi::check_sidecar_matches(s, t, path, index_path);
  IvfState st;
  st.mixture = mixture_of(std::move(s.model));
  st.assign = s.assign;
  st.routing = s.routing;
  st.book.n_vectors = s.n_vectors;
  st.book.next_id = s.next_id;
  st.book.max_copies_stored = s.max_copies_stored;
  st.book.entries = -1;  // the ids are not counted yet
  st.set_centroids(std::vector<float>(centroids.data(), centroids.data() + nlist * d), nlist, d);
  return st;
}

// A copy for a cloned index (its own registry and quantizer).
IvfState copy_state(const IvfState& s) {
  IvfState c;
  c.mixture = mixture_of(s.mixture.model());
  c.assign = s.assign;
  c.routing = s.routing;
  c.book = s.book;
  c.ids = s.ids;
  c.seed = s.seed;
  if (s.quantizer) c.set_centroids(s.centroids, s.nlist(), s.d());
  return c;
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
      .def("train", &clustering_train, py::arg("x"), py::arg("weights") = py::none())
      .def("centroids",
           [](const fi::GmmClustering& c) {
             return float_matrix(c.centroids, static_cast<std::int64_t>(c.centroids.size() / std::max<size_t>(c.d, 1)),
                                 static_cast<std::int64_t>(c.d));
           })
      .def("iteration_stats", [](const fi::GmmClustering& c) { return stats_list(c.iteration_stats); })
      .def("mixture_bytes", [](const fi::GmmClustering& c) { return model_bytes(c.mixture().model()); });

  py::class_<fi::MultiAssignParams>(m, "MultiAssignParams", "flashgmm::ivf::MultiAssignParams (validated)")
      .def_readonly("max_copies", &fi::MultiAssignParams::max_copies)
      .def_property_readonly("spill", [](const fi::MultiAssignParams& p) { return fi::to_string(p.rule); });

  py::class_<IvfState>(m, "IvfState", "flashgmm's state beside a user's faiss.IndexIVF")
      .def_property_readonly("n_vectors", [](const IvfState& s) { return s.book.n_vectors; })
      .def_property_readonly("next_id", [](const IvfState& s) { return s.book.next_id; })
      .def_property_readonly("entries", [](const IvfState& s) { return s.book.entries; })
      .def_property_readonly("max_copies_stored", [](const IvfState& s) { return s.book.max_copies_stored; })
      .def_property_readonly("max_copies", [](const IvfState& s) { return s.assign.max_copies; })
      .def_property_readonly("min_posterior", [](const IvfState& s) { return s.assign.min_posterior; })
      .def_property_readonly("spill", [](const IvfState& s) { return fi::to_string(s.assign.rule); })
      .def_property_readonly("spill_threshold", [](const IvfState& s) { return s.assign.spill_threshold; })
      .def_property_readonly("routes_by_mixture", [](const IvfState& s) { return s.routing.uses_mixture(); })
      .def_property_readonly("d", &IvfState::d)
      .def_property_readonly("nlist", &IvfState::nlist)
      .def_property_readonly("id_intervals", [](const IvfState& s) { return s.ids.intervals(); })
      .def("centroids", [](const IvfState& s) { return float_matrix(s.centroids, s.nlist(), s.d()); })
      .def("mixture_bytes", [](const IvfState& s) { return model_bytes(s.mixture.model()); })
      .def("copy", &copy_state)
      .def("assign_params", &assign_params, py::arg("max_copies"), py::arg("min_posterior"), py::arg("spill"),
           py::arg("soar_lambda"), py::arg("candidates"), py::arg("spill_fraction"), py::arg("spill_ratio"),
           py::arg("neighbors"), py::arg("cost_weight"), py::arg("probe_depth"), py::arg("pseudo_query_fraction"),
           py::arg("max_entries_ratio"))
      .def("check_new_ids", &check_new_ids, py::arg("n"), py::arg("ids"))
      .def("assign", &assign, py::arg("x"), py::arg("params"))
      .def("record_add", &record_add, py::arg("n"), py::arg("ids"), py::arg("max_copies"), py::arg("ntotal"))
      .def("record_removal",
           [](IvfState& s, const IdArray& ids, std::int64_t ntotal) {
             const std::int64_t removed = s.ids.erase(ids.data(), static_cast<std::int64_t>(ids.size()));
             s.book.n_vectors = s.ids.size();
             s.book.entries = ntotal;
             return removed;
           },
           py::arg("ids"), py::arg("ntotal"), "forget the given ids (all their copies were removed)")
      .def("count_held", [](const IvfState& s, const IdArray& ids) {
             return s.ids.count_held(ids.data(), static_cast<std::int64_t>(ids.size()));
           })
      .def("rebuild", &rebuild, py::arg("all_ids"), py::arg("ntotal"))
      .def("write_sidecar", &write_sidecar, py::arg("path"), py::arg("ntotal"));

  const fi::GmmIvfParams dp;
  const fi::MultiAssignParams da;
  m.def("ivf_train", &train, py::arg("nlist"), py::arg("x"), py::arg("clustering"),
        py::arg("centroids") = fi::to_string(dp.centroids), py::arg("centroid_niter") = -1,
        py::arg("centroid_max_points") = -1, py::arg("refine_centroids") = dp.refine_centroids);
  m.def("ivf_defaults", [dp, da]() {
    py::dict d;
    d["centroids"] = fi::to_string(dp.centroids);
    d["centroid_niter"] = dp.centroid_niter;
    d["centroid_max_points_per_centroid"] = dp.centroid_max_points_per_centroid;
    d["refine_centroids"] = dp.refine_centroids;
    d["refine_pseudo_query_fraction"] = dp.refine_pseudo_query_fraction;
    d["spill"] = fi::to_string(da.rule);
    d["max_copies"] = da.max_copies;
    d["min_posterior"] = da.min_posterior;
    d["max_entries_ratio"] = da.max_entries_ratio;
    d["soar_lambda"] = da.soar_lambda;
    d["candidates"] = da.candidates;
    d["spill_fraction"] = da.spill_fraction;
    d["spill_ratio"] = da.spill_ratio;
    d["neighbors"] = da.neighbors;
    d["cost_weight"] = da.cost_weight;
    d["probe_depth"] = da.probe_depth;
    d["pseudo_query_fraction"] = da.pseudo_query_fraction;
    return d;
  });
  m.def("ivf_distinct_topk", &distinct_topk, py::arg("distances"), py::arg("labels"), py::arg("k"));
  m.def("ivf_distinct_ranges", &distinct_ranges, py::arg("lims"), py::arg("distances"), py::arg("labels"));
  m.def("ivf_read_sidecar", &read_sidecar, py::arg("path"), py::arg("index_path"), py::arg("d"), py::arg("nlist"),
        py::arg("ntotal"), py::arg("centroids"));
  m.def("ivf_sidecar_path", &fi::GmmIvfIndex::sidecar_path);
  // The FAISS this module's own work runs on (never the user's: no FAISS object crosses), for
  // messages that name both builds.
  m.attr("faiss_build_version") = std::to_string(FAISS_VERSION_MAJOR) + "." + std::to_string(FAISS_VERSION_MINOR) +
                                  "." + std::to_string(FAISS_VERSION_PATCH);
}

}  // namespace flashgmm_py
