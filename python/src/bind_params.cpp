// flashgmm.Params: the C++ fit parameters, enums spelled as strings (scikit-learn's names).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>

#include "bindings.hpp"
#include "flashgmm/params.hpp"

namespace flashgmm_py {

namespace {

using flashgmm::Params;

// Initial parameter arrays travel as flat float64 copies (the C++ side checks their sizes).
std::vector<double> to_vector(const py::array_t<double, py::array::c_style | py::array::forcecast>& a) {
  std::vector<double> v(static_cast<std::size_t>(a.size()));
  if (!v.empty()) std::memcpy(v.data(), a.data(), v.size() * sizeof(double));
  return v;
}

py::array_t<double> to_array(const std::vector<double>& v) {
  py::array_t<double> a(static_cast<py::ssize_t>(v.size()));
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(double));
  return a;
}

template <std::vector<double> Params::*field>
void def_array(py::class_<Params>& c, const char* name) {
  c.def_property(
      name, [](const Params& p) { return to_array(p.*field); },
      [](Params& p, std::optional<py::array_t<double, py::array::c_style | py::array::forcecast>> a) {
        if (a)
          p.*field = to_vector(*a);
        else
          (p.*field).clear();
      });
}

}  // namespace

void bind_params(py::module_& m) {
  py::class_<Params> c(m, "Params", "flashgmm::Params (see params.hpp for each field's meaning)");
  c.def(py::init<>())
      .def_readwrite("n_components", &Params::n_components)
      .def_property(
          "covariance_type", [](const Params& p) { return flashgmm::to_string(p.covariance_type); },
          [](Params& p, const std::string& s) { p.covariance_type = flashgmm::parse_covariance_type(s); })
      .def_readwrite("max_iter", &Params::max_iter)
      .def_readwrite("tol", &Params::tol)
      .def_readwrite("reg_covar", &Params::reg_covar)
      .def_property(
          "init", [](const Params& p) { return flashgmm::to_string(p.init); },
          [](Params& p, const std::string& s) { p.init = flashgmm::parse_init_method(s); })
      .def_readwrite("n_init", &Params::n_init)
      .def_readwrite("seed", &Params::seed)
      .def_readwrite("verbose", &Params::verbose)
      .def_readwrite("verbose_interval", &Params::verbose_interval)
      .def_readwrite("warm_start", &Params::warm_start)
      .def_readwrite("init_sample_size", &Params::init_sample_size)
      .def_readwrite("init_kmeans_iter", &Params::init_kmeans_iter)
      .def_readwrite("init_kmeans_runs", &Params::init_kmeans_runs)
      .def_readwrite("min_component_count", &Params::min_component_count)
      .def_property(
          "backend", [](const Params& p) { return flashgmm::to_string(p.backend); },
          [](Params& p, const std::string& s) { p.backend = flashgmm::parse_backend(s); })
      .def_property(
          "precision", [](const Params& p) { return flashgmm::to_string(p.precision); },
          [](Params& p, const std::string& s) { p.precision = flashgmm::parse_precision(s); })
      .def_readwrite("deterministic", &Params::deterministic)
      .def_readwrite("gpu_memory_budget", &Params::gpu_memory_budget)
      .def_readwrite("n_threads", &Params::n_threads)
      .def_readwrite("tile_rows", &Params::tile_rows)
      .def_readwrite("chunk_rows", &Params::chunk_rows)
      .def("validate", &Params::validate, py::arg("d") = 0,
           "Raises flashgmm.Error naming the first invalid field.");
  def_array<&Params::weights_init>(c, "weights_init");
  def_array<&Params::means_init>(c, "means_init");
  def_array<&Params::precisions_init>(c, "precisions_init");
}

}  // namespace flashgmm_py
