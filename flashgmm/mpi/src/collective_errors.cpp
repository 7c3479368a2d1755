#include "flashgmm_mpi/collective_errors.hpp"

#include <algorithm>
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
  // Group ranks with the same message: "ranks 0, 2: cannot open …; rank 1: …".
  std::vector<std::pair<std::string, std::vector<int>>> groups;
  for (size_t r = 0; r < errors.size(); ++r) {
    if (errors[r].empty()) continue;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == errors[r]; });
    if (it == groups.end()) groups.push_back({errors[r], {(int)r}});
    else it->second.push_back((int)r);
  }
  std::ostringstream msg;
  if (!context.empty()) msg << context << ": ";
  const size_t show = std::min<size_t>(groups.size(), 4);
  for (size_t g = 0; g < show; ++g) {
    const auto& ranks = groups[g].second;
    msg << (g ? "; " : "") << (ranks.size() > 1 ? "ranks " : "rank ");
    for (size_t i = 0; i < std::min<size_t>(ranks.size(), 8); ++i) msg << (i ? ", " : "") << ranks[i];
    if (ranks.size() > 8) msg << " and " << ranks.size() - 8 << " more";
    msg << ": " << groups[g].first;
  }
  if (groups.size() > show) msg << " (and " << groups.size() - show << " more different errors)";
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
