// flashgmm-dedup: near-duplicate groups of embeddings (.npy / .fvecs) by GMM blocking.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "flashgmm/backend.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm/version.hpp"
#include "flashgmm_dedup/dedup.hpp"
#include "flashgmm_dedup/output.hpp"
#include "exit_codes.hpp"
#include "json.hpp"
#include "progress_bar.hpp"

namespace {

using namespace flashgmm;
using namespace flashgmm::dedup;

struct Options {
  std::string input, ids, groups, keep, format, summary_json, covariance = "tied", device = "auto";
  std::optional<double> threshold, radius;
  DedupParams p;
  bool json = false, progress = false, no_progress = false, quiet = false;
};

std::string mib(std::int64_t bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", bytes / 1048576.0);
  return b;
}

std::string summary_line(const DedupSummary& s, const DedupParams& p) {
  cli::JsonLine j;
  j.add("n", static_cast<long long>(s.n)).add("dim", s.dim).add("metric", to_string(p.metric))
      .add("threshold", p.threshold).add("n_components", s.n_components).add("max_assign", p.max_assign)
      .add("min_posterior", p.min_posterior).add("temperature", p.temperature).add("backend", s.backend)
      .add("mean_assignments", s.mean_assignments).add("max_bucket", static_cast<long long>(s.max_bucket))
      .add("candidate_pairs", static_cast<long long>(s.candidate_pairs))
      .add("pairs_compared", static_cast<long long>(s.pairs_compared))
      .add("brute_force_pairs", s.brute_force_pairs).add("reduction", s.reduction)
      .add("duplicate_pairs", static_cast<long long>(s.duplicate_pairs))
      .add("groups", static_cast<long long>(s.groups)).add("rows_in_groups", static_cast<long long>(s.rows_in_groups))
      .add("rows_kept", static_cast<long long>(s.rows_kept)).add("fit_seconds", s.fit_seconds)
      .add("assign_seconds", s.assign_seconds).add("compare_seconds", s.compare_seconds)
      .add("check_seconds", s.check_seconds).add("seconds", s.total_seconds)
      .add("index_bytes", static_cast<long long>(s.index_bytes))
      .add("peak_rss_bytes", static_cast<long long>(s.peak_rss_bytes));
  if (s.has_quality) {
    const QualityReport& q = s.quality;
    j.add("check_anchors", static_cast<long long>(q.anchors)).add("check_true_pairs", static_cast<long long>(q.true_pairs))
        .add("check_found_pairs", static_cast<long long>(q.found_pairs))
        .add("pair_recall", q.pair_recall).add("pair_precision", q.pair_precision)
        .add("group_recall", q.group_recall).add("check_seconds", q.seconds);
  }
  return j.str();
}

void print_summary(const DedupSummary& s, const DedupParams& p, const std::string& input) {
  std::printf("input: %s, %lld rows x %d dims; %s %s %g\n", input.c_str(), (long long)s.n, s.dim,
              to_string(p.metric).c_str(), p.metric == Metric::cosine ? "similarity >=" : "distance <=", p.threshold);
  std::printf("blocking: K=%d components (%s), m=%d, tau=%g, T=%g: %.3f components per row, largest bucket %lld rows\n",
              s.n_components, s.backend.c_str(), p.max_assign, p.min_posterior, p.temperature, s.mean_assignments,
              (long long)s.max_bucket);
  std::printf("pairs compared: %lld of %.4g (N^2/2): %.1fx fewer than brute force\n", (long long)s.pairs_compared,
              s.brute_force_pairs, s.reduction);
  std::printf("duplicates: %lld similar pairs, %lld groups of >= 2 rows holding %lld rows; keep %lld of %lld rows\n",
              (long long)s.duplicate_pairs, (long long)s.groups, (long long)s.rows_in_groups, (long long)s.rows_kept,
              (long long)s.n);
  std::printf("time: %.2fs (fit %.2fs, assign %.2fs, compare %.2fs, check %.2fs); peak memory %s (index %s)\n",
              s.total_seconds, s.fit_seconds, s.assign_seconds, s.compare_seconds, s.check_seconds,
              mib(s.peak_rss_bytes).c_str(), mib(s.index_bytes).c_str());
  if (s.has_quality) {
    const QualityReport& q = s.quality;
    std::printf("quality (%lld rows vs all %lld by brute force, %.2fs): %lld true pairs, %lld found; "
                "pair recall %.4f, pair precision %.4f, group recall %.4f\n",
                (long long)q.anchors, (long long)s.n, q.seconds, (long long)q.true_pairs, (long long)q.found_pairs,
                q.pair_recall, q.pair_precision, q.group_recall);
  }
}

int run(const Options& o) {
  DedupParams p = o.p;
  FLASHGMM_CHECK(!(o.threshold && o.radius), "give either --threshold (cosine) or --radius (L2), not both");
  if (o.radius) {
    p.metric = Metric::l2;
    p.threshold = *o.radius;
  } else {
    p.metric = Metric::cosine;
    if (o.threshold) p.threshold = *o.threshold;
  }
  p.covariance_type = parse_covariance_type(o.covariance);
  p.backend = parse_backend(o.device);
  p.validate();
  // Validate output names before the long run.
  GroupFormat fmt = GroupFormat::jsonl;
  if (!o.groups.empty()) {
    if (o.format.empty()) fmt = group_format_for(o.groups);
    else if (o.format == "jsonl") fmt = GroupFormat::jsonl;
    else if (o.format == "csv") fmt = GroupFormat::csv;
    else FLASHGMM_THROW("--format must be 'jsonl' or 'csv', got '" << o.format << "'");
  }
  const auto data = open_data(o.input);
  const RowIds ids = o.ids.empty() ? RowIds() : RowIds::load(o.ids, data->rows());

  const bool bars = !o.no_progress && (o.progress || isatty(STDERR_FILENO));
  tool::ProgressBar bar(bars);
  const DedupResult r = deduplicate(*data, p, [&](const Progress& pr) {
    bar.update(pr.stage, pr.done, pr.total);
    return true;
  });
  bar.finish();

  if (!o.groups.empty()) write_groups(o.groups, list_groups(r.representative), ids, fmt);
  if (!o.keep.empty()) write_keep_list(o.keep, keep_list(r.representative), ids);
  const std::string line = summary_line(r.summary, p);
  if (!o.summary_json.empty()) {
    std::FILE* f = std::fopen(o.summary_json.c_str(), "w");
    FLASHGMM_CHECK(f, "cannot write summary file '" << o.summary_json << "'");
    std::fprintf(f, "%s\n", line.c_str());
    FLASHGMM_CHECK(std::fclose(f) == 0, "error writing summary file '" << o.summary_json << "'");
  }
  if (!o.quiet) print_summary(r.summary, p, data->describe());
  if (o.json) std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flashgmm-dedup " FLASHGMM_VERSION_STRING
               ": near-duplicate groups of embeddings by Gaussian-mixture blocking"};
  app.set_version_flag("--version", FLASHGMM_VERSION_STRING);
  Options o;
  DedupParams& p = o.p;
  app.add_option("input", o.input, "embeddings: .npy (float32/float64, 2-D), .fvecs or .bvecs (memory-mapped)")
      ->required();
  app.add_option("--threshold,-t", o.threshold, "cosine similarity threshold in (0, 1] (default 0.95)");
  app.add_option("--radius,-r", o.radius, "L2 radius >= 0: pairs within this Euclidean distance are duplicates");
  app.add_option("--ids", o.ids, "row ids: 1-D integer .npy, or a text file with one id per line");
  app.add_option("--groups,-o", o.groups, "write groups of >= 2 rows here (.jsonl or .csv)");
  app.add_option("--format", o.format, "groups format: jsonl or csv (default: from the file name)");
  app.add_option("--keep", o.keep, "write the keep-list (one id per group) here (.npy or text)");
  app.add_option("--summary-json", o.summary_json, "write the summary as one JSON line here");
  app.add_flag("--json", o.json, "print the summary as a JSON line too");
  app.add_option("--components,-k", p.n_components, "mixture components (buckets); 0 = sqrt(N), at most 4096")
      ->capture_default_str();
  app.add_option("--max-assign,-m", p.max_assign, "components per vector at most")->capture_default_str();
  app.add_option("--min-posterior,--tau", p.min_posterior, "posterior needed for a second or later component")
      ->capture_default_str();
  app.add_option("--temperature", p.temperature, "T >= 1: assign by posteriors at temperature T (spreads border rows)")
      ->capture_default_str();
  app.add_option("--covariance", o.covariance, "spherical|diag|full|tied")->capture_default_str();
  app.add_option("--fit-sample", p.fit_sample, "rows the mixture is fitted on; 0 = min(N, max(65536, 64K))")
      ->capture_default_str();
  app.add_option("--max-iter", p.max_iter, "EM iterations")->capture_default_str();
  app.add_option("--seed", p.seed, "random seed")->capture_default_str();
  app.add_option("--device", o.device, "cpu|cuda|auto (the mixture's fit and posteriors)")->capture_default_str();
  app.add_option("--threads", p.n_threads, "CPU threads for comparisons; 0 = all")->capture_default_str();
  app.add_option("--chunk-rows", p.chunk_rows, "rows per posterior batch")->capture_default_str();
  app.add_option("--check-sample", p.check_sample,
                 "quality report: compare this many random rows against all rows by brute force "
                 "(>= N: all rows)")
      ->capture_default_str();
  app.add_flag("--progress", o.progress, "progress bars on stderr even when it is not a terminal");
  app.add_flag("--no-progress", o.no_progress, "no progress bars");
  app.add_flag("--quiet,-q", o.quiet, "no summary text (use with --json or --summary-json)");
  // Exit status as every flashgmm tool: 0 ok, 1 error, 2 command line not understood (exit_codes.hpp).
  return flashgmm::cli::run_mapping_errors(app, "flashgmm-dedup", [&] {
    app.parse(argc, argv);
    return run(o);
  });
}
