// `flashgmm fit`: one progress line per iteration (and a bar with ETA on a terminal), a model
// summary, optionally a JSON line.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "commands.hpp"
#include "em_options.hpp"
#include "fit_progress.hpp"
#include "flashgmm/flashgmm.hpp"
#include "json.hpp"
#include "model_summary.hpp"
#include "preflight.hpp"

namespace flashgmm::cli {

namespace {

struct FitOptions : EmOptions {
  std::string data, out;
  std::string init_model;  // --init-model: warm start from a saved model
  bool k_given = false, covariance_given = false;
  bool json = false, quiet = false, no_bar = false;
};

void run_fit(FitOptions o) {
  // --init-model: EM continues from a saved model (Params::warm_start); K and the covariance type
  // default to the model's, and must match it when given.
  Model start;
  if (!o.init_model.empty()) {
    start = load_model(o.init_model);
    if (!o.k_given) o.k = start.n_components;
    if (!o.covariance_given) o.covariance = to_string(start.covariance_type);
  }
  FLASHGMM_CHECK(o.k_given || !o.init_model.empty(), "fit: --k is required (or --init-model MODEL)");
  Params p = o.to_params();
  p.warm_start = !o.init_model.empty();
  p.validate();
  // Everything that can be known wrong before the fit is checked before it.
  require_writable_output(o.out, "--out");
  require_device(o.device);
  const auto data = open_data(o.data);
  if (!o.quiet)
    std::printf("data: %s, %lld rows x %d dims; K=%d, covariance=%s, device=%s\n", data->describe().c_str(),
                (long long)data->rows(), data->dim(), o.k, o.covariance.c_str(), o.device.c_str());
  GaussianMixture g(p);
  if (p.warm_start) {
    g.set_model(std::move(start));
    if (!o.quiet) std::printf("warm start from %s\n", o.init_model.c_str());
  }
  FitProgress progress(p, !o.quiet && !o.no_bar && TerminalBar::stderr_is_terminal());
  if (!o.quiet) {
    if (!p.warm_start)
      std::printf("initialising (%s%s); a line per EM iteration follows\n", o.init.c_str(),
                  o.n_init > 1 ? (", best of " + std::to_string(o.n_init) + " restarts").c_str() : "");
    progress.start();
    g.set_iteration_callback([&progress](const IterationStats& s) { return progress.on_iteration(s); });
  }
  const auto t0 = std::chrono::steady_clock::now();
  g.fit(*data);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress.finish();
  save_model(g.model(), o.out);
  if (!o.quiet) {
    const Model& m = g.model();
    std::printf("\nmodel: K=%d, D=%d, covariance=%s, converged=%s after %d iterations, lower bound %.6f\n",
                m.n_components, m.dim, to_string(m.covariance_type).c_str(), g.converged() ? "yes" : "no",
                g.n_iter(), g.lower_bound());
    print_component_table(m);
    std::printf("backend %s, %.3f s, model written to %s\n", g.fit_info().backend.c_str(), secs, o.out.c_str());
  }
  if (o.json) {
    const FitInfo& fi = g.fit_info();
    double per_iter = 0;
    for (const auto& h : fi.history) per_iter += h.seconds;
    per_iter /= std::max<size_t>(1, fi.history.size());
    std::int64_t peak = 0;
    for (const auto& h : fi.history) peak = std::max(peak, h.peak_device_bytes);
    JsonLine()
        .add("n_iter", fi.n_iter)
        .add("converged", fi.converged)
        .add("lower_bound", fi.lower_bound)
        .add("seconds", secs)
        .add("seconds_per_iteration", per_iter)
        .add("reseeded", fi.total_reseeded)
        .add("backend", fi.backend)
        .add("n_components", o.k)
        .add("covariance_type", o.covariance)
        .add("n_rows", (long long)data->rows())
        .add("dim", data->dim())
        .add("peak_device_bytes", (long long)peak)
        .add("model", o.out)
        .print();
  }
}

}  // namespace

void add_fit(CLI::App& app) {
  auto o = std::make_shared<FitOptions>();
  CLI::App* c = app.add_subcommand("fit", "Fit a Gaussian mixture to a data file (.npy, .fvecs, .bvecs)");
  c->add_option("--data", o->data, "Input rows")->required()->check(CLI::ExistingFile);
  CLI::Option* k_opt = c->add_option("--k", o->k, "Number of components (default with --init-model: the model's)");
  c->add_option("--out", o->out, "Model file to write")->required();
  add_em_options(c, *o);
  CLI::Option* cov_opt = c->get_option("--covariance");
  c->add_option("--init-model", o->init_model,
                "Resume: start EM from this saved model (warm start; --n-init is ignored)")
      ->check(CLI::ExistingFile);
  c->add_flag("--json", o->json, "Print a JSON object as the last line");
  c->add_flag("--quiet,-q", o->quiet, "No progress lines, bar or summary (errors and --json still print)");
  c->add_flag("--no-bar", o->no_bar, "No progress bar on a terminal (the per-iteration lines stay)");
  c->callback([o, k_opt, cov_opt] {
    o->k_given = k_opt->count() > 0;
    o->covariance_given = cov_opt->count() > 0;
    run_fit(*o);
  });
}

}  // namespace flashgmm::cli
