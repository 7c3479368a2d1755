// Minimal JSON output for the CLI's --json lines (numbers, strings, booleans; no nesting).
#pragma once

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

namespace flashgmm::cli {

class JsonLine {
 public:
  JsonLine& add(const std::string& key, double v) {
    std::ostringstream o;
    o.precision(17);
    if (std::isfinite(v)) o << v; else o << "null";
    return raw(key, o.str());
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
