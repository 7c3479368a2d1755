// flashgmm over MPI: errors every rank learns about together, and the rule for all others.
//
// An error one rank hits alone (a NaN in its shard, an unreadable file, a bug) leaves the other
// ranks waiting in the next collective forever. Two remedies:
//  - checks that every rank can make at the same point are exchanged (agree_or_throw): then
//    every rank throws the same CollectiveError, names the failing ranks, and exits cleanly;
//  - anything else thrown on one rank ends the whole job with MPI_Abort (run_or_abort).
#pragma once

#include <mpi.h>

#include <functional>
#include <string>
#include <vector>

#include "flashgmm/error.hpp"

namespace flashgmm::mpi {

/// Thrown on every rank of a communicator at once, with the same message.
class CollectiveError : public Error {
 public:
  explicit CollectiveError(const std::string& what) : Error(what) {}
};

/// Every rank's string, in rank order, on every rank. Collective.
std::vector<std::string> allgather_strings(MPI_Comm comm, const std::string& mine);

/// Collective: `local_error` is empty when this rank is fine. When any rank reports an error,
/// every rank throws CollectiveError("<context>: rank r: <its error>; ranks s, t: <theirs>")
/// (ranks with the same message grouped; the first few messages shown, then a count).
void agree_or_throw(MPI_Comm comm, const std::string& local_error, const std::string& context = "");

/// Runs `body` and returns its exit code. A CollectiveError is printed (by rank 0 only, since
/// every rank has the same one) and gives exit code 1 on every rank. Any other exception is
/// printed with this rank's number and then MPI_Abort(comm, 1) stops every rank of the job,
/// so none waits forever in a collective.
int run_or_abort(MPI_Comm comm, const char* program, const std::function<int()>& body);

}  // namespace flashgmm::mpi
