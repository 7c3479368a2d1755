// `flashgmm generate`: a clustered synthetic data set (Gaussian blobs with random spreads).
#include <cstdio>
#include <random>

#include "commands.hpp"
#include "flashgmm/flashgmm.hpp"
#include "preflight.hpp"
#include "terminal_bar.hpp"

namespace flashgmm::cli {

namespace {
struct GenerateOptions {
  std::string out;
  long long n = 100000;
  int d = 32, k = 16;
  double separation = 4.0;
  std::uint64_t seed = 0;
};

void run_generate(const GenerateOptions& o) {
  FLASHGMM_CHECK(o.n >= 1 && o.d >= 1 && o.k >= 1, "--n, --d and --k must be >= 1");
  require_writable_output(o.out, "--out");
  std::mt19937_64 rng(o.seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> spread(0.5f, 1.5f);
  std::vector<float> centers((size_t)o.k * o.d), scale(o.k);
  for (auto& v : centers) v = nd(rng) * (float)o.separation;
  for (auto& s : scale) s = spread(rng);
  std::discrete_distribution<int> pick(scale.begin(), scale.end());  // uneven cluster sizes
  std::vector<float> x((size_t)o.n * o.d);
  TerminalBar bar(TerminalBar::stderr_is_terminal());
  for (long long i = 0; i < o.n; ++i) {
    if (i % 65536 == 0) bar.draw((double)i / o.n, "generate", -1);  // not per row: a clock read each
    const int c = pick(rng);
    for (int j = 0; j < o.d; ++j) x[(size_t)i * o.d + j] = centers[(size_t)c * o.d + j] + scale[c] * nd(rng);
  }
  bar.clear();
  const std::string& p = o.out;
  if (p.size() > 6 && p.substr(p.size() - 6) == ".fvecs") write_fvecs(p, x.data(), o.n, o.d);
  else write_npy(p, x.data(), o.n, o.d);
  std::printf("wrote %s: %lld rows x %d dims from %d clusters\n", p.c_str(), o.n, o.d, o.k);
}
}  // namespace

void add_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* c = app.add_subcommand("generate", "Write a clustered synthetic data set (.npy or .fvecs)");
  c->add_option("--out", o->out, "Output file")->required();
  c->add_option("--n", o->n, "Rows")->capture_default_str();
  c->add_option("--d", o->d, "Dimensions")->capture_default_str();
  c->add_option("--k", o->k, "Clusters")->capture_default_str();
  c->add_option("--separation", o->separation, "Spread of the cluster centres")->capture_default_str();
  c->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  c->callback([o] { run_generate(*o); });
}

}  // namespace flashgmm::cli
