#include "tool_io.hpp"

#include <cstdio>
#include <sstream>

#include <unistd.h>

#include "flashgmm/data_source.hpp"
#include "flashgmm/error.hpp"

namespace flashgmm_ivf_tool {

Matrix load_matrix(const std::string& path, const char* what) {
  auto src = flashgmm::open_data(path);
  Matrix m;
  m.rows = src->rows();
  m.dim = src->dim();
  FLASHGMM_CHECK(m.rows > 0 && m.dim > 0, what << " file '" << path << "' holds no vectors");
  m.data.resize(static_cast<size_t>(m.rows) * static_cast<size_t>(m.dim));
  src->read(0, m.rows, m.data.data());
  return m;
}

IdMatrix load_ids(const std::string& path) {
  const flashgmm::IntMatrix im = flashgmm::read_ivecs(path);
  IdMatrix out;
  out.rows = im.rows;
  out.cols = im.cols;
  out.data.assign(im.data.begin(), im.data.end());
  return out;
}

void write_ids(const std::string& path, const std::vector<std::int64_t>& ids, std::int64_t rows, int cols) {
  auto ends_with = [&](const char* suf) {
    const std::string s(suf);
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with(".ivecs")) {
    std::vector<std::int32_t> v(ids.begin(), ids.end());
    flashgmm::write_ivecs(path, v.data(), rows, cols);
  } else if (ends_with(".npy")) {
    flashgmm::write_npy(path, ids.data(), rows, cols);
  } else {
    FLASHGMM_THROW("output '" << path << "': unknown extension (use .ivecs or .npy)");
  }
}

std::vector<int> parse_int_list(const std::string& s, const char* option) {
  std::vector<int> out;
  for (double v : parse_double_list(s, option)) {
    FLASHGMM_CHECK(v == static_cast<int>(v) && v >= 1, option << ": '" << v << "' is not a positive integer");
    out.push_back(static_cast<int>(v));
  }
  return out;
}

std::vector<double> parse_double_list(const std::string& s, const char* option) {
  std::vector<double> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (...) {
      used = 0;
    }
    FLASHGMM_CHECK(used == item.size() && !item.empty(), option << ": cannot parse '" << item << "' in '" << s << "'");
    out.push_back(v);
  }
  FLASHGMM_CHECK(!out.empty(), option << ": empty list");
  return out;
}

std::string expand_key(std::string key, int nlist) {
  const std::string tag = "{nlist}";
  for (size_t p = key.find(tag); p != std::string::npos; p = key.find(tag)) key.replace(p, tag.size(), std::to_string(nlist));
  return key;
}

Progress::Progress(std::string label, std::int64_t total)
    : label_(std::move(label)), total_(total > 0 ? total : 1), tty_(::isatty(2) != 0) {
  update(0);
}

void Progress::update(std::int64_t done) {
  const int pct = static_cast<int>(100 * done / total_);
  if (pct == last_pct_ || (!tty_ && pct % 25 != 0)) return;
  last_pct_ = pct;
  const int width = 30, fill = pct * width / 100;
  std::fprintf(stderr, "%s%-14s [%s%s] %3d%%%s", tty_ ? "\r" : "", label_.c_str(), std::string(fill, '#').c_str(),
               std::string(width - fill, ' ').c_str(), pct, tty_ ? "" : "\n");
  std::fflush(stderr);
}

void Progress::finish() {
  update(total_);
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace flashgmm_ivf_tool
