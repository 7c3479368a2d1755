// flashgmm._core.GaussianMixture: the C++ estimator with NumPy in and out, the GIL released
// during computation, and Ctrl-C / Python exceptions stopping a fit between iterations.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>
#include <exception>
#include <mutex>
#include <optional>

#include "array_source.hpp"
#include "bindings.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm/gaussian_mixture.hpp"
#include "flashgmm/model.hpp"

namespace flashgmm_py {

namespace {

using flashgmm::CovarianceType;
using flashgmm::GaussianMixture;
using flashgmm::Model;

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

py::array_t<double> make_array(const std::vector<double>& v, std::vector<py::ssize_t> shape) {
  py::array_t<double> a(shape);
  FLASHGMM_ASSERT(static_cast<std::size_t>(a.size()) == v.size());
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(double));
  return a;
}

// scikit-learn's shapes of covariances_ / precisions_ / precisions_cholesky_.
std::vector<py::ssize_t> covariance_shape(const Model& m) {
  const py::ssize_t k = m.n_components, d = m.dim;
  switch (m.covariance_type) {
    case CovarianceType::spherical: return {k};
    case CovarianceType::diag: return {k, d};
    case CovarianceType::full: return {k, d, d};
    case CovarianceType::tied: return {d, d};
  }
  return {};
}

py::dict stats_dict(const flashgmm::IterationStats& s) {
  py::dict d;
  d["init"] = s.init;
  d["iteration"] = s.iteration;
  d["lower_bound"] = s.lower_bound;
  d["change"] = s.change;
  d["seconds"] = s.seconds;
  d["estep_seconds"] = s.estep_seconds;
  d["reseeded"] = s.reseeded;
  d["peak_device_bytes"] = s.peak_device_bytes;
  return d;
}

// Per-row weights: float32, one per row of the input (the Python layer checks their values).
const float* weight_pointer(const std::optional<FloatArray>& w, std::int64_t n) {
  if (!w) return nullptr;
  if (w->ndim() != 1 || w->shape(0) != n)
    throw py::value_error("sample_weight must have shape (" + std::to_string(n) + ",), got " +
                          std::to_string(w->ndim()) + "-D array of size " + std::to_string(w->size()));
  return w->data();
}

// What the iteration callback hands back to the thread that called fit().
struct FitHook {
  py::object on_iteration;                    // None or callable(dict), e.g. verbose output
  std::optional<py::error_already_set> error; // a Python exception raised during the fit
};

/// The C++ estimator behind flashgmm.GaussianMixture. Every method releases the GIL before it
/// takes the estimator's lock, so Python threads never wait on each other while holding it.
class PyGaussianMixture {
 public:
  void set_params(const flashgmm::Params& p) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    gmm_.set_params(p);
  }
  flashgmm::Params params() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    return gmm_.params();
  }

  void fit(const py::handle& x, const std::optional<FloatArray>& w, py::object on_iteration) {
    ArrayInput in = as_input(x, "X");
    const float* wp = weight_pointer(w, in.rows());
    FitHook hook{std::move(on_iteration), std::nullopt};
    std::exception_ptr failure;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      gmm_.set_iteration_callback([&hook](const flashgmm::IterationStats& s) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) {  // Ctrl-C: KeyboardInterrupt is now set
          hook.error.emplace();
          return false;
        }
        if (hook.on_iteration.is_none()) return true;
        try {
          hook.on_iteration(stats_dict(s));
          return true;
        } catch (py::error_already_set& e) {
          hook.error.emplace(std::move(e));
          return false;
        }
      });
      try {
        if (const float* p = in.contiguous())
          gmm_.fit(p, in.rows(), in.dim(), wp);
        else
          gmm_.fit(*in.source, wp);
      } catch (...) {
        failure = std::current_exception();
      }
      gmm_.set_iteration_callback(nullptr);  // it refers to `hook`, which ends here
    }
    if (hook.error) throw *hook.error;           // the Python exception that stopped the fit
    if (failure) std::rethrow_exception(failure);  // flashgmm::Error → flashgmm.Error (ValueError)
  }

  bool fitted() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    return gmm_.fitted();
  }

  py::dict model_arrays() {
    Model m = locked_model();
    py::dict d;
    d["covariance_type"] = flashgmm::to_string(m.covariance_type);
    d["weights"] = make_array(m.weights, {m.n_components});
    d["means"] = make_array(m.means, {m.n_components, m.dim});
    const auto shape = covariance_shape(m);
    d["covariances"] = make_array(m.covariances, shape);
    d["precisions"] = make_array(m.precisions(), shape);
    d["precisions_cholesky"] = make_array(m.precisions_cholesky, shape);
    d["n_parameters"] = m.n_parameters();
    return d;
  }

  py::dict fit_info() {
    flashgmm::FitInfo info;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      info = gmm_.fit_info();
    }
    py::dict d;
    d["converged"] = info.converged;
    d["n_iter"] = info.n_iter;
    d["lower_bound"] = info.lower_bound;
    d["best_init"] = info.best_init;
    d["total_reseeded"] = info.total_reseeded;
    d["seconds"] = info.seconds;
    d["backend"] = info.backend;
    py::list hist;
    for (const auto& s : info.history) hist.append(stats_dict(s));
    d["history"] = hist;
    return d;
  }

  py::array_t<std::int32_t> predict(const py::handle& x) {
    ArrayInput in = checked_input(x);
    py::array_t<std::int32_t> out(in.rows());
    std::int32_t* o = out.mutable_data();
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    for_each_batch(in, [&](const float* p, std::int64_t b, std::int64_t c) { gmm_.predict(p, c, o + b); });
    return out;
  }

  py::array_t<float> predict_proba(const py::handle& x) {
    ArrayInput in = checked_input(x);
    const py::ssize_t k = n_components();
    py::array_t<float> out({static_cast<py::ssize_t>(in.rows()), k});
    float* o = out.mutable_data();
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    for_each_batch(in, [&](const float* p, std::int64_t b, std::int64_t c) {
      gmm_.predict_proba(p, c, o + b * k);
    });
    return out;
  }

  py::tuple predict_topk(const py::handle& x, int m) {
    ArrayInput in = checked_input(x);
    const int k = n_components();
    if (m < 1 || m > k)
      throw py::value_error("m must be in [1, n_components=" + std::to_string(k) + "], got " + std::to_string(m));
    py::array_t<std::int32_t> ids({static_cast<py::ssize_t>(in.rows()), static_cast<py::ssize_t>(m)});
    py::array_t<float> probs({static_cast<py::ssize_t>(in.rows()), static_cast<py::ssize_t>(m)});
    std::int32_t* io = ids.mutable_data();
    float* po = probs.mutable_data();
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      for_each_batch(in, [&](const float* p, std::int64_t b, std::int64_t c) {
        gmm_.predict_topk(p, c, m, io + b * m, po + b * m);
      });
    }
    return py::make_tuple(ids, probs);
  }

  py::array_t<double> score_samples(const py::handle& x) {
    ArrayInput in = checked_input(x);
    py::array_t<double> out(in.rows());
    double* o = out.mutable_data();
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    for_each_batch(in, [&](const float* p, std::int64_t b, std::int64_t c) { gmm_.score_samples(p, c, o + b); });
    return out;
  }

  /// Mean log-likelihood per sample, weighted by w when given (Σ w log p / Σ w).
  double score(const py::handle& x, const std::optional<FloatArray>& w) {
    ArrayInput in = checked_input(x);
    const float* wp = weight_pointer(w, in.rows());
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    if (!wp) return gmm_.score(*in.source);
    if (const float* p = in.contiguous()) return gmm_.score(p, in.rows(), wp);
    double num = 0.0, den = 0.0;
    for_each_batch(in, [&](const float* p, std::int64_t b, std::int64_t c) {
      double ws = 0.0;
      for (std::int64_t i = 0; i < c; ++i) ws += wp[b + i];
      if (ws > 0) num += gmm_.score(p, c, wp + b) * ws;
      den += ws;
    });
    if (!(den > 0)) throw flashgmm::Error("sample_weight sums to zero");
    return num / den;
  }

  py::tuple sample(std::int64_t n, std::uint64_t seed) {
    if (n < 1) throw py::value_error("n_samples must be >= 1, got " + std::to_string(n));
    const int d = dim();
    py::array_t<float> x({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(d)});
    py::array_t<std::int32_t> labels(n);
    float* xo = x.mutable_data();
    std::int32_t* lo = labels.mutable_data();
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      gmm_.sample(n, xo, lo, seed);
    }
    return py::make_tuple(x, labels);
  }

  py::bytes serialize() {
    Model m = locked_model();
    const auto bytes = flashgmm::serialize_model(m);
    return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }

  void deserialize(const py::bytes& b) {
    std::string s = b;
    Model m = flashgmm::deserialize_model(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    gmm_.set_model(std::move(m));
  }

  void save(const std::string& path) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    require_fitted_locked();
    gmm_.save(path);
  }

  void load(const std::string& path) {
    py::gil_scoped_release nogil;
    Model m = flashgmm::load_model(path);
    std::lock_guard<std::mutex> lock(mu_);
    gmm_.set_model(std::move(m));
  }

 private:
  void require_fitted_locked() const {
    if (!gmm_.fitted()) throw flashgmm::Error("this GaussianMixture is not fitted yet; call fit() first");
  }
  Model locked_model() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    require_fitted_locked();
    return gmm_.model();
  }
  int n_components() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    require_fitted_locked();
    return gmm_.model().n_components;
  }
  int dim() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    require_fitted_locked();
    return gmm_.model().dim;
  }
  // Inference input: a valid array whose width matches the fitted model.
  ArrayInput checked_input(const py::handle& x) {
    ArrayInput in = as_input(x, "X");
    const int d = dim();
    if (in.dim() != d)
      throw py::value_error("X has " + std::to_string(in.dim()) + " features, but GaussianMixture is expecting " +
                            std::to_string(d) + " features as input");
    return in;
  }

  std::mutex mu_;
  GaussianMixture gmm_;
};

}  // namespace

void bind_estimator(py::module_& m) {
  py::class_<PyGaussianMixture>(m, "GaussianMixture", "C++ estimator behind flashgmm.GaussianMixture")
      .def(py::init<>())
      .def("set_params", &PyGaussianMixture::set_params)
      .def("params", &PyGaussianMixture::params)
      .def("fit", &PyGaussianMixture::fit, py::arg("x"), py::arg("sample_weight") = py::none(),
           py::arg("on_iteration") = py::none())
      .def("fitted", &PyGaussianMixture::fitted)
      .def("model_arrays", &PyGaussianMixture::model_arrays)
      .def("fit_info", &PyGaussianMixture::fit_info)
      .def("predict", &PyGaussianMixture::predict)
      .def("predict_proba", &PyGaussianMixture::predict_proba)
      .def("predict_topk", &PyGaussianMixture::predict_topk, py::arg("x"), py::arg("m"))
      .def("score_samples", &PyGaussianMixture::score_samples)
      .def("score", &PyGaussianMixture::score, py::arg("x"), py::arg("sample_weight") = py::none())
      .def("sample", &PyGaussianMixture::sample, py::arg("n"), py::arg("seed"))
      .def("serialize", &PyGaussianMixture::serialize)
      .def("deserialize", &PyGaussianMixture::deserialize)
      .def("save", &PyGaussianMixture::save)
      .def("load", &PyGaussianMixture::load);
}

}  // namespace flashgmm_py
