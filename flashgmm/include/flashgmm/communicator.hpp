// flashgmm: the collective operations a distributed fit needs. The core has no MPI dependency;
// flashgmm/mpi implements this over MPI, and a single process uses no communicator at all.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flashgmm {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Element-wise sum across all ranks, in place; every rank receives the same result
  /// (reduced in a fixed order, so the result does not depend on timing).
  virtual void allreduce_sum(double* data, std::size_t n) = 0;
  virtual void allreduce_sum(std::int64_t* data, std::size_t n) = 0;
};

}  // namespace flashgmm
