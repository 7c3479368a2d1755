// Progress of `flashgmm fit`: one plain line per EM iteration on stdout (log-likelihood, change,
// seconds, re-seeded components) and, when stderr is a terminal, a bar with the ETA below them. The ETA extrapolates how fast the change is shrinking towards --tol (EM's change falls
// roughly geometrically), capped by the iterations --max-iter and --n-init still allow.
#pragma once

#include <deque>

#include "flashgmm/gaussian_mixture.hpp"
#include "terminal_bar.hpp"

namespace flashgmm::cli {

/// Iterations a restart still needs, extrapolated from its last two changes; at most
/// max_iter − iteration. *bound_only is set when nothing could be extrapolated (the first
/// iterations, a change that grew), so the figure is only the --max-iter bound.
int estimate_remaining_iterations(double prev_change, double change, double tol, int iteration, int max_iter,
                                  bool* bound_only);

class FitProgress {
 public:
  FitProgress(const Params& p, bool bar);
  /// Prints the table header.
  void start();
  /// Prints the iteration's line and redraws the bar; returns true (never stops the fit).
  bool on_iteration(const IterationStats& s);
  /// Removes the bar before the summary is printed.
  void finish() { bar_.clear(); }

 private:
  Params p_;
  TerminalBar bar_;
  int current_init_ = -1;
  double prev_change_ = 0;
  int done_ = 0;                 // iterations of all restarts so far
  std::deque<double> recent_s_;  // the last few iteration times (the first one pays warm-up)
};

}  // namespace flashgmm::cli
