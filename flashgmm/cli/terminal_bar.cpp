// TerminalBar: see terminal_bar.hpp.
#include "terminal_bar.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace flashgmm::cli {

bool TerminalBar::stderr_is_terminal() {
  const char* term = std::getenv("TERM");
  return ::isatty(STDERR_FILENO) == 1 && !(term && std::strcmp(term, "dumb") == 0);
}

void TerminalBar::draw(double fraction, const std::string& label, double eta_seconds, bool eta_is_bound,
                       bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  fraction = std::clamp(std::isfinite(fraction) ? fraction : 0.0, 0.0, 1.0);
  constexpr int kWidth = 30;
  const int filled = (int)(fraction * kWidth);
  std::string text = label + " [" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%3.0f%%  %s", 100.0 * fraction,
                format_duration(std::chrono::duration<double>(now - start_).count()).c_str());
  text += buf;
  if (eta_seconds >= 0 && std::isfinite(eta_seconds))
    text += (eta_is_bound ? "  ETA <= " : "  ETA ~") + format_duration(eta_seconds);
  // \033[K erases what a longer previous text left to the right.
  std::fprintf(stderr, "\r%s\033[K", text.c_str());
  std::fflush(stderr);
  drawn_ = true;
  last_text_ = text;
}

void TerminalBar::clear() {
  if (!enabled_ || !drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

void TerminalBar::print_line(const std::string& line) {
  const bool was_drawn = drawn_;
  clear();
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  if (was_drawn) {
    std::fprintf(stderr, "\r%s\033[K", last_text_.c_str());
    std::fflush(stderr);
    drawn_ = true;
  }
}

std::string format_duration(double s) {
  char buf[32];
  if (!(s >= 0) || !std::isfinite(s)) return "?";
  if (s < 10) std::snprintf(buf, sizeof buf, "%.1f s", s);
  else if (s < 60) std::snprintf(buf, sizeof buf, "%.0f s", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%d min %02d s", (int)(s / 60), (int)std::fmod(s, 60));
  else std::snprintf(buf, sizeof buf, "%d h %02d min", (int)(s / 3600), (int)std::fmod(s / 60, 60));
  return buf;
}

}  // namespace flashgmm::cli
