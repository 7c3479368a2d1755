// flashgmm-mpi: the distributed fit from the command line,
//   mpirun -np R flashgmm-mpi fit --data 'shard-{rank}.npy' --k K --out model.gmm
#include <mpi.h>

#include <cstdio>

#include "exit_codes.hpp"
#include "fit_mpi_command.hpp"
#include "flashgmm/version.hpp"
#include "flashgmm_mpi/collective_errors.hpp"

int main(int argc, char** argv) {
  // OpenMP threads compute; only the main thread calls MPI.
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int rc = flashgmm::mpi::run_or_abort(MPI_COMM_WORLD, "flashgmm-mpi", [&] {
    CLI::App app{"flashgmm-mpi " FLASHGMM_VERSION_STRING
                 ": one Gaussian mixture fit over the ranks of an MPI job, each streaming its own shard"};
    app.require_subcommand(1);
    app.set_version_flag("--version", FLASHGMM_VERSION_STRING);
    int code = 0;
    flashgmm::mpi::cli::add_fit(app, code);
#ifdef FLASHGMM_MPI_WITH_FAISS
    flashgmm::mpi::cli::add_ivf_add(app, code);
#endif
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      // Every rank parses the same command line: rank 0 speaks, all exit with the same code,
      // the one every flashgmm tool uses (exit_codes.hpp: a rejected value such as a missing
      // file is an error, 1; a command line not understood is 2).
      const bool bad_value = dynamic_cast<const CLI::ValidationError*>(&e) != nullptr;
      if (rank == 0) {
        if (bad_value) std::fprintf(stderr, "flashgmm-mpi: error: %s\n", e.what());
        else app.exit(e);
      }
      return e.get_exit_code() == 0 ? flashgmm::cli::kExitOk
                                    : bad_value ? flashgmm::cli::kExitError : flashgmm::cli::kExitUsage;
    }
    return code;
  });
  MPI_Finalize();
  return rc;
}
