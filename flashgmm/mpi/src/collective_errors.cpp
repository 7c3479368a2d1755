#include "flashgmm_mpi/collective_errors.hpp"

#include <cstdio>
#include <exception>
#include <sstream>

namespace flashgmm::mpi {

std::vector<std::string> allgather_strings(MPI_Comm comm, const std::string& mine) {
  int R = 1;
  MPI_Comm_size(comm, &R);
  const int len = (int)mine.size();
  std::vector<int> lens(R), displs(R);
  MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, comm);
  long long total = 0;
  for (int r = 0; r < R; ++r) {
    FLASHGMM_CHECK(total + lens[r] < (1LL << 31), "allgather_strings: more than 2 GiB of text");
    displs[r] = (int)total;
    total += lens[r];
  }
  std::string all((size_t)total, '\0');
  MPI_Allgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, comm);
  std::vector<std::string> out(R);
  for (int r = 0; r < R; ++r) out[r] = all.substr((size_t)displs[r], (size_t)lens[r]);
  return out;
}

void agree_or_throw(MPI_Comm comm, const std::string& local_error, const std::string& context) {
  // Cheap common case first: one integer reduction says whether anyone failed.
  int bad = local_error.empty() ? 0 : 1, any = 0;
  MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm);
  if (!any) return;
  const std::vector<std::string> errors = allgather_strings(comm, local_error);
  std::ostringstream msg;
  if (!context.empty()) msg << context << ": ";
  int shown = 0, failed = 0;
  for (size_t r = 0; r < errors.size(); ++r) {
    if (errors[r].empty()) continue;
    ++failed;
    if (shown < 4) msg << (shown++ ? "; " : "") << "rank " << r << ": " << errors[r];
  }
  if (failed > shown) msg << " (and " << failed - shown << " more ranks)";
  throw CollectiveError(msg.str());
}

int run_or_abort(MPI_Comm comm, const char* program, const std::function<int()>& body) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  try {
    return body();
  } catch (const CollectiveError& e) {
    if (rank == 0) std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: rank %d: error: %s\n%s: rank %d: stopping all ranks\n", program, rank, e.what(),
                 program, rank);
  } catch (...) {
    std::fprintf(stderr, "%s: rank %d: unknown exception; stopping all ranks\n", program, rank);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(comm, 1);
  return 1;  // not reached
}

}  // namespace flashgmm::mpi
