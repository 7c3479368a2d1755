// flashgmm-dedup: one-line progress bars on stderr (redrawn at most 5 times a second).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace flashgmm::dedup::tool {

class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  ~ProgressBar() { finish(); }

  /// Draws stage `stage` at done/total; a new stage ends the previous line.
  void update(const std::string& stage, std::int64_t done, std::int64_t total) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (stage != stage_) {
      finish();
      stage_ = stage;
      start_ = now;
      last_ = now - std::chrono::seconds(1);
    }
    const bool complete = total > 0 && done >= total;
    if (complete ? complete_drawn_ : now - last_ < std::chrono::milliseconds(200)) return;
    complete_drawn_ = complete;
    last_ = now;
    const double frac = total > 0 ? std::min(1.0, static_cast<double>(done) / total) : 0.0;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(frac * kWidth);
    const double secs = std::chrono::duration<double>(now - start_).count();
    std::string bar(filled, '#');
    bar.append(kWidth - filled, '.');
    std::fprintf(stderr, "\r%-8s [%s] %5.1f%%  %.1fs", stage.c_str(), bar.c_str(), 100.0 * frac, secs);
    if (frac > 0.02 && frac < 1.0) std::fprintf(stderr, " (eta %.0fs)   ", secs * (1.0 - frac) / frac);
    else std::fprintf(stderr, "              ");
    std::fflush(stderr);
    drawn_ = true;
  }

  /// Ends the current line.
  void finish() {
    if (enabled_ && drawn_) std::fprintf(stderr, "\n");
    drawn_ = false;
    complete_drawn_ = false;
    stage_.clear();
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  bool complete_drawn_ = false;  // the 100% line of this stage is on screen
  std::string stage_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace flashgmm::dedup::tool
