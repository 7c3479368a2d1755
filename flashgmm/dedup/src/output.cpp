// flashgmm dedup: id files and group / keep-list writers.
#include "flashgmm_dedup/output.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "flashgmm/data_source.hpp"
#include "flashgmm/error.hpp"
#include "src/atomic_file_writer.hpp"
#include "src/npy_format.hpp"

namespace flashgmm::dedup {

namespace {

std::string lower_extension(const std::string& path) {
  const std::size_t slash = path.find_last_of('/'), dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = path.substr(dot);
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e;
}

std::string read_whole(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  FLASHGMM_CHECK(f, "cannot open ids file '" << path << "'");
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

template <class T>
void copy_ids(const std::uint8_t* p, std::int64_t n, std::vector<std::int64_t>& out, const std::string& path) {
  out.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, p + i * sizeof(T), sizeof(T));
    if constexpr (std::is_same_v<T, std::uint64_t>)
      FLASHGMM_CHECK(v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                     "ids file '" << path << "': id " << v << " at row " << i << " does not fit in int64");
    out[i] = static_cast<std::int64_t>(v);
  }
}

std::string json_quote(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o + "\"";
}

// Buffers text and hands it to the atomic writer in large pieces.
class TextOut {
 public:
  explicit TextOut(const std::string& path) : w_(path) {}
  TextOut& operator<<(const std::string& s) {
    buf_ += s;
    if (buf_.size() > (1u << 20)) flush();
    return *this;
  }
  void commit() {
    flush();
    w_.commit();
  }

 private:
  void flush() {
    w_.write(buf_.data(), buf_.size());
    buf_.clear();
  }
  flashgmm::detail::AtomicFileWriter w_;
  std::string buf_;
};

}  // namespace

RowIds RowIds::load(const std::string& path, std::int64_t n) {
  RowIds ids;
  const std::string bytes = read_whole(path);
  FLASHGMM_CHECK(!bytes.empty(), "ids file '" << path << "' is empty; expected " << n << " ids");
  std::int64_t count = 0;
  if (lower_extension(path) == ".npy") {
    const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
    const flashgmm::detail::NpyHeader h = flashgmm::detail::parse_npy_header(p, bytes.size(), path);
    const bool column = h.shape.size() == 2 && h.shape[1] == 1;
    FLASHGMM_CHECK(h.shape.size() == 1 || column,
                   "ids file '" << path << "' must be a 1-D array (or one column), got " << h.shape.size() << "-D");
    count = h.shape[0];
    FLASHGMM_CHECK(count == n, "ids file '" << path << "' has " << count << " ids but the data has " << n << " rows");
    std::size_t item = 0;
    if (h.descr == "<i8" || h.descr == "<u8") item = 8;
    else if (h.descr == "<i4" || h.descr == "<u4") item = 4;
    FLASHGMM_CHECK(item != 0, "ids file '" << path << "': dtype '" << h.descr
                                           << "' not supported; expected int32, int64, uint32 or uint64");
    FLASHGMM_CHECK(bytes.size() >= h.data_offset + item * static_cast<std::size_t>(n),
                   "ids file '" << path << "' is truncated");
    const std::uint8_t* d = p + h.data_offset;
    if (h.descr == "<i8") copy_ids<std::int64_t>(d, n, ids.numbers_, path);
    else if (h.descr == "<u8") copy_ids<std::uint64_t>(d, n, ids.numbers_, path);
    else if (h.descr == "<i4") copy_ids<std::int32_t>(d, n, ids.numbers_, path);
    else copy_ids<std::uint32_t>(d, n, ids.numbers_, path);
    return ids;
  }
  std::size_t start = 0;
  while (start < bytes.size()) {
    std::size_t end = bytes.find('\n', start);
    if (end == std::string::npos) end = bytes.size();
    std::string line = bytes.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ids.text_.push_back(std::move(line));
    start = end + 1;
  }
  count = static_cast<std::int64_t>(ids.text_.size());
  FLASHGMM_CHECK(count == n, "ids file '" << path << "' has " << count << " lines (ids) but the data has " << n
                                           << " rows");
  return ids;
}

std::string RowIds::text(std::int64_t row) const {
  return text_.empty() ? std::to_string(number(row)) : text_[row];
}

std::string RowIds::json(std::int64_t row) const {
  return text_.empty() ? std::to_string(number(row)) : json_quote(text_[row]);
}

std::string RowIds::csv(std::int64_t row) const {
  if (text_.empty()) return std::to_string(number(row));
  const std::string& s = text_[row];
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) {
    if (c == '"') o += '"';
    o += c;
  }
  return o + "\"";
}

GroupFormat group_format_for(const std::string& path) {
  const std::string e = lower_extension(path);
  if (e == ".jsonl" || e == ".json" || e == ".ndjson") return GroupFormat::jsonl;
  if (e == ".csv") return GroupFormat::csv;
  FLASHGMM_THROW("groups file '" << path << "': unknown format; use a .jsonl or .csv file name");
}

void write_groups(const std::string& path, const GroupList& groups, const RowIds& ids, GroupFormat format) {
  TextOut out(path);
  if (format == GroupFormat::csv) out << "group,representative,member\n";
  for (std::int64_t g = 0; g < groups.size(); ++g) {
    const std::int64_t b = groups.offsets[g], e = groups.offsets[g + 1];
    const std::int64_t rep = groups.members[b];
    if (format == GroupFormat::jsonl) {
      std::string line = "{\"group\": " + std::to_string(g) + ", \"representative\": " + ids.json(rep) +
                         ", \"size\": " + std::to_string(e - b) + ", \"members\": [";
      for (std::int64_t i = b; i < e; ++i) {
        if (i > b) line += ", ";
        line += ids.json(groups.members[i]);
      }
      out << line + "]}\n";
    } else {
      const std::string prefix = std::to_string(g) + "," + ids.csv(rep) + ",";
      for (std::int64_t i = b; i < e; ++i) out << prefix + ids.csv(groups.members[i]) + "\n";
    }
  }
  out.commit();
}

void write_keep_list(const std::string& path, const std::vector<std::int64_t>& keep, const RowIds& ids) {
  if (lower_extension(path) == ".npy") {
    FLASHGMM_CHECK(ids.numeric(), "keep-list '" << path << "': text ids cannot be written to .npy; use a text file");
    std::vector<std::int64_t> v(keep.size());
    for (std::size_t i = 0; i < keep.size(); ++i) v[i] = ids.number(keep[i]);
    write_npy(path, v.data(), static_cast<std::int64_t>(v.size()), 1);
    return;
  }
  TextOut out(path);
  for (std::int64_t r : keep) out << ids.text(r) + "\n";
  out.commit();
}

}  // namespace flashgmm::dedup
