// flashgmm over NCCL: one EM over several GPUs of this process, each streaming its own rows.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "flashgmm/gaussian_mixture.hpp"
#include "flashgmm_nccl/nccl_communicator.hpp"

namespace flashgmm::nccl {

/// Options of fit_multi_gpu beyond the GaussianMixture's own Params.
struct MultiGpuOptions {
  /// CUDA devices, one participant each, participant i on devices[i] with the i-th contiguous
  /// row range. Empty = every visible device.
  std::vector<int> devices;
  NcclReduce reduce = NcclReduce::allreduce;
  /// Called on every participant's thread after each of its iterations (participant index,
  /// the iteration); returning false or throwing stops the whole fit with an Error. The
  /// GaussianMixture's own iteration callback is not called (it cannot be read back).
  std::function<bool(int participant, const IterationStats&)> on_iteration;
};

/// What each participant did.
struct ParticipantReport {
  int device = 0;
  std::int64_t first_row = 0, rows = 0;
  NcclCommStats comm;
  FitInfo info;
};

struct MultiGpuReport {
  std::vector<ParticipantReport> participants;
  std::string nvls_enable;  ///< NCCL_NVLS_ENABLE in effect ("0" unless the user set it)
};

/// Fits gm on `data` (sample_weight: data.rows() values ≥ 0, or null) with one thread per GPU:
/// each thread selects its device, holds a copy of gm's Params with backend = cuda (verbose
/// output from participant 0 only; with warm_start, a copy of gm's model), and runs
/// GaussianMixture::fit(its rows, its weights, its NcclCommunicator). The statistics of every
/// pass are summed with NCCL, so every participant reaches the same model, the one a single
/// GPU would fit up to summation order. On return gm holds that model and participant 0's
/// FitInfo; gm's Params are kept, its iteration callback is cleared (use
/// MultiGpuOptions::on_iteration). Throws Error if the participants' models are not bitwise
/// identical (a bug: NCCL hands every participant the same sums).
///
/// When any participant throws, the others are stopped (their communicators aborted, so none
/// waits forever in a collective), every thread is joined, and the first error is rethrown
/// (flashgmm::Error as is; anything else wrapped in Error naming the participant and GPU).
MultiGpuReport fit_multi_gpu(GaussianMixture& gm, const DataSource& data, const float* sample_weight,
                             const MultiGpuOptions& options);
inline MultiGpuReport fit_multi_gpu(GaussianMixture& gm, const DataSource& data, const float* sample_weight,
                                    std::vector<int> devices) {
  MultiGpuOptions o;
  o.devices = std::move(devices);
  return fit_multi_gpu(gm, data, sample_weight, o);
}

/// Visible CUDA devices (0 with the reason in *why when none can be used).
int cuda_device_count(std::string* why = nullptr);

}  // namespace flashgmm::nccl
