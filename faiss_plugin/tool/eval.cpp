// flashgmm-ivf eval: our multi-assignment IVF against FAISS k-means IVF trained with the same
// budget as our centroids (iterations, points per list), FAISS k-means with its own defaults,
// naive top-2 spilling and k-means + SOAR (same nlist, same codec), on recall vs distance
// computations.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

#include <unistd.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_factory.h>

#include "commands.hpp"
#include "flashgmm/error.hpp"
#include "tool_io.hpp"

namespace flashgmm_ivf_tool {

using flashgmm::ivf::GmmIvfIndex;
using flashgmm::ivf::SearchStats;
using idx_t = faiss::Index::idx_t;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Point {
  int nprobe = 0;
  double probe_mass = 1.0;
  double recall[3] = {NAN, NAN, NAN};  // @1, @10, @100
  double ndis = 0, lists = 0, qps = 0;
};

struct Method {
  std::string name;
  double train_s = 0, add_s = 0, imbalance = 0;
  std::int64_t entries = 0;
  std::vector<Point> points;
  double ndis_at_target = NAN;
};

constexpr int kRecallAt[3] = {1, 10, 100};

int recall_slot(int k) {
  for (int i = 0; i < 3; ++i)
    if (kRecallAt[i] == k) return i;
  FLASHGMM_THROW("--k must be 1, 10 or 100, got " << k);
}

// k-recall@r: |first r results ∩ first r true neighbours| / r, averaged over queries.
double recall(const std::vector<idx_t>& res, int ks, const IdMatrix& gt, int r) {
  if (r > gt.cols || r > ks) return NAN;
  double hit = 0;
  std::vector<std::int64_t> truth(static_cast<size_t>(r));
  for (std::int64_t i = 0; i < gt.rows; ++i) {
    std::copy(gt.data.begin() + i * gt.cols, gt.data.begin() + i * gt.cols + r, truth.begin());
    std::sort(truth.begin(), truth.end());
    for (int j = 0; j < r; ++j) {
      const idx_t id = res[static_cast<size_t>(i * ks + j)];
      if (id >= 0 && std::binary_search(truth.begin(), truth.end(), id)) hit += 1;
    }
  }
  return hit / (static_cast<double>(gt.rows) * r);
}

// ndis at which the recall curve first reaches `target` (linear between the bracketing points).
double ndis_at(const std::vector<Point>& pts, int slot, double target) {
  std::vector<Point> s = pts;
  std::sort(s.begin(), s.end(), [](const Point& a, const Point& b) { return a.ndis < b.ndis; });
  for (size_t i = 0; i < s.size(); ++i) {
    if (!(s[i].recall[slot] >= target)) continue;
    if (i == 0) return s[i].ndis;
    const Point &a = s[i - 1], &b = s[i];
    const double t = (target - a.recall[slot]) / (b.recall[slot] - a.recall[slot]);
    return a.ndis + std::clamp(t, 0.0, 1.0) * (b.ndis - a.ndis);
  }
  return NAN;
}

std::unique_ptr<faiss::IndexIVF> make_ivf(int d, const std::string& key) {
  std::unique_ptr<faiss::Index> idx(faiss::index_factory(d, key.c_str(), faiss::METRIC_L2));
  auto* ivf = dynamic_cast<faiss::IndexIVF*>(idx.get());
  FLASHGMM_CHECK(ivf != nullptr, "index key '" << key << "' does not make an IVF index");
  idx.release();
  return std::unique_ptr<faiss::IndexIVF>(ivf);
}

// Adds rows in chunks with a progress bar; `add_chunk(c0, nc)` does the work.
double add_with_progress(const std::string& label, idx_t n, const std::function<void(idx_t, idx_t)>& add_chunk,
                         idx_t chunk = 65536) {
  const double t0 = now_s();
  Progress bar(label, n);
  for (idx_t c0 = 0; c0 < n; c0 += chunk) {
    const idx_t nc = std::min(chunk, n - c0);
    add_chunk(c0, nc);
    bar.update(c0 + nc);
  }
  bar.finish();
  return now_s() - t0;
}

void print_table(const Method& m, int k_slot, double target) {
  std::printf("\n== %s: train %.2f s, add %.2f s, %lld entries, imbalance %.3f ==\n", m.name.c_str(), m.train_s, m.add_s,
              static_cast<long long>(m.entries), m.imbalance);
  std::printf("%7s %6s %9s %9s %10s %12s %8s %10s\n", "nprobe", "mass", "R@1", "R@10", "R@100", "ndis/query",
              "lists/q", "QPS");
  for (const Point& p : m.points) {
    std::printf("%7d %6.3g %9.4f %9.4f %10.4f %12.1f %8.2f %10.0f\n", p.nprobe, p.probe_mass, p.recall[0], p.recall[1],
                p.recall[2], p.ndis, p.lists, p.qps);
  }
  if (std::isnan(m.ndis_at_target))
    std::printf("recall@%d = %.2f not reached\n", kRecallAt[k_slot], target);
  else
    std::printf("recall@%d = %.2f at %.1f distance computations per query\n", kRecallAt[k_slot], target,
                m.ndis_at_target);
}

std::string json_num(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

const char* kPlotScript = R"PY(
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
csv_path, png_path, col, title = sys.argv[1:5]
curves = {}
for r in csv.DictReader(open(csv_path)):
    if r[col] not in ("", "nan"):
        curves.setdefault(r["method"], []).append((float(r["ndis_per_query"]), float(r[col])))
fig, ax = plt.subplots(figsize=(7.5, 5))
for name, pts in curves.items():
    pts.sort()
    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
ax.set_xscale("log")
ax.set_xlabel("distance computations per query (list entries scanned)")
ax.set_ylabel(col.replace("_at_", "@"))
ax.set_title(title)
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.savefig(png_path, dpi=120, bbox_inches="tight")
)PY";

void write_plot(const std::string& csv, const std::string& png, int k, const std::string& title) {
  if (::access("/usr/bin/python3", X_OK) != 0) {
    std::fprintf(stderr, "note: no /usr/bin/python3, plot %s not written (CSV %s has the data)\n", png.c_str(), csv.c_str());
    return;
  }
  if (std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") != 0) {
    std::fprintf(stderr,
                 "note: matplotlib is not importable by /usr/bin/python3 (apt-get install python3-matplotlib); "
                 "plot %s not written, CSV %s has the data\n",
                 png.c_str(), csv.c_str());
    return;
  }
  const std::string script = png + ".plot.py";
  {
    std::ofstream f(script);
    f << kPlotScript;
  }
  auto quote = [](const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  const std::string cmd = "/usr/bin/python3 " + quote(script) + " " + quote(csv) + " " + quote(png) + " recall_at_" +
                          std::to_string(k) + " " + quote(title);
  const int rc = std::system(cmd.c_str());
  std::remove(script.c_str());
  if (rc != 0)
    std::fprintf(stderr, "note: plotting failed (exit %d); CSV %s has the data\n", rc, csv.c_str());
  else
    std::fprintf(stderr, "plot written to %s\n", png.c_str());
}

// What our index is, in words: where its centroids come from and the rule that picks each
// vector's lists (the default's lists do not come from the mixture, so it is not called "gmm").
std::string method_name(const flashgmm::ivf::GmmIvfParams& p) {
  using flashgmm::ivf::CentroidSource;
  using flashgmm::ivf::SpillRule;
  std::string c = "mixture";
  if (p.centroids == CentroidSource::kmeans)
    c = p.refine_centroids && p.assign.rule == SpillRule::neighbors ? "refined-kmeans" : "kmeans";
  return c + "+" + flashgmm::ivf::to_string(p.assign.rule);
}

}  // namespace

int run_eval(const EvalOptions& o) {
  const int slot = recall_slot(o.k);
  const Matrix x = load_matrix(o.data, "data");
  const Matrix q = load_matrix(o.queries, "queries");
  FLASHGMM_CHECK(q.dim == x.dim, "queries have dimension " << q.dim << ", data " << x.dim);
  FLASHGMM_CHECK(x.rows >= o.gmm.nlist, "data has " << x.rows << " rows, fewer than --nlist " << o.gmm.nlist);
  const std::string key = expand_key(o.gmm.index_key, o.gmm.nlist);
  std::vector<int> nprobes = parse_int_list(o.nprobe, "--nprobe");
  for (int& p : nprobes) p = std::min(p, o.gmm.nlist);
  nprobes.erase(std::unique(nprobes.begin(), nprobes.end()), nprobes.end());
  const int ks = static_cast<int>(std::min<std::int64_t>(100, x.rows));
  const int d = x.dim;
  const idx_t n = x.rows, nq = q.rows;

  IdMatrix gt;
  if (!o.gt.empty()) {
    gt = load_ids(o.gt);
    FLASHGMM_CHECK(gt.rows == nq, "ground truth has " << gt.rows << " rows, queries " << nq);
    for (std::int64_t v : gt.data) FLASHGMM_CHECK(v >= 0 && v < n, "ground truth id " << v << " out of range");
  } else {
    std::fprintf(stderr, "computing exact ground truth (IndexFlatL2, k=%d) ...\n", ks);
    faiss::IndexFlatL2 flat(d);
    flat.add(n, x.data.data());
    std::vector<float> dis(static_cast<size_t>(nq) * ks);
    std::vector<idx_t> ids(dis.size());
    flat.search(nq, q.data.data(), ks, dis.data(), ids.data());
    gt.rows = nq;
    gt.cols = ks;
    gt.data.assign(ids.begin(), ids.end());
  }

  std::vector<float> dis(static_cast<size_t>(nq) * ks);
  std::vector<idx_t> res(dis.size());
  auto measure = [&](const faiss::IndexIVF& ivf, int nprobe, int copies, double mass) {
    SearchStats st;
    flashgmm::ivf::search_distinct(ivf, nq, q.data.data(), ks, nprobe, copies, dis.data(), res.data(), &st);
    Point p;
    p.nprobe = nprobe;
    p.probe_mass = mass;
    for (int i = 0; i < 3; ++i) p.recall[i] = recall(res, ks, gt, kRecallAt[i]);
    p.ndis = static_cast<double>(st.ndis) / nq;
    p.lists = static_cast<double>(st.lists_probed) / nq;
    p.qps = nq / std::max(st.seconds, 1e-9);
    return p;
  };
  std::vector<Method> methods;

  // (1) GMM quantizer + multi-assignment.
  flashgmm::ivf::GmmIvfParams gp = make_params(o.gmm);
  GmmIvfIndex gmm(d, key, gp);
  std::fprintf(stderr, "training GMM quantizer (%s, %s, K=%d) ...\n", o.gmm.covariance.c_str(), key.c_str(), o.gmm.nlist);
  gmm.train(n, x.data.data());
  Method mg;
  mg.name = method_name(gp);
  mg.train_s = gmm.train_seconds();
  // The neighbors rule assigns each add() call as one batch (its rows are one another's queries).
  const bool one_batch = gp.assign.rule == flashgmm::ivf::SpillRule::neighbors;
  mg.add_s = add_with_progress(
      mg.name + " add", n, [&](idx_t c0, idx_t nc) { gmm.add(nc, x.data.data() + c0 * d); }, one_batch ? n : 65536);
  mg.entries = gmm.n_entries();
  mg.imbalance = gmm.imbalance_factor();
  for (int p : nprobes) mg.points.push_back(measure(gmm.ivf(), p, gp.assign.max_copies, gp.routing.probe_mass));
  methods.push_back(mg);
  if (!o.probe_masses.empty()) {
    Method ma = mg;
    ma.name = mg.name + "+adaptive";
    ma.points.clear();
    flashgmm::ivf::RoutingParams r = gp.routing;
    for (double m : parse_double_list(o.probe_masses, "--probe-masses")) {
      r.probe_mass = m;
      gmm.set_routing(r);
      ma.points.push_back(measure(gmm.ivf(), nprobes.back(), gp.assign.max_copies, m));
    }
    gmm.set_routing(gp.routing);
    methods.push_back(ma);
  }

  // (2) FAISS k-means IVF with the same budget as our centroids (iterations, training points per
  // list; --kmeans-niter overrides the iterations), and (2b) with FAISS's own IVF defaults. The
  // ratios are against (2): the baseline a FAISS user would tune to the same training cost.
  const bool ours_kmeans = gp.centroids == flashgmm::ivf::CentroidSource::kmeans;
  const int budget_niter = o.kmeans_niter > 0 ? o.kmeans_niter
                           : ours_kmeans && gp.centroid_niter > 0 ? gp.centroid_niter
                                                                  : o.gmm.niter;
  const int budget_points = ours_kmeans && gp.centroid_max_points_per_centroid > 0 ? gp.centroid_max_points_per_centroid
                                                                                   : o.gmm.max_points_per_centroid;
  auto train_kmeans = [&](const std::string& name, int niter, int points, std::unique_ptr<faiss::IndexIVF>& ivf) {
    ivf = make_ivf(d, key);
    ivf->cp.niter = niter;
    ivf->cp.seed = o.gmm.seed;
    ivf->cp.max_points_per_centroid = points;
    ivf->cp.verbose = o.gmm.verbose;
    std::fprintf(stderr, "training FAISS k-means quantizer (%s: %d iterations, <= %d points per list) ...\n", name.c_str(),
                 niter, points);
    Method m;
    m.name = name;
    double t0 = now_s();
    ivf->train(n, x.data.data());
    m.train_s = now_s() - t0;
    m.add_s = add_with_progress(name + " add", n, [&](idx_t c0, idx_t nc) {
      std::vector<idx_t> ids(static_cast<size_t>(nc));
      for (idx_t i = 0; i < nc; ++i) ids[static_cast<size_t>(i)] = c0 + i;
      ivf->add_with_ids(nc, x.data.data() + c0 * d, ids.data());
    });
    m.entries = ivf->ntotal;
    m.imbalance = ivf->invlists->imbalance_factor();
    for (int p : nprobes) m.points.push_back(measure(*ivf, p, 1, 1.0));
    return m;
  };
  std::unique_ptr<faiss::IndexIVF> km, km_defaults;
  const Method mk = train_kmeans("kmeans", budget_niter, budget_points, km);
  methods.push_back(mk);
  {
    const faiss::ClusteringParameters faiss_defaults = make_ivf(d, key)->cp;  // Level1Quantizer's: 10 × 256
    methods.push_back(train_kmeans("kmeans-faiss-defaults", faiss_defaults.niter, faiss_defaults.max_points_per_centroid,
                                   km_defaults));
    km_defaults.reset();
  }

  // (3) The same k-means quantizer, every vector in its 2 nearest lists.
  auto sp = make_ivf(d, key);
  const auto* kq = dynamic_cast<const faiss::IndexFlat*>(km->quantizer);
  FLASHGMM_CHECK(kq != nullptr, "k-means quantizer is not flat");
  sp->quantizer->add(kq->ntotal, kq->get_xb());
  sp->train(n, x.data.data());  // clustering skipped; trains the codec only
  Method ms;
  ms.name = "kmeans-spill2";
  ms.train_s = mk.train_s;  // the equal-budget k-means quantizer
  ms.add_s = add_with_progress("spill2 add", n, [&](idx_t c0, idx_t nc) {
    std::vector<float> cd(static_cast<size_t>(nc) * 2);
    std::vector<idx_t> lists(cd.size()), ids(cd.size());
    sp->quantizer->search(nc, x.data.data() + c0 * d, 2, cd.data(), lists.data());
    std::vector<float> xs(static_cast<size_t>(nc) * 2 * d);
    for (idx_t i = 0; i < nc; ++i)
      for (int j = 0; j < 2; ++j) {
        ids[static_cast<size_t>(i * 2 + j)] = c0 + i;
        std::copy(x.data.begin() + (c0 + i) * d, x.data.begin() + (c0 + i + 1) * d, xs.begin() + (i * 2 + j) * d);
      }
    sp->add_core(nc * 2, xs.data(), ids.data(), lists.data());
  });
  ms.entries = sp->ntotal;
  ms.imbalance = sp->invlists->imbalance_factor();
  for (int p : nprobes) ms.points.push_back(measure(*sp, p, 2, 1.0));
  methods.push_back(ms);

  // (4) The same k-means quantizer with the soar rule (the GMM index's soar parameters when it
  // uses soar, else soar's defaults): the previous default, and the rule without our centroids.
  auto ks2 = make_ivf(d, key);
  ks2->quantizer->add(kq->ntotal, kq->get_xb());
  ks2->train(n, x.data.data());
  flashgmm::ivf::MultiAssignParams kap = gp.assign;
  if (gp.assign.rule != flashgmm::ivf::SpillRule::soar) kap = flashgmm::ivf::MultiAssignParams();
  kap.rule = flashgmm::ivf::SpillRule::soar;
  // soar's own default of two lists unless soar is the rule being evaluated
  kap.max_copies = gp.assign.rule == flashgmm::ivf::SpillRule::soar ? std::max(2, gp.assign.max_copies) : 2;
  kap.candidates = std::max(kap.candidates, kap.max_copies);
  if (kap.spill_threshold <= 0) {  // one threshold for all rows, from an evenly strided sample
    const idx_t step = std::max<idx_t>(1, n / 65536);
    std::vector<float> sample;
    for (idx_t i = 0; i < n; i += step) sample.insert(sample.end(), x.data.begin() + i * d, x.data.begin() + (i + 1) * d);
    kap.spill_threshold = flashgmm::ivf::calibrate_spill_threshold(*ks2->quantizer, sample.data(),
                                                                    static_cast<idx_t>(sample.size() / d), kap);
  }
  Method mks;
  mks.name = "kmeans-soar";
  mks.train_s = mk.train_s;
  mks.add_s = add_with_progress("kmeans-soar add", n, [&](idx_t c0, idx_t nc) {
    const int m = kap.max_copies;
    std::vector<idx_t> lists(static_cast<size_t>(nc) * m);
    flashgmm::ivf::assign_lists_soar(*ks2->quantizer, x.data.data() + c0 * d, nc, kap, lists.data());
    std::vector<float> xs;
    std::vector<idx_t> ids, ll;
    for (idx_t i = 0; i < nc; ++i)
      for (int j = 0; j < m; ++j) {
        const idx_t l = lists[static_cast<size_t>(i * m + j)];
        if (l < 0) continue;
        ids.push_back(c0 + i);
        ll.push_back(l);
        xs.insert(xs.end(), x.data.begin() + (c0 + i) * d, x.data.begin() + (c0 + i + 1) * d);
      }
    ks2->add_core(static_cast<idx_t>(ids.size()), xs.data(), ids.data(), ll.data());
  });
  mks.entries = ks2->ntotal;
  mks.imbalance = ks2->invlists->imbalance_factor();
  for (int p : nprobes) mks.points.push_back(measure(*ks2, p, kap.max_copies, 1.0));
  methods.push_back(mks);

  for (Method& m : methods) m.ndis_at_target = ndis_at(m.points, slot, o.target_recall);
  std::printf("data %s: %lld x %d, %lld queries, %s, GMM: %s, centroids %s (k-means niter %d, %d points/list, refine "
              "%d), max_copies %d, spill %s (min_posterior %g; neighbors %d, cost_weight %g, probe_depth %d; soar "
              "lambda %g, candidates %d, fraction %g, ratio %g, threshold %g / k-means %g), routing %s\n",
              o.data.c_str(), static_cast<long long>(n), d, static_cast<long long>(nq), key.c_str(),
              o.gmm.covariance.c_str(), o.gmm.centroids.c_str(), gp.centroid_niter, gp.centroid_max_points_per_centroid,
              gp.refine_centroids ? 1 : 0, gp.assign.max_copies, flashgmm::ivf::to_string(gp.assign.rule).c_str(),
              gp.assign.min_posterior, gp.assign.neighbors, gp.assign.cost_weight, gp.assign.probe_depth,
              gp.assign.soar_lambda, gp.assign.candidates, gp.assign.spill_fraction, gp.assign.spill_ratio,
              gmm.params().assign.spill_threshold, kap.spill_threshold, o.gmm.routing.c_str());
  std::printf("recall@R = |first R results ∩ true R nearest| / R; ndis = list entries scanned per query\n");
  for (const Method& m : methods) print_table(m, slot, o.target_recall);
  double base = NAN, base_defaults = NAN;
  for (const Method& m : methods) {
    if (m.name == "kmeans") base = m.ndis_at_target;
    if (m.name == "kmeans-faiss-defaults") base_defaults = m.ndis_at_target;
  }
  std::printf("\nbaseline: FAISS k-means IVF with our centroids' budget (%d iterations, <= %d points per list); "
              "kmeans-faiss-defaults: FAISS's IVF defaults\n",
              budget_niter, budget_points);
  std::printf("summary at recall@%d = %.2f (ratio = k-means ndis / method ndis, > 1 is better):\n", o.k, o.target_recall);
  for (const Method& m : methods)
    std::printf("  %-26s imbalance %.3f  ndis %10.1f  entries/N %.3f  ratio %s  train %.2f s  add %.2f s\n",
                m.name.c_str(), m.imbalance, m.ndis_at_target, static_cast<double>(m.entries) / n,
                json_num(base / m.ndis_at_target).c_str(), m.train_s, m.add_s);

  if (!o.csv.empty()) {
    std::ofstream f(o.csv);
    FLASHGMM_CHECK(f, "cannot write CSV '" << o.csv << "'");
    f << "method,nprobe,probe_mass,recall_at_1,recall_at_10,recall_at_100,ndis_per_query,lists_per_query,entries,qps,"
         "train_seconds,add_seconds\n";
    for (const Method& m : methods)
      for (const Point& p : m.points)
        f << m.name << ',' << p.nprobe << ',' << p.probe_mass << ',' << json_num(p.recall[0]) << ','
          << json_num(p.recall[1]) << ',' << json_num(p.recall[2]) << ',' << p.ndis << ',' << p.lists << ',' << m.entries
          << ',' << p.qps << ',' << m.train_s << ',' << m.add_s << '\n';
    f.close();
    FLASHGMM_CHECK(f, "cannot write CSV '" << o.csv << "' (disk full?)");
    std::fprintf(stderr, "CSV written to %s\n", o.csv.c_str());
    if (!o.plot.empty()) write_plot(o.csv, o.plot, o.k, o.name.empty() ? o.data : o.name);
  } else if (!o.plot.empty()) {
    std::fprintf(stderr, "note: --plot needs --csv (the plot is drawn from it)\n");
  }

  if (o.json) {
    std::ostringstream j;
    j << "{\"data\":\"" << o.data << "\",\"n\":" << n << ",\"d\":" << d << ",\"nq\":" << nq << ",\"nlist\":" << o.gmm.nlist
      << ",\"index\":\"" << key << "\",\"k\":" << o.k << ",\"target_recall\":" << o.target_recall
      << ",\"ours\":\"" << mg.name << "\",\"kmeans_budget\":{\"niter\":" << budget_niter
      << ",\"max_points_per_centroid\":" << budget_points << "},\"methods\":{";
    for (size_t i = 0; i < methods.size(); ++i) {
      const Method& m = methods[i];
      j << (i ? "," : "") << '"' << m.name << "\":{\"train_seconds\":" << json_num(m.train_s)
        << ",\"add_seconds\":" << json_num(m.add_s) << ",\"entries\":" << m.entries << ",\"imbalance\":" << json_num(m.imbalance)
        << ",\"ndis_at_target\":" << json_num(m.ndis_at_target)
        << ",\"ratio_vs_kmeans\":" << json_num(base / m.ndis_at_target)
        << ",\"ratio_vs_kmeans_faiss_defaults\":" << json_num(base_defaults / m.ndis_at_target) << ",\"points\":[";
      for (size_t t = 0; t < m.points.size(); ++t) {
        const Point& p = m.points[t];
        j << (t ? "," : "") << "{\"nprobe\":" << p.nprobe << ",\"probe_mass\":" << json_num(p.probe_mass)
          << ",\"recall_at_1\":" << json_num(p.recall[0]) << ",\"recall_at_10\":" << json_num(p.recall[1])
          << ",\"recall_at_100\":" << json_num(p.recall[2]) << ",\"ndis_per_query\":" << json_num(p.ndis)
          << ",\"entries\":" << m.entries << ",\"qps\":" << json_num(p.qps) << "}";
      }
      j << "]}";
    }
    j << "}}";
    std::printf("%s\n", j.str().c_str());
  }
  return 0;
}

}  // namespace flashgmm_ivf_tool
