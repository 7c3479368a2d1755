// flashgmm dedup: the tool's files — external row ids in, groups (JSONL/CSV) and keep-lists out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flashgmm_dedup/dedup.hpp"

namespace flashgmm::dedup {

/// What each row is called in the outputs: its row number (default), an integer id from a
/// 1-D .npy (int32/int64/uint32/uint64), or a line of a text file (one id per line).
class RowIds {
 public:
  RowIds() = default;
  /// Loads `path` and checks it names exactly n rows (Error otherwise, with both counts).
  static RowIds load(const std::string& path, std::int64_t n);
  bool numeric() const { return text_.empty(); }
  /// The id as a JSON value: a number, or a quoted string.
  std::string json(std::int64_t row) const;
  /// The id as a CSV field (quoted when it holds a comma, quote or line break).
  std::string csv(std::int64_t row) const;
  /// The integer id (numeric() only).
  std::int64_t number(std::int64_t row) const { return numbers_.empty() ? row : numbers_[row]; }
  /// The id as plain text.
  std::string text(std::int64_t row) const;

 private:
  std::vector<std::int64_t> numbers_;  // empty = row numbers (unless text_ is set)
  std::vector<std::string> text_;
};

enum class GroupFormat { jsonl, csv };
/// jsonl for *.jsonl / *.json / *.ndjson, csv for *.csv; Error otherwise.
GroupFormat group_format_for(const std::string& path);

/// One line per group of ≥ 2 rows. JSONL: {"group": g, "representative": id, "size": s,
/// "members": [ids, representative first]}. CSV: header group,representative,member and one
/// line per member. Written to a temporary file and renamed (no partial file on error).
void write_groups(const std::string& path, const GroupList& groups, const RowIds& ids, GroupFormat format);

/// One id per group (the representative; rows without duplicates are their own group), in row
/// order: int64 .npy when `path` ends in .npy (numeric ids only), else one id per line.
void write_keep_list(const std::string& path, const std::vector<std::int64_t>& keep, const RowIds& ids);

}  // namespace flashgmm::dedup
