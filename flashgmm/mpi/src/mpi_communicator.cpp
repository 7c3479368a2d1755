// Deterministic allreduce: reduce-scatter in rank order, then allgather.
//
// Why not MPI_Allreduce: its summation order is the library's choice (it changes with message
// size, rank count, MPI version and network), so the fitted model could differ in its last bits
// from one cluster to the next. Here element i is owned by one rank, which adds the R
// contributions in rank order 0..R−1, so the result is fixed by the shards alone and is the same
// on every rank. The traffic is that of a ring allreduce, 2·n·(R−1)/R elements sent per rank,
// and the extra memory is one n-element buffer.
#include "flashgmm_mpi/mpi_communicator.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "flashgmm/error.hpp"

namespace flashgmm::mpi {

namespace {

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  FLASHGMM_THROW(what << " failed: " << std::string(msg, (size_t)len));
}

// MPI counts are int: reduce long vectors in blocks whose per-rank pieces fit.
constexpr std::size_t kMaxBlock = std::size_t(1) << 28;

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, ReduceAlgorithm algorithm) : algorithm_(algorithm) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  FLASHGMM_CHECK(init && !fin, "MpiCommunicator: MPI is not initialised (call MPI_Init first)");
  FLASHGMM_CHECK(comm != MPI_COMM_NULL, "MpiCommunicator: null MPI communicator");
  check_mpi(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup");
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

MpiCommunicator::~MpiCommunicator() {
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void MpiCommunicator::allreduce_sum(double* data, std::size_t n) { reduce(data, n, MPI_DOUBLE); }
void MpiCommunicator::allreduce_sum(std::int64_t* data, std::size_t n) { reduce(data, n, MPI_INT64_T); }

template <typename T>
void MpiCommunicator::reduce(T* data, std::size_t n, MPI_Datatype type) {
  FLASHGMM_CHECK(data != nullptr || n == 0, "allreduce_sum: null buffer for " << n << " elements");
  const auto t0 = std::chrono::steady_clock::now();
  ++stats_.calls;
  stats_.payload_bytes += (std::int64_t)(n * sizeof(T));
  if (size_ > 1) {
    for (std::size_t b = 0; b < n; b += kMaxBlock) {
      const std::size_t c = std::min(kMaxBlock, n - b);
      if (algorithm_ == ReduceAlgorithm::rank_order) {
        reduce_rank_order(data + b, c, type);
      } else {
        check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + b, (int)c, type, MPI_SUM, comm_), "MPI_Allreduce");
      }
    }
  }
  stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <typename T>
void MpiCommunicator::reduce_rank_order(T* data, std::size_t n, MPI_Datatype type) {
  const int R = size_, me = rank_;
  // Rank s owns elements [begin[s], begin[s] + len[s]); pieces differ in length by at most 1.
  std::vector<int> begin(R), len(R);
  for (int s = 0; s < R; ++s) {
    const std::size_t lo = n * (std::size_t)s / R, hi = n * (std::size_t)(s + 1) / R;
    begin[s] = (int)lo;
    len[s] = (int)(hi - lo);
  }
  const int mine = len[me];
  // Every rank sends piece s to rank s; rank `me` receives its piece from every rank, in rank order.
  std::vector<T> pieces((std::size_t)mine * R);
  std::vector<int> rcount(R, mine), rdispl(R);
  for (int r = 0; r < R; ++r) rdispl[r] = r * mine;
  check_mpi(MPI_Alltoallv(data, len.data(), begin.data(), type, pieces.data(), rcount.data(), rdispl.data(),
                          type, comm_),
            "MPI_Alltoallv");
  T* out = data + begin[me];
  for (int i = 0; i < mine; ++i) {
    T acc = pieces[i];
    for (int r = 1; r < R; ++r) acc += pieces[(std::size_t)r * mine + i];
    out[i] = acc;
  }
  check_mpi(MPI_Allgatherv(MPI_IN_PLACE, 0, type, data, len.data(), begin.data(), type, comm_),
            "MPI_Allgatherv");
  stats_.bytes_sent += (std::int64_t)(((std::int64_t)n - mine) + (std::int64_t)mine * (R - 1)) * (std::int64_t)sizeof(T);
}

const char* to_string(ReduceAlgorithm a) {
  return a == ReduceAlgorithm::rank_order ? "rank-order" : "mpi";
}

ReduceAlgorithm parse_reduce_algorithm(const char* s) {
  if (std::strcmp(s, "rank-order") == 0) return ReduceAlgorithm::rank_order;
  if (std::strcmp(s, "mpi") == 0) return ReduceAlgorithm::mpi_allreduce;
  FLASHGMM_THROW("unknown reduction '" << s << "'; expected rank-order or mpi");
}

}  // namespace flashgmm::mpi
