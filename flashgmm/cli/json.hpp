// Minimal JSON output for the CLI's --json lines (numbers, strings, booleans; no nesting).
#pragma once

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

namespace flashgmm::cli {

class JsonLine {
 public:
  /// The shortest text that reads back as the same double (0.584314604, not the 17-digit
  /// 0.58431460400000002 that precision(17) prints); JSON has no inf/nan, so those are null.
  JsonLine& add(const std::string& key, double v) {
    if (!std::isfinite(v)) return raw(key, "null");
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return raw(key, std::string(buf, r.ptr));
  }
  JsonLine& add(const std::string& key, long long v) { return raw(key, std::to_string(v)); }
  JsonLine& add(const std::string& key, int v) { return raw(key, std::to_string(v)); }
  JsonLine& add(const std::string& key, bool v) { return raw(key, v ? "true" : "false"); }
  JsonLine& add(const std::string& key, const std::string& v) { return raw(key, quote(v)); }
  JsonLine& add(const std::string& key, const char* v) { return add(key, std::string(v)); }
  std::string str() const { return "{" + body_ + "}"; }
  void print() const { std::printf("%s\n", str().c_str()); }

 private:
  JsonLine& raw(const std::string& key, const std::string& v) {
    if (!body_.empty()) body_ += ", ";
    body_ += quote(key) + ": " + v;
    return *this;
  }
  static std::string quote(const std::string& s) {
    std::string o = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') o += '\\';
      if ((unsigned char)c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        o += buf;
        continue;
      }
      o += c;
    }
    return o + "\"";
  }
  std::string body_;
};

}  // namespace flashgmm::cli
