// flashgmm over MPI: the Communicator the distributed fit sums its statistics with.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>

#include "flashgmm/communicator.hpp"

namespace flashgmm::mpi {

/// How allreduce_sum combines the ranks' vectors.
enum class ReduceAlgorithm {
  /// Every element is summed in rank order 0, 1, …, R−1 by exactly one rank (reduce-scatter
  /// through MPI_Alltoallv, then MPI_Allgatherv). Bitwise the same on every rank, from run to
  /// run and across MPI implementations and networks. The default.
  rank_order,
  /// MPI_Allreduce(MPI_SUM): the library picks the algorithm and the summation order, which
  /// may change with the message size, the rank count or the MPI version.
  mpi_allreduce,
};

/// Traffic counters of one communicator (this rank's view).
struct CommStats {
  std::int64_t calls = 0;          ///< allreduce_sum calls
  std::int64_t payload_bytes = 0;  ///< Σ n·sizeof(element) over the calls (the vectors reduced)
  std::int64_t bytes_sent = 0;     ///< bytes this rank sent to other ranks (rank_order only;
                                   ///< MPI_Allreduce does not say: 0 there)
  double seconds = 0.0;            ///< wall time inside allreduce_sum, waiting for peers included
};

/// flashgmm::Communicator over an MPI communicator. MPI must be initialised first; the
/// communicator is duplicated so flashgmm's messages never match the caller's. Collective calls
/// must be made by every rank in the same order (as the distributed fit does).
class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD,
                           ReduceAlgorithm algorithm = ReduceAlgorithm::rank_order);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(double* data, std::size_t n) override;
  void allreduce_sum(std::int64_t* data, std::size_t n) override;

  /// The duplicated communicator (for the caller's own collectives on the same ranks).
  MPI_Comm comm() const { return comm_; }
  ReduceAlgorithm algorithm() const { return algorithm_; }
  const CommStats& stats() const { return stats_; }
  void reset_stats() { stats_ = CommStats(); }

 private:
  template <typename T>
  void reduce(T* data, std::size_t n, MPI_Datatype type);
  template <typename T>
  void reduce_rank_order(T* data, std::size_t n, MPI_Datatype type);

  MPI_Comm comm_ = MPI_COMM_NULL;
  ReduceAlgorithm algorithm_;
  int rank_ = 0;
  int size_ = 1;
  CommStats stats_;
};

/// "rank-order" / "mpi"; parse throws Error naming the bad value.
const char* to_string(ReduceAlgorithm a);
ReduceAlgorithm parse_reduce_algorithm(const char* s);

}  // namespace flashgmm::mpi
