// `flashgmm score`, `predict` and `info`: use a saved model on a data file, streamed in chunks.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "commands.hpp"
#include "flashgmm/flashgmm.hpp"
#include "json.hpp"
#include "model_summary.hpp"
#include "preflight.hpp"
#include "progress_source.hpp"
#include "terminal_bar.hpp"

namespace flashgmm::cli {

namespace {

struct ModelOptions {
  std::string model, data, out, device = "cpu";
  int top = 0;
  bool json = false;
};

GaussianMixture load_for(const ModelOptions& o) {
  require_device(o.device);
  Params p;
  p.backend = parse_backend(o.device);
  return GaussianMixture::load(o.model, p);
}

void run_score(const ModelOptions& o) {
  GaussianMixture g = load_for(o);
  const auto data = open_data(o.data);
  TerminalBar bar(!o.json && TerminalBar::stderr_is_terminal());
  const double s = bar.enabled() ? g.score(ProgressSource(*data, bar, "score")) : g.score(*data);
  bar.clear();
  if (o.json)
    JsonLine().add("score", s).add("n_rows", (long long)data->rows()).add("dim", data->dim()).print();
  else
    std::printf("mean log-likelihood per row: %.8f over %lld rows\n", s, (long long)data->rows());
}

// "top.npy" -> "top.probs.npy"; any other name gets ".probs.npy" appended.
std::string probs_path_for(const std::string& out) {
  return out.size() > 4 && out.substr(out.size() - 4) == ".npy" ? out.substr(0, out.size() - 4) + ".probs.npy"
                                                                 : out + ".probs.npy";
}

void run_predict(const ModelOptions& o) {
  const std::string probs_path = o.top > 0 ? probs_path_for(o.out) : "";
  require_writable_output(o.out, "--out");
  if (o.top > 0) require_writable_output(probs_path, "--out (posteriors beside it)");
  GaussianMixture g = load_for(o);
  const auto data = open_data(o.data);
  FLASHGMM_CHECK(data->dim() == g.model().dim, "data has " << data->dim() << " features, but the model has "
                                                           << g.model().dim);
  FLASHGMM_CHECK(o.top >= 0 && o.top <= g.model().n_components,
                 "--top must be between 1 and the model's " << g.model().n_components << " components");
  const int m = std::max(1, o.top);
  const std::int64_t n = data->rows(), chunk = default_chunk_rows(0, data->dim());
  std::vector<std::int32_t> ids((size_t)n * m);  // O(N·m) output, the only per-row memory
  std::vector<float> probs(o.top > 0 ? (size_t)n * m : 0), buf;
  TerminalBar bar(!o.json && TerminalBar::stderr_is_terminal());
  for (std::int64_t b = 0; b < n; b += chunk) {
    const std::int64_t c = std::min(chunk, n - b);
    const float* x = data->contiguous() ? data->contiguous() + (size_t)b * data->dim() : nullptr;
    if (!x) {
      buf.resize((size_t)c * data->dim());
      data->read(b, c, buf.data());
      x = buf.data();
    }
    g.predict_topk(x, c, m, ids.data() + (size_t)b * m, o.top > 0 ? probs.data() + (size_t)b * m : nullptr);
    bar.draw((double)(b + c) / n, "predict", -1);
  }
  bar.clear();
  if (o.top == 0) {
    write_npy_vector(o.out, ids.data(), n);  // labels, shape (N,) like scikit-learn's predict
  } else {
    // A slot whose posterior is 0 in float32 has no component behind it (all the rest tie at 0,
    // and the lowest ids would fill it, looking real): it holds id -1, like FAISS's missing results.
    std::int64_t empty = 0;
    for (size_t i = 0; i < ids.size(); ++i)
      if (probs[i] == 0.0f) {
        ids[i] = -1;
        ++empty;
      }
    write_npy(o.out, ids.data(), n, m);
    write_npy(probs_path, probs.data(), n, m);
    if (empty > 0 && !o.json)
      std::printf("%lld of %lld slots are -1: fewer than %d components have a posterior above 0 for those rows\n",
                  (long long)empty, (long long)n * m, m);
  }
  if (o.json)
    JsonLine().add("labels", o.out).add("probs", probs_path).add("n_rows", (long long)n).add("top", m).print();
  else if (o.top == 0)
    std::printf("wrote %s (%lld component ids, int32)\n", o.out.c_str(), (long long)n);
  else
    std::printf("wrote %s (%lld x %d component ids, int32, -1 = none) and %s (their posteriors, float32)\n",
                o.out.c_str(), (long long)n, m, probs_path.c_str());
}

void run_info(const ModelOptions& o) {
  const Model m = load_model(o.model);
  struct stat st {};
  const long long file_bytes = ::stat(o.model.c_str(), &st) == 0 ? (long long)st.st_size : -1;
  if (o.json) {
    JsonLine()
        .add("n_components", m.n_components)
        .add("dim", m.dim)
        .add("covariance_type", to_string(m.covariance_type))
        .add("n_parameters", (long long)m.n_parameters())
        .add("file_bytes", file_bytes)
        .print();
    return;
  }
  std::printf("%s: K=%d, D=%d, covariance=%s, %lld free parameters, %s on disk\n", o.model.c_str(), m.n_components,
              m.dim, to_string(m.covariance_type).c_str(), (long long)m.n_parameters(),
              human_bytes((double)file_bytes).c_str());
  print_component_table(m);
}

}  // namespace

void add_score(CLI::App& app) {
  auto o = std::make_shared<ModelOptions>();
  CLI::App* c = app.add_subcommand("score", "Mean per-row log-likelihood of a data file under a model");
  c->add_option("--model", o->model, "Model file")->required()->check(CLI::ExistingFile);
  c->add_option("--data", o->data, "Rows (.npy, .fvecs, .bvecs)")->required()->check(CLI::ExistingFile);
  c->add_option("--device", o->device, "cpu | cuda | auto")->capture_default_str();
  c->add_flag("--json", o->json, "Print a JSON object as the last line");
  c->callback([o] { run_score(*o); });
}

void add_predict(CLI::App& app) {
  auto o = std::make_shared<ModelOptions>();
  CLI::App* c = app.add_subcommand(
      "predict", "Most probable component per row (int32 .npy), or with --top M the M best ids and, beside "
                 "them in OUT.probs.npy, their posteriors");
  c->add_option("--model", o->model, "Model file")->required()->check(CLI::ExistingFile);
  c->add_option("--data", o->data, "Rows (.npy, .fvecs, .bvecs)")->required()->check(CLI::ExistingFile);
  c->add_option("--out", o->out, "Output .npy")->required();
  c->add_option("--top", o->top,
                "Components per row, best first, with their posteriors; -1 where fewer than M components have "
                "a posterior above 0");
  c->add_option("--device", o->device, "cpu | cuda | auto")->capture_default_str();
  c->add_flag("--json", o->json, "Print a JSON object as the last line");
  c->callback([o] { run_predict(*o); });
}

void add_info(CLI::App& app) {
  auto o = std::make_shared<ModelOptions>();
  CLI::App* c = app.add_subcommand(
      "info", "Describe a model file: K, D, covariance type, parameter count, size, the heaviest components");
  c->add_option("--model", o->model, "Model file")->required()->check(CLI::ExistingFile);
  c->add_flag("--json", o->json, "Print a JSON object");
  c->callback([o] { run_info(*o); });
}

}  // namespace flashgmm::cli
