// A one-line progress bar with ETA, redrawn in place on stderr — only when stderr is a terminal
// (a log file would fill with carriage returns). Commands print their plain progress lines
// through print_line() so that the bar never overwrites or splits them.
#pragma once

#include <chrono>
#include <string>

namespace flashgmm::cli {

class TerminalBar {
 public:
  /// True when stderr is a terminal that can redraw a line (not TERM=dumb).
  static bool stderr_is_terminal();

  explicit TerminalBar(bool enabled) : enabled_(enabled) {}
  ~TerminalBar() { clear(); }
  TerminalBar(const TerminalBar&) = delete;
  TerminalBar& operator=(const TerminalBar&) = delete;

  bool enabled() const { return enabled_; }
  /// Draws `label [#####.....] 42%  12.3 s  ETA ~8 s` (`ETA <= 8 s` when eta_is_bound: an upper
  /// bound, not an estimate); eta_seconds < 0 leaves the ETA out. Redraws at most 5 times a
  /// second unless `force`.
  void draw(double fraction, const std::string& label, double eta_seconds, bool eta_is_bound = false,
            bool force = false);
  /// Erases the bar (call before writing anything else to the terminal).
  void clear();
  /// Writes one line to stdout with the bar out of the way, then draws the bar again.
  void print_line(const std::string& line);

 private:
  bool enabled_;
  bool drawn_ = false;
  std::string last_text_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_draw_{};
};

/// "8 s", "3 min 20 s", "2 h 05 min": an ETA a person reads at a glance.
std::string format_duration(double seconds);

}  // namespace flashgmm::cli
