// flashgmm._core: the pybind11 module (thin over the C++ library; the Python package wraps it).
#include "bindings.hpp"

#include "flashgmm/backend.hpp"
#include "flashgmm/version.hpp"

PYBIND11_MODULE(_core, m) {
  namespace fp = flashgmm_py;
  m.doc() = "flashgmm C++ core (use the `flashgmm` package, not this module)";
  m.attr("__version__") = FLASHGMM_VERSION_STRING;
  fp::bind_errors(m);
  fp::bind_params(m);
  fp::bind_estimator(m);
#ifdef FLASHGMM_PY_WITH_FAISS
  fp::bind_faiss(m);
  m.attr("has_faiss") = true;
#else
  m.attr("has_faiss") = false;
#endif
  m.def("cuda_available", &flashgmm::cuda_available, "True when built with CUDA and a device is visible.");
  m.def("cuda_unavailable_reason", &flashgmm::cuda_unavailable_reason);
}
