// The last rank throws at iteration 2 while the others go on into the next reduction: under
// run_or_abort every rank must be gone within seconds with a non-zero status (the test expects
// this program to FAIL, quickly, saying why).
#include <mpi.h>

#include "flashgmm/flashgmm.hpp"
#include "flashgmm_mpi/distributed_fit.hpp"
#include "mpi_test_data.hpp"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const int rc = flashgmm::mpi::run_or_abort(MPI_COMM_WORLD, "throw_mid_fit", [] {
    flashgmm::mpi::MpiCommunicator comm;
    const int R = comm.size(), me = comm.rank();
    const std::int64_t n = 3000;
    const int d = 4;
    const std::vector<float> all = flashgmm::mpi_test::clustered(n, d, 4, 1);
    const auto off = flashgmm::mpi_test::uneven_offsets(n, R, -1);
    const flashgmm::MatrixSource local(all.data() + off[me] * d, off[me + 1] - off[me], d);
    flashgmm::Params p;
    p.n_components = 4;
    p.max_iter = 100000;  // the healthy ranks would run for a long time
    p.tol = 0;
    flashgmm::GaussianMixture g(p);
    g.set_iteration_callback([&](const flashgmm::IterationStats& s) {
      if (me == R - 1 && s.iteration == 2) throw flashgmm::Error("injected failure on the last rank");
      return true;
    });
    flashgmm::mpi::fit_distributed(g, local, nullptr, comm);
    return 0;
  });
  MPI_Finalize();
  return rc;
}
