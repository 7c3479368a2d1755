// flashgmm::Error → flashgmm.Error, a ValueError subclass carrying the C++ message.
#include "bindings.hpp"

#include "flashgmm/error.hpp"

namespace flashgmm_py {

void bind_errors(py::module_& m) {
  py::register_exception<flashgmm::Error>(m, "Error", PyExc_ValueError);
}

}  // namespace flashgmm_py
