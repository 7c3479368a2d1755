// flashgmm CUDA backend, fused path (placeholder until the tensor-core kernels land).
#include "cuda/estep_engine.cuh"

namespace flashgmm::cuda {
bool EstepEngine::fused_supported() const { return false; }
std::int64_t EstepEngine::fused_workspace_bytes() const { return 0; }
void EstepEngine::prepare_fused_params() {}
void EstepEngine::run_fused(const float*, const float*, std::int64_t, const RowOutputs&,
                            std::int64_t, bool) {}
}  // namespace flashgmm::cuda
