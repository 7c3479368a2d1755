// flashgmm._dedup: flashgmm-dedup for Python (NumPy arrays, memmaps or file paths in; the GIL
// released while it runs; Ctrl-C and exceptions in the progress callback stop it).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>

#include "array_source.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm_dedup/dedup.hpp"

namespace py = pybind11;
using namespace flashgmm;
using namespace flashgmm::dedup;

namespace {

py::dict summary_dict(const DedupSummary& s) {
  py::dict d;
  d["n"] = s.n;
  d["dim"] = s.dim;
  d["n_components"] = s.n_components;
  d["backend"] = s.backend;
  d["mean_assignments"] = s.mean_assignments;
  d["max_bucket"] = s.max_bucket;
  d["candidate_pairs"] = s.candidate_pairs;
  d["pairs_compared"] = s.pairs_compared;
  d["brute_force_pairs"] = s.brute_force_pairs;
  d["reduction"] = s.reduction;
  d["duplicate_pairs"] = s.duplicate_pairs;
  d["groups"] = s.groups;
  d["rows_in_groups"] = s.rows_in_groups;
  d["rows_kept"] = s.rows_kept;
  d["fit_seconds"] = s.fit_seconds;
  d["assign_seconds"] = s.assign_seconds;
  d["compare_seconds"] = s.compare_seconds;
  d["check_seconds"] = s.check_seconds;
  d["seconds"] = s.total_seconds;
  d["index_bytes"] = s.index_bytes;
  d["peak_rss_bytes"] = s.peak_rss_bytes;
  if (s.has_quality) {
    const QualityReport& q = s.quality;
    py::dict qd;
    qd["anchors"] = q.anchors;
    qd["true_pairs"] = q.true_pairs;
    qd["found_pairs"] = q.found_pairs;
    qd["matched_pairs"] = q.matched_pairs;
    qd["grouped_pairs"] = q.grouped_pairs;
    qd["pair_recall"] = q.pair_recall;
    qd["pair_precision"] = q.pair_precision;
    qd["group_recall"] = q.group_recall;
    qd["brute_force_comparisons"] = q.brute_force_comparisons;
    qd["seconds"] = q.seconds;
    d["quality"] = qd;
  } else {
    d["quality"] = py::none();
  }
  return d;
}

py::array_t<std::int64_t> to_array(std::vector<std::int64_t>&& v) {
  auto* heap = new std::vector<std::int64_t>(std::move(v));
  py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<std::int64_t>*>(p); });
  return py::array_t<std::int64_t>({static_cast<py::ssize_t>(heap->size())}, {sizeof(std::int64_t)}, heap->data(),
                                   owner);
}

std::vector<std::int64_t> from_array(const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& a) {
  if (a.ndim() != 1) throw py::value_error("representative must be a 1-D array");
  return std::vector<std::int64_t>(a.data(), a.data() + a.size());
}

/// data: a 2-D float array (any layout, memmaps included) or a path to .npy/.fvecs/.bvecs.
py::tuple run(const py::object& data, const DedupParams& params, const py::object& progress) {
  std::unique_ptr<DataSource> file;
  std::optional<flashgmm_py::ArrayInput> array;
  const DataSource* src = nullptr;
  if (py::isinstance<py::str>(data) || py::hasattr(data, "__fspath__")) {
    const std::string path = py::str(py::module_::import("os").attr("fspath")(data));
    file = open_data(path);
    src = file.get();
  } else {
    array = flashgmm_py::as_input(data, "X");
    src = array->source.get();
  }
  std::optional<py::error_already_set> py_error;
  ProgressCallback cb = [&](const Progress& p) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {  // Ctrl-C
      py_error.emplace();
      return false;
    }
    if (progress.is_none()) return true;
    try {
      const py::object r = progress(std::string(p.stage), p.done, p.total);
      return r.is_none() || r.cast<bool>();
    } catch (py::error_already_set& e) {
      py_error.emplace(std::move(e));
      return false;
    }
  };
  DedupResult res;
  try {
    py::gil_scoped_release nogil;
    res = deduplicate(*src, params, cb);
  } catch (const Error&) {
    if (py_error) throw std::move(*py_error);
    throw;
  }
  py::dict summary = summary_dict(res.summary);
  return py::make_tuple(to_array(std::move(res.representative)), summary);
}

}  // namespace

PYBIND11_MODULE(_dedup, m) {
  m.doc() = "flashgmm dedup C++ core (use flashgmm.dedup, not this module)";
  // flashgmm::Error → flashgmm.Error (the class _core registers), so callers catch one type.
  py::object error_type = py::module_::import("flashgmm._core").attr("Error");
  static PyObject* error_class = error_type.release().ptr();  // kept for the process's life
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      PyErr_SetString(error_class, e.what());
    }
  });

  py::class_<DedupParams>(m, "Params")
      .def(py::init<>())
      .def_property(
          "metric", [](const DedupParams& p) { return to_string(p.metric); },
          [](DedupParams& p, const std::string& s) { p.metric = parse_metric(s); })
      .def_readwrite("threshold", &DedupParams::threshold)
      .def_readwrite("n_components", &DedupParams::n_components)
      .def_readwrite("max_assign", &DedupParams::max_assign)
      .def_readwrite("min_posterior", &DedupParams::min_posterior)
      .def_readwrite("temperature", &DedupParams::temperature)
      .def_property(
          "covariance_type", [](const DedupParams& p) { return to_string(p.covariance_type); },
          [](DedupParams& p, const std::string& s) { p.covariance_type = parse_covariance_type(s); })
      .def_readwrite("fit_sample", &DedupParams::fit_sample)
      .def_readwrite("max_iter", &DedupParams::max_iter)
      .def_readwrite("tol", &DedupParams::tol)
      .def_readwrite("seed", &DedupParams::seed)
      .def_property(
          "device", [](const DedupParams& p) { return to_string(p.backend); },
          [](DedupParams& p, const std::string& s) { p.backend = parse_backend(s); })
      .def_readwrite("n_threads", &DedupParams::n_threads)
      .def_readwrite("chunk_rows", &DedupParams::chunk_rows)
      .def_readwrite("check_sample", &DedupParams::check_sample)
      .def("validate", [](const DedupParams& p) { p.validate(); });

  m.def("deduplicate", &run, py::arg("data"), py::arg("params"), py::arg("progress") = py::none(),
        "Returns (representative: int64 array, summary: dict).");
  m.def(
      "list_groups",
      [](const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& rep) {
        GroupList g = list_groups(from_array(rep));
        return py::make_tuple(to_array(std::move(g.offsets)), to_array(std::move(g.members)));
      },
      py::arg("representative"), "Groups of >= 2 rows: (offsets, members), representative first.");
  m.def(
      "keep_list",
      [](const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& rep) {
        return to_array(keep_list(from_array(rep)));
      },
      py::arg("representative"));
}
