// Multi-GPU scaling of one EM fit over NCCL (fit_multi_gpu): E-step (statistics + their NCCL
// sum) and full-iteration times at 1, 2, 4, 8 GPUs for the same N (strong scaling), and the
// parallel efficiency T1 / (P · TP) against the 1-GPU run made in the same process.
//
//   nccl_scaling [--n 100000000] [--k 4096] [--d 96] [--gpus 1,2,4,8] [--iters 4]
//                [--covariance diag] [--precision fast] [--reduce allreduce]
//   nccl_scaling --n 2000000 --k 1024          a quick run
//
// The rows are generated once into host memory that is page-locked (cudaHostRegister), so every
// GPU uploads its range with direct copies; each GPU keeps its rows resident, so the iterations
// after the first measure compute + reduction only. Initial parameters are given (K rows of the
// data as means, uniform weights, the generating variance), so no k-means runs on the host.
// Medians over the iterations after the first (which also uploads the rows).
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "flashgmm/flashgmm.hpp"
#include "flashgmm_nccl/multi_gpu_fit.hpp"

namespace {

using namespace flashgmm;

constexpr int kClusters = 256;
constexpr float kSigma = 0.5f;

std::uint64_t mix(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// Roughly standard normal (sum of four uniforms), from one hash.
float noise(std::uint64_t h) {
  float s = 0;
  for (int i = 0; i < 4; ++i, h >>= 16) s += float(h & 0xffff) * (1.0f / 65536.0f);
  return (s - 2.0f) * 1.7320508f;
}

// N rows × D around kClusters centres, filled by all host threads.
void generate(float* x, std::int64_t n, int d) {
  std::vector<float> centre(std::size_t(kClusters) * d);
  for (std::size_t i = 0; i < centre.size(); ++i) centre[i] = 4.0f * noise(mix(0xC0FFEEull + i));
  const int threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::int64_t i = n * t / threads; i < n * (t + 1) / threads; ++i) {
        const std::uint64_t h = mix(std::uint64_t(i));
        const float* c = centre.data() + std::size_t(h % kClusters) * d;
        float* xi = x + std::size_t(i) * d;
        for (int j = 0; j < d; ++j) xi[j] = c[j] + kSigma * noise(mix(h ^ (std::uint64_t(j + 1) << 40)));
      }
    });
  for (auto& th : pool) th.join();
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<int> parse_list(const char* s) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::atoi(item.c_str()));
  return out;
}

struct Row {
  int gpus = 0;
  double estep = NAN, iter = NAN, comm_per_call = NAN, lower_bound = NAN;
};

}  // namespace

int main(int argc, char** argv) {
  std::int64_t n = 100000000;
  int k = 4096, d = 96, iters = 4;
  std::vector<int> counts = {1, 2, 4, 8};
  std::string covariance = "diag", precision = "fast", reduce = "allreduce";
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "nccl_scaling: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--n")) n = std::atoll(next());
    else if (!std::strcmp(argv[i], "--k")) k = std::atoi(next());
    else if (!std::strcmp(argv[i], "--d")) d = std::atoi(next());
    else if (!std::strcmp(argv[i], "--iters")) iters = std::atoi(next());
    else if (!std::strcmp(argv[i], "--gpus")) counts = parse_list(next());
    else if (!std::strcmp(argv[i], "--covariance")) covariance = next();
    else if (!std::strcmp(argv[i], "--precision")) precision = next();
    else if (!std::strcmp(argv[i], "--reduce")) reduce = next();
    else {
      std::fprintf(stderr, "nccl_scaling: unknown argument %s (see the header of bench/nccl_scaling.cpp)\n", argv[i]);
      return 2;
    }
  }
  try {
    std::string why;
    const int visible = nccl::cuda_device_count(&why);
    FLASHGMM_CHECK(visible > 0, why);
    FLASHGMM_CHECK(iters >= 2, "--iters must be at least 2 (the first iteration also uploads the rows)");
    cudaDeviceProp prop{};
    FLASHGMM_CHECK(cudaGetDeviceProperties(&prop, 0) == cudaSuccess, "cudaGetDeviceProperties failed");
    counts.erase(std::remove_if(counts.begin(), counts.end(), [&](int c) {
                   if (c >= 1 && c <= visible) return false;
                   std::printf("skipping %d GPUs: %d visible\n", c, visible);
                   return true;
                 }),
                 counts.end());
    FLASHGMM_CHECK(!counts.empty() && counts.front() == 1, "the GPU counts must start with 1 (the baseline)");

    std::printf("nccl_scaling: N=%lld K=%d D=%d %s %s, reduction %s, %d iterations per fit; %d x %s\n",
                (long long)n, k, d, covariance.c_str(), precision.c_str(), reduce.c_str(), iters, visible, prop.name);
    const std::size_t bytes = std::size_t(n) * d * sizeof(float);
    auto t0 = std::chrono::steady_clock::now();
    // Not a std::vector: zero-filling 38 GB on one thread would take longer than generating it.
    std::unique_ptr<float[]> x(new float[std::size_t(n) * d]);
    generate(x.get(), n, d);
    const bool pinned = cudaHostRegister(x.get(), bytes, cudaHostRegisterPortable) == cudaSuccess;
    if (!pinned) (void)cudaGetLastError();
    std::printf("data: %.1f GB generated%s in %.1f s\n", bytes / 1e9, pinned ? " and page-locked" : " (page-locking failed: pageable copies)",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    const MatrixSource src(x.get(), n, d);

    Params p;
    p.n_components = k;
    p.covariance_type = parse_covariance_type(covariance);
    p.precision = parse_precision(precision);
    p.backend = BackendKind::cuda;
    p.max_iter = iters;
    p.tol = 0;  // run every iteration
    p.weights_init.assign(k, 1.0 / k);
    p.means_init.resize(std::size_t(k) * d);
    for (int j = 0; j < k; ++j)
      for (int t = 0; t < d; ++t) p.means_init[std::size_t(j) * d + t] = x[std::size_t(n / k * j) * d + t];
    const std::size_t per = p.covariance_type == CovarianceType::spherical ? 1
                            : p.covariance_type == CovarianceType::diag   ? std::size_t(d)
                                                                          : 0;
    FLASHGMM_CHECK(per > 0, "--covariance must be spherical or diag (the fused E-step)");
    p.precisions_init.assign(std::size_t(k) * per, 1.0 / (kSigma * kSigma));

    std::vector<Row> rows;
    for (int P : counts) {
      std::vector<int> devices(P);
      for (int i = 0; i < P; ++i) devices[i] = i;
      GaussianMixture gm(p);
      nccl::MultiGpuOptions o;
      o.devices = devices;
      o.reduce = nccl::parse_nccl_reduce(reduce);
      t0 = std::chrono::steady_clock::now();
      const nccl::MultiGpuReport rep = nccl::fit_multi_gpu(gm, src, nullptr, o);
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      // The slowest participant sets the pace; E-step times include waiting for the sum.
      Row r;
      r.gpus = P;
      std::vector<double> es, it;
      for (int i = 1; i < (int)gm.fit_info().history.size(); ++i) {
        double e = 0, s = 0;
        for (const auto& q : rep.participants) {
          e = std::max(e, q.info.history[i].estep_seconds);
          s = std::max(s, q.info.history[i].seconds);
        }
        es.push_back(e), it.push_back(s);
      }
      r.estep = median(es), r.iter = median(it), r.lower_bound = gm.lower_bound();
      const auto& c0 = rep.participants[0].comm;
      r.comm_per_call = c0.calls ? c0.seconds / c0.calls : 0;
      rows.push_back(r);
      std::printf("%d GPUs: E-step %.4f s, iteration %.4f s (medians of %zu), mean reduction call %.3f ms, "
                  "lower bound %.6f, fit %.1f s (NCCL_NVLS_ENABLE=%s)\n", P, r.estep, r.iter, es.size(),
                  1e3 * r.comm_per_call, r.lower_bound, wall, rep.nvls_enable.c_str());
      std::fflush(stdout);
    }
    const double stat_bytes = 8.0 * (k * (1.0 + d + (double)per) + 3);
    std::printf("\nstatistics summed per iteration: %.2f MB\n", stat_bytes / 1e6);
    std::printf("%5s %12s %8s %10s %12s %8s %10s\n", "GPUs", "E-step s", "speedup", "efficiency", "iteration s",
                "speedup", "efficiency");
    for (const Row& r : rows) {
      const double se = rows[0].estep / r.estep, si = rows[0].iter / r.iter;
      std::printf("%5d %12.4f %8.2f %10.3f %12.4f %8.2f %10.3f\n", r.gpus, r.estep, se, se / r.gpus, r.iter, si,
                  si / r.gpus);
    }
    if (pinned) cudaHostUnregister(x.get());
  } catch (const Error& e) {
    std::fprintf(stderr, "nccl_scaling: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
