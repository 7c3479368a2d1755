// Helper of cli_test.sh: writes shard files, and checks a model against the single-process fit.
//   mpi_cli_tool shards DIR RANKS        → DIR/full.npy, shard-{r}.npy (rank 1 empty when RANKS ≥ 3),
//                                          baddim-{r}.npy (last rank D+1), nan-{r}.npy (last rank a NaN)
//   mpi_cli_tool check MODEL DATA K COV  → exit 0 when MODEL matches a single-process fit of DATA
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "flashgmm/flashgmm.hpp"
#include "mpi_test_data.hpp"

using namespace flashgmm;

namespace {
constexpr std::int64_t kRows = 4000;
constexpr int kDim = 6, kClusters = 5;

int shards(const std::string& dir, int R) {
  const std::vector<float> all = mpi_test::clustered(kRows, kDim, kClusters, 11);
  write_npy(dir + "/full.npy", all.data(), kRows, kDim);
  const auto off = mpi_test::uneven_offsets(kRows, R, R >= 3 ? 1 : -1);
  for (int r = 0; r < R; ++r) {
    const std::int64_t n = off[r + 1] - off[r];
    std::vector<float> x(all.begin() + off[r] * kDim, all.begin() + off[r + 1] * kDim);
    write_npy(dir + "/shard-" + std::to_string(r) + ".npy", x.data(), n, kDim);
    if (r == R - 1 && n > 0) x[kDim + 2] = std::numeric_limits<float>::quiet_NaN();
    write_npy(dir + "/nan-" + std::to_string(r) + ".npy", x.data(), n, kDim);
    const int d = r == R - 1 ? kDim + 1 : kDim;
    std::vector<float> y((size_t)10 * d, 1.0f);
    write_npy(dir + "/baddim-" + std::to_string(r) + ".npy", y.data(), 10, d);
  }
  return 0;
}

int check(const std::string& model, const std::string& data, int k, const std::string& cov) {
  GaussianMixture dist = GaussianMixture::load(model);
  Params p;
  p.n_components = k;
  p.covariance_type = parse_covariance_type(cov);
  GaussianMixture single(p);  // the CLI's defaults otherwise
  const auto src = open_data(data);
  single.fit(*src);
  const double a = dist.score(*src), b = single.score(*src);
  double worst = 0;
  for (size_t i = 0; i < single.means().size(); ++i)
    worst = std::max(worst, std::fabs(dist.means()[i] - single.means()[i]) / (1 + std::fabs(single.means()[i])));
  std::printf("mean log-likelihood: distributed %.12f, single %.12f (rel %.2e); worst mean difference %.2e\n", a, b,
              std::fabs(a - b) / std::fabs(b), worst);
  return std::fabs(a - b) <= 1e-6 * std::fabs(b) && worst <= 1e-5 ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "shards" && argc == 4) return shards(argv[2], std::atoi(argv[3]));
    if (cmd == "check" && argc == 6) return check(argv[2], argv[3], std::atoi(argv[4]), argv[5]);
    std::fprintf(stderr, "usage: mpi_cli_tool shards DIR RANKS | check MODEL DATA K COV\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpi_cli_tool: %s\n", e.what());
    return 2;
  }
}
