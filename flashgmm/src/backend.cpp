// Backend selection and the default streaming pass over a data source.
#include "flashgmm/backend.hpp"

#include <algorithm>
#include <vector>

#include "cpu/cpu_backend.hpp"
#include "flashgmm/error.hpp"
#ifdef FLASHGMM_WITH_CUDA
#include "cuda/cuda_backend.hpp"
#endif

namespace flashgmm {

std::int64_t default_chunk_rows(std::int64_t requested, int dim) {
  if (requested > 0) return requested;
  return std::max<std::int64_t>(1, (64LL << 20) / (4LL * std::max(dim, 1)));
}

void Backend::estep_source(const DataSource& src, const float* w, SuffStats* stats,
                           const RowOutputs& rows, std::int64_t chunk_rows) {
  const std::int64_t n = src.rows();
  const int d = src.dim();
  const std::int64_t chunk = default_chunk_rows(chunk_rows, d);
  const float* base = src.contiguous();
  std::vector<float> buf;
  if (!base) buf.resize((size_t)std::min(chunk, n) * d);
  for (std::int64_t b = 0; b < n; b += chunk) {
    const std::int64_t c = std::min(chunk, n - b);
    const float* x = base ? base + (size_t)b * d : buf.data();
    if (!base) src.read(b, c, buf.data());
    RowOutputs r = rows;  // shift per-row outputs to this chunk
    if (r.log_z) r.log_z += b;
    if (r.top_ids) r.top_ids += (size_t)b * r.top_m;
    if (r.top_probs) r.top_probs += (size_t)b * r.top_m;
    if (r.proba) r.proba = nullptr;  // never N×K over a whole source
    FLASHGMM_ASSERT(rows.proba == nullptr);
    estep(x, c, w ? w + b : nullptr, stats, r);
  }
}

std::string cuda_unavailable_reason() {
#ifdef FLASHGMM_WITH_CUDA
  std::string why;
  if (cuda::device_count(&why) > 0) return "";
  return why.empty() ? "no CUDA device" : why;
#else
  return "flashgmm was built without CUDA (configure with a CUDA compiler and FLASHGMM_WITH_CUDA=ON)";
#endif
}

bool cuda_available() { return cuda_unavailable_reason().empty(); }

std::unique_ptr<Backend> make_backend(const Params& p, int dim) {
  switch (p.backend) {
    case BackendKind::cpu:
      return cpu::make_backend(p, dim);
    case BackendKind::cuda: {
      const std::string why = cuda_unavailable_reason();
      FLASHGMM_CHECK(why.empty(), "the CUDA backend was requested but is not available: " << why);
#ifdef FLASHGMM_WITH_CUDA
      return cuda::make_backend(p, dim);
#endif
      break;
    }
    case BackendKind::automatic:
#ifdef FLASHGMM_WITH_CUDA
      if (cuda_available()) return cuda::make_backend(p, dim);
#endif
      return cpu::make_backend(p, dim);
  }
  FLASHGMM_THROW("unknown backend");
}

}  // namespace flashgmm
