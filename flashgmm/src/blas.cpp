#include "blas.hpp"

// OpenBLAS's thread controls, bound weakly so that any other CBLAS links too.
extern "C" {
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));
}

namespace flashgmm::blas {

SingleThreadedScope::SingleThreadedScope() {
  if (openblas_get_num_threads && openblas_set_num_threads) {
    saved_ = openblas_get_num_threads();
    if (saved_ != 1) openblas_set_num_threads(1);
  }
}

SingleThreadedScope::~SingleThreadedScope() {
  if (saved_ > 1 && openblas_set_num_threads) openblas_set_num_threads(saved_);
}

}  // namespace flashgmm::blas
