#include <flashgmm/flashgmm.hpp>

#include <cstdio>
#include <random>

int main() {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  std::vector<float> x(2000 * 3);
  for (size_t i = 0; i < x.size(); ++i) x[i] = nd(rng) + ((i / 3) % 2 ? 10.0f : 0.0f);
  flashgmm::Params p;
  p.n_components = 2;
  flashgmm::GaussianMixture g(p);
  g.fit(x.data(), 2000, 3);
  std::printf("consumer: converged=%d lower_bound=%.4f\n", (int)g.converged(), g.lower_bound());
  return g.converged() ? 0 : 1;
}
