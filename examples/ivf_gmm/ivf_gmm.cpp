// IVF with a Gaussian-mixture coarse quantizer (flashgmm::ivf::GmmIvfIndex) vs FAISS k-means IVF:
// recall@k and distance computations per query for a sweep of nprobe; writes the curve as SVG.
//
//   example_ivf_gmm DATA.npy [--nlist 1024] [--nq 1000] [--n 0] [--k 10] [--svg ivf_gmm.svg]
//
// DATA: any .npy/.fvecs file (examples/ivf_gmm/ivf_gmm.py leaves GloVe 6B 50d in
// ~/.cache/flashgmm/glove_6B_50d.npy). Queries are random held-out rows; ground truth is exact.
// The mixture is fitted on the GPU when flashgmm has CUDA and a device is visible.
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_factory.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "flashgmm/backend.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm_faiss/gmm_ivf_index.hpp"

namespace {

using idx_t = faiss::Index::idx_t;

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double recall(const std::vector<idx_t>& found, const std::vector<idx_t>& truth, std::int64_t nq, int k) {
  double hits = 0;
  for (std::int64_t q = 0; q < nq; ++q) {
    std::set<idx_t> t(truth.begin() + q * k, truth.begin() + (q + 1) * k);
    for (int j = 0; j < k; ++j) hits += t.count(found[q * k + j]);
  }
  return hits / (static_cast<double>(nq) * k);
}

struct Point {
  int nprobe;
  double recall_km, ndis_km, recall_gmm, ndis_gmm;
};

// A small SVG line chart: recall vs distance computations (log x), one line per index.
void write_svg(const std::string& path, const std::vector<Point>& pts, const std::string& title) {
  const double W = 640, H = 420, L = 60, R = 20, T = 40, B = 50;
  double xmin = 1e300, xmax = 0, ymin = 1, ymax = 0;
  for (const Point& p : pts) {
    xmin = std::min({xmin, p.ndis_km, p.ndis_gmm});
    xmax = std::max({xmax, p.ndis_km, p.ndis_gmm});
    ymin = std::min({ymin, p.recall_km, p.recall_gmm});
    ymax = std::max({ymax, p.recall_km, p.recall_gmm});
  }
  ymin = std::max(0.0, ymin - 0.02);
  ymax = std::min(1.0, ymax + 0.02);
  auto X = [&](double v) { return L + (std::log(v) - std::log(xmin)) / (std::log(xmax) - std::log(xmin) + 1e-12) * (W - L - R); };
  auto Y = [&](double v) { return H - B - (v - ymin) / (ymax - ymin + 1e-12) * (H - T - B); };
  std::ofstream f(path);
  f << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' font-family='sans-serif' font-size='12'>\n"
    << "<rect width='100%' height='100%' fill='white'/>\n"
    << "<text x='" << W / 2 << "' y='22' text-anchor='middle'>" << title << "</text>\n"
    << "<line x1='" << L << "' y1='" << H - B << "' x2='" << W - R << "' y2='" << H - B << "' stroke='black'/>\n"
    << "<line x1='" << L << "' y1='" << T << "' x2='" << L << "' y2='" << H - B << "' stroke='black'/>\n"
    << "<text x='" << W / 2 << "' y='" << H - 12 << "' text-anchor='middle'>distance computations per query (log)</text>\n"
    << "<text x='15' y='" << H / 2 << "' transform='rotate(-90 15 " << H / 2 << ")' text-anchor='middle'>recall</text>\n";
  for (int i = 0; i <= 4; ++i) {
    const double v = ymin + (ymax - ymin) * i / 4;
    f << "<text x='" << L - 6 << "' y='" << Y(v) + 4 << "' text-anchor='end'>" << std::to_string(v).substr(0, 5) << "</text>\n";
  }
  const char* colors[2] = {"#1f77b4", "#d62728"};
  for (int s = 0; s < 2; ++s) {
    f << "<polyline fill='none' stroke='" << colors[s] << "' stroke-width='2' points='";
    for (const Point& p : pts) f << X(s ? p.ndis_gmm : p.ndis_km) << "," << Y(s ? p.recall_gmm : p.recall_km) << " ";
    f << "'/>\n";
    for (const Point& p : pts)
      f << "<circle cx='" << X(s ? p.ndis_gmm : p.ndis_km) << "' cy='" << Y(s ? p.recall_gmm : p.recall_km)
        << "' r='3' fill='" << colors[s] << "'/>\n";
    f << "<text x='" << L + 10 << "' y='" << T + 16 + 16 * s << "' fill='" << colors[s] << "'>"
      << (s ? "flashgmm GMM IVF (multi-assignment)" : "FAISS k-means IVF") << "</text>\n";
  }
  f << "</svg>\n";
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0) {
    std::fprintf(stderr, "usage: %s DATA.npy [--nlist 1024] [--nq 1000] [--n 0] [--k 10] [--svg ivf_gmm.svg]\n", argv[0]);
    return 2;
  }
  std::string path = argv[1], svg = "ivf_gmm.svg";
  int nlist = 1024, k = 10;
  std::int64_t nq = 1000, nmax = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string opt = argv[i], val = argv[i + 1];
    if (opt == "--nlist") nlist = std::stoi(val);
    else if (opt == "--nq") nq = std::stoll(val);
    else if (opt == "--n") nmax = std::stoll(val);
    else if (opt == "--k") k = std::stoi(val);
    else if (opt == "--svg") svg = val;
    else FLASHGMM_THROW("unknown option " << opt);
  }
  const auto src = flashgmm::open_data(path);
  const int d = src->dim();
  std::int64_t n_all = src->rows();
  if (nmax > 0) n_all = std::min(n_all, nmax + nq);
  FLASHGMM_CHECK(n_all > nq + nlist, "need more rows than queries + nlist, have " << n_all);
  std::vector<float> x(static_cast<std::size_t>(n_all) * d);
  src->read(0, n_all, x.data());
  // Held-out queries: a random permutation, the first nq rows are queries.
  std::vector<std::int64_t> perm(n_all);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(0));
  const std::int64_t n = n_all - nq;
  std::vector<float> xq(static_cast<std::size_t>(nq) * d), xb(static_cast<std::size_t>(n) * d);
  for (std::int64_t i = 0; i < n_all; ++i)
    std::memcpy(i < nq ? &xq[i * d] : &xb[(i - nq) * d], &x[perm[i] * d], sizeof(float) * d);
  x.clear();
  x.shrink_to_fit();
  const bool gpu = flashgmm::cuda_available();
  std::printf("data: %s, %lld database rows, %lld queries, d=%d; nlist=%d, k=%d; mixture on %s\n",
              src->describe().c_str(), (long long)n, (long long)nq, d, nlist, k, gpu ? "cuda" : "cpu");

  faiss::IndexFlatL2 flat(d);
  flat.add(n, xb.data());
  std::vector<float> dist(nq * k);
  std::vector<idx_t> truth(nq * k), found(nq * k);
  flat.search(nq, xq.data(), k, dist.data(), truth.data());

  const std::string key = "IVF" + std::to_string(nlist) + ",Flat";
  auto t = std::chrono::steady_clock::now();
  std::unique_ptr<faiss::IndexIVF> km(dynamic_cast<faiss::IndexIVF*>(faiss::index_factory(d, key.c_str())));
  km->train(n, xb.data());
  km->add(n, xb.data());
  std::printf("k-means IVF: built in %.1fs\n", seconds_since(t));

  t = std::chrono::steady_clock::now();
  flashgmm::ivf::GmmIvfParams gp;
  gp.gmm.backend = flashgmm::BackendKind::automatic;
  flashgmm::ivf::GmmIvfIndex gm(d, key, gp);
  gm.train(n, xb.data());
  gm.add(n, xb.data());
  std::printf("GMM IVF:     built in %.1fs, %.2f entries per vector, imbalance %.2f\n", seconds_since(t),
              static_cast<double>(gm.n_entries()) / gm.n_vectors(), gm.imbalance_factor());

  std::vector<Point> pts;
  std::printf("\n%6s | %14s %10s | %10s %10s\n", "nprobe", "k-means recall", "ndis/query", "GMM recall", "ndis/query");
  for (int nprobe : {1, 2, 4, 8, 16, 32}) {
    if (nprobe > nlist) break;
    Point p{nprobe, 0, 0, 0, 0};
    flashgmm::ivf::SearchStats s1, s2;
    flashgmm::ivf::search_distinct(*km, nq, xq.data(), k, nprobe, 1, dist.data(), found.data(), &s1);
    p.recall_km = recall(found, truth, nq, k);
    p.ndis_km = static_cast<double>(s1.ndis) / nq;
    gm.search(nq, xq.data(), k, dist.data(), found.data(), nprobe, &s2);
    p.recall_gmm = recall(found, truth, nq, k);
    p.ndis_gmm = static_cast<double>(s2.ndis) / nq;
    pts.push_back(p);
    std::printf("%6d | %14.4f %10.0f | %10.4f %10.0f\n", nprobe, p.recall_km, p.ndis_km, p.recall_gmm, p.ndis_gmm);
  }
  write_svg(svg, pts, "recall@" + std::to_string(k) + " vs distance computations, N=" + std::to_string(n));
  std::printf("plot: %s\n", svg.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "example_ivf_gmm: error: %s\n", e.what());
  return 1;
}
