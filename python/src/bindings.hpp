// flashgmm Python bindings: one registration function per part of the module.
#pragma once

#include <pybind11/pybind11.h>

namespace flashgmm_py {

namespace py = pybind11;

void bind_errors(py::module_& m);
void bind_params(py::module_& m);
void bind_estimator(py::module_& m);
#ifdef FLASHGMM_PY_WITH_FAISS
void bind_faiss(py::module_& m);
#endif

}  // namespace flashgmm_py
