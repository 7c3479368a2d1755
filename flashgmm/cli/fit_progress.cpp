// FitProgress: see fit_progress.hpp.
#include "fit_progress.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace flashgmm::cli {

int estimate_remaining_iterations(double prev_change, double change, double tol, int iteration, int max_iter,
                                  bool* bound_only) {
  *bound_only = false;
  const int cap = std::max(0, max_iter - iteration);
  const double a = std::fabs(prev_change), b = std::fabs(change);
  if (cap == 0 || b < tol) return 0;
  if (std::isfinite(a) && a > 0 && b < a) {
    const double rate = b / a;  // the change shrinks by this factor per iteration
    const double need = std::ceil(std::log(tol / b) / std::log(rate));
    if (std::isfinite(need)) return std::clamp((int)need, 1, cap);
  }
  *bound_only = true;
  return cap;
}

FitProgress::FitProgress(const Params& p, bool bar) : p_(p), bar_(bar) {}

void FitProgress::start() {
  char line[160];
  // Six columns, as scripts and tests parse them (bench/python_memmap_fit.py, tests/hardening); the
  // ETA lives in the bar.
  std::snprintf(line, sizeof line, "%5s %5s %20s %12s %9s %9s", "init", "iter", "log-likelihood", "change",
                "seconds", "reseeded");
  bar_.print_line(line);
}

bool FitProgress::on_iteration(const IterationStats& s) {
  if (s.init != current_init_) {
    current_init_ = s.init;
    prev_change_ = INFINITY;
  }
  ++done_;
  recent_s_.push_back(s.seconds);
  if (recent_s_.size() > 5) recent_s_.pop_front();
  const double per_iter = std::accumulate(recent_s_.begin(), recent_s_.end(), 0.0) / recent_s_.size();
  // This restart's remaining iterations, then each later restart as long as this one is expected
  // to take in all.
  bool bound_only = false;
  const int left_here =
      estimate_remaining_iterations(prev_change_, s.change, p_.tol, s.iteration, p_.max_iter, &bound_only);
  const int later = std::max(0, p_.n_init - 1 - s.init) * std::max(1, s.iteration + left_here);
  prev_change_ = s.change;
  const int left = left_here + later;
  const double eta = left * per_iter;

  char line[200];
  std::snprintf(line, sizeof line, "%5d %5d %20.8f %12.4e %9.3f %9d", s.init, s.iteration, s.lower_bound,
                s.change, s.seconds, s.reseeded);
  bar_.print_line(line);
  char label[64];
  std::snprintf(label, sizeof label, "EM: iteration %d", s.iteration);
  if (p_.n_init > 1) std::snprintf(label, sizeof label, "EM: init %d/%d, iteration %d", s.init + 1, p_.n_init,
                                   s.iteration);
  bar_.draw((double)done_ / (done_ + left), label, eta, bound_only, true);
  return true;
}

}  // namespace flashgmm::cli
