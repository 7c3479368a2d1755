// `flashgmm-multigpu fit`: one EM over several GPUs of this machine (NCCL), the model written
// once. The single-GPU options of `flashgmm fit`, plus --devices and --reduce.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "flashgmm/flashgmm.hpp"
#include "flashgmm/version.hpp"
#include "flashgmm_nccl/multi_gpu_fit.hpp"
#include "em_options.hpp"
#include "exit_codes.hpp"
#include "json.hpp"

namespace {

struct FitOptions : flashgmm::cli::EmOptions {
  std::string data, out, reduce = "allreduce";
  std::string devices;  // "0,1,2,3"; empty = every visible GPU
  bool json = false, quiet = false;
};

std::vector<int> parse_devices(const std::string& s) {
  std::vector<int> out;
  if (s.empty()) return out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    int v = -1;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    FLASHGMM_CHECK(used == item.size() && !item.empty() && v >= 0,
                   "--devices '" << s << "': expected GPU numbers separated by commas, e.g. 0,1,2,3");
    out.push_back(v);
  }
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int run_fit(const FitOptions& o) {
  using namespace flashgmm;
  Params p = o.to_params();
  p.backend = BackendKind::cuda;
  nccl::MultiGpuOptions mo;
  mo.devices = parse_devices(o.devices);
  mo.reduce = nccl::parse_nccl_reduce(o.reduce);
  std::string why;
  FLASHGMM_CHECK(nccl::cuda_device_count(&why) > 0, why);
  const std::unique_ptr<DataSource> data = open_data(o.data);
  p.validate(data->dim());
  if (!o.quiet) {
    std::printf("data: %lld rows x %d dims (%s); K=%d, covariance=%s, precision=%s, GPUs=%s, reduction=%s\n",
                (long long)data->rows(), data->dim(), data->describe().c_str(), o.k, o.covariance.c_str(),
                o.precision.c_str(), o.devices.empty() ? "all" : o.devices.c_str(), o.reduce.c_str());
    std::printf("%5s %5s %20s %12s %9s %9s %9s\n", "init", "iter", "log-likelihood", "change", "seconds", "e-step s",
                "reseeded");
    mo.on_iteration = [](int participant, const IterationStats& s) {
      if (participant == 0) {
        std::printf("%5d %5d %20.8f %12.4e %9.3f %9.3f %9d\n", s.init, s.iteration, s.lower_bound, s.change,
                    s.seconds, s.estep_seconds, s.reseeded);
        std::fflush(stdout);
      }
      return true;
    };
  }
  GaussianMixture g(p);
  const auto t0 = std::chrono::steady_clock::now();
  const nccl::MultiGpuReport rep = nccl::fit_multi_gpu(g, *data, nullptr, mo);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  save_model(g.model(), o.out);
  const FitInfo& fi = g.fit_info();
  std::vector<double> iter_s, estep_s;
  for (std::size_t i = 1; i < fi.history.size(); ++i)  // the first iteration also uploads the rows
    iter_s.push_back(fi.history[i].seconds), estep_s.push_back(fi.history[i].estep_seconds);
  if (!o.quiet) {
    std::printf("\nmodel: K=%d, D=%d, converged=%s after %d iterations, lower bound %.8f; %zu GPUs (%s), "
                "NCCL_NVLS_ENABLE=%s, %.3f s; model written to %s\n", g.model().n_components, g.model().dim,
                fi.converged ? "yes" : "no", fi.n_iter, fi.lower_bound, rep.participants.size(), fi.backend.c_str(),
                rep.nvls_enable.c_str(), secs, o.out.c_str());
    for (std::size_t i = 0; i < rep.participants.size(); ++i) {
      const auto& q = rep.participants[i];
      std::printf("  participant %zu: GPU %d, rows [%lld, %lld), %lld reductions, %.3f s in them\n", i, q.device,
                  (long long)q.first_row, (long long)(q.first_row + q.rows), (long long)q.comm.calls, q.comm.seconds);
    }
  }
  if (o.json) {
    flashgmm::cli::JsonLine j;
    j.add("gpus", (int)rep.participants.size())
        .add("n", (long long)data->rows())
        .add("d", data->dim())
        .add("k", o.k)
        .add("n_iter", fi.n_iter)
        .add("converged", fi.converged)
        .add("lower_bound", fi.lower_bound)
        .add("seconds", secs)
        .add("median_iteration_s", median(iter_s))
        .add("median_estep_s", median(estep_s))
        .add("reduce", o.reduce)
        .add("backend", fi.backend);
    j.print();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flashgmm-multigpu " FLASHGMM_VERSION_STRING ": one Gaussian mixture fit over several GPUs (NCCL)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", FLASHGMM_VERSION_STRING);
  FitOptions o;
  int rc = 0;
  CLI::App* c = app.add_subcommand("fit", "Fit a model to a data file, its rows split over the GPUs");
  c->add_option("--data", o.data, "Input rows (.npy, .fvecs, .bvecs)")->required()->check(CLI::ExistingFile);
  c->add_option("--k", o.k, "Number of components")->required();
  c->add_option("--out", o.out, "Model file to write")->required();
  c->add_option("--devices", o.devices, "GPUs, e.g. 0,1,2,3 (default: all visible)");
  c->add_option("--reduce", o.reduce, "allreduce | rank-order")->capture_default_str();
  flashgmm::cli::add_em_options(c, o, /*with_device_and_threads=*/false);  // always CUDA
  c->add_flag("--json", o.json, "Print a JSON object as the last line");
  c->add_flag("--quiet", o.quiet, "No progress lines or summary");
  c->callback([&] { rc = run_fit(o); });
  // Exit status as every flashgmm tool: 0 ok, 1 error, 2 command line not understood (exit_codes.hpp).
  return flashgmm::cli::run_mapping_errors(app, "flashgmm-multigpu", [&] {
    app.parse(argc, argv);
    return rc;
  });
}
