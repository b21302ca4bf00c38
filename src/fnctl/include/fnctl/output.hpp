// How fnctl shows things: tables, pretty JSON, ages, sizes, the upload progress line, errors.
// Pure formatting except where a function takes a FILE*.
#pragma once

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace fnd::fnctl {

enum class OutputFormat { table, json };

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the request failed (API error, function error, I/O)
inline constexpr int kExitUsage = 2;    // the command line was wrong

// Prints "error: <message>" on stderr and returns kExitFailure, so verbs can `return report_error(e)`.
int report_error(const Error& error);

// Writes `bytes` exactly (binary-safe) and flushes, so streamed answers show up as they arrive.
// `what` names the stream in the error ("stdout").
Status write_and_flush(std::FILE* out, std::string_view bytes, std::string_view what);

// Left-aligned columns separated by three spaces, as kubectl prints them.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // `cells` must have one entry per header.
  void add_row(std::vector<std::string> cells);
  bool empty() const { return rows_.size() == 1; }
  // One line per row, the header first; the last column is not padded.
  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Two-space indented JSON with a trailing newline.
std::string pretty_json(const boost::json::value& value);

// The member's value as display text whatever its JSON type: strings unquoted, numbers as
// written by people (0.5, not 5E-1); "-" when it is missing or null.
std::string json_text(const boost::json::object& object, std::string_view key);

// "just now", "42s ago", "3m ago", "5h ago", "2d ago" (times ahead of `now` read "just now").
std::string format_age(SystemTime then, SystemTime now);
// The same for an RFC 3339 text; "-" when it is not one.
std::string format_age(std::string_view rfc3339, SystemTime now);

// "512 B", "12.3 KiB", "4.0 MiB", "1.2 GiB".
std::string format_size(uint64_t bytes);

// "uploading hello  [#########.......]  12.3 KiB/20.0 KiB" with a bar `bar_width` characters wide.
std::string render_progress(std::string_view label, uint64_t done, uint64_t total, size_t bar_width);

// Draws render_progress() over itself on one terminal line; redraws only when the text changes,
// since libcurl reports progress far more often than a human can read.
class ProgressLine {
 public:
  ProgressLine(std::FILE* out, std::string label);
  void update(uint64_t done, uint64_t total);
  // Ends the line if anything was drawn.
  void finish();

 private:
  std::FILE* out_;
  std::string label_;
  std::string last_;
};

}  // namespace fnd::fnctl
