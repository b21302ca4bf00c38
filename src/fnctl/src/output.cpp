#include "fnctl/output.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <fmt/format.h>

namespace fnd::fnctl {

namespace json = boost::json;

namespace {

constexpr std::string_view kColumnGap = "   ";
constexpr size_t kIndent = 2;

std::string number_text(const json::value& value) {
  if (value.is_int64()) return std::to_string(value.as_int64());
  if (value.is_uint64()) return std::to_string(value.as_uint64());
  return fmt::format("{}", value.as_double());  // shortest round-trip form, valid JSON
}

void append_pretty(std::string& out, const json::value& value, size_t depth) {
  std::string pad(depth * kIndent, ' ');
  std::string inner_pad((depth + 1) * kIndent, ' ');
  switch (value.kind()) {
    case json::kind::object: {
      const auto& object = value.get_object();
      if (object.empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      bool first = true;
      for (const auto& [key, member] : object) {
        if (!first) out += ",\n";
        first = false;
        out += inner_pad + json::serialize(json::string(key)) + ": ";
        append_pretty(out, member, depth + 1);
      }
      out += "\n" + pad + "}";
      return;
    }
    case json::kind::array: {
      const auto& array = value.get_array();
      if (array.empty()) {
        out += "[]";
        return;
      }
      out += "[\n";
      for (size_t i = 0; i < array.size(); ++i) {
        if (i > 0) out += ",\n";
        out += inner_pad;
        append_pretty(out, array[i], depth + 1);
      }
      out += "\n" + pad + "]";
      return;
    }
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      out += number_text(value);
      return;
    default:
      out += json::serialize(value);  // strings (escaped), booleans, null
      return;
  }
}

}  // namespace

int report_error(const Error& error) {
  fmt::print(stderr, "error: {}\n", error.message);
  return kExitFailure;
}

Status write_and_flush(std::FILE* out, std::string_view bytes, std::string_view what) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size() || std::fflush(out) != 0) {
    return make_errno_error("write_failed", fmt::format("cannot write to {}", what), errno);
  }
  return {};
}

Table::Table(std::vector<std::string> headers) { rows_.push_back(std::move(headers)); }

void Table::add_row(std::vector<std::string> cells) {
  assert(cells.size() == rows_.front().size() && "a table row needs one cell per column");
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  size_t columns = rows_.front().size();
  std::vector<size_t> widths(columns, 0);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < columns; ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows_) {
    for (size_t c = 0; c < columns; ++c) {
      out += row[c];
      if (c + 1 < columns) out += std::string(widths[c] - row[c].size(), ' ') + std::string(kColumnGap);
    }
    out += '\n';
  }
  return out;
}

std::string pretty_json(const json::value& value) {
  std::string out;
  append_pretty(out, value, 0);
  out += '\n';
  return out;
}

std::string json_text(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || value->is_null()) return "-";
  if (value->is_string()) return std::string(value->get_string());
  if (value->is_number()) return number_text(*value);
  return json::serialize(*value);
}

std::string format_age(SystemTime then, SystemTime now) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - then).count();
  if (seconds < 1) return "just now";
  if (seconds < 60) return fmt::format("{}s ago", seconds);
  if (seconds < 3600) return fmt::format("{}m ago", seconds / 60);
  if (seconds < 86400) return fmt::format("{}h ago", seconds / 3600);
  return fmt::format("{}d ago", seconds / 86400);
}

std::string format_age(std::string_view rfc3339, SystemTime now) {
  auto then = parse_rfc3339(rfc3339);
  return then ? format_age(*then, now) : "-";
}

std::string format_size(uint64_t bytes) {
  constexpr std::string_view kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double size = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (size >= 1024 && unit + 1 < std::size(kUnits)) {
    size /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", size, kUnits[unit]);
}

std::string render_progress(std::string_view label, uint64_t done, uint64_t total, size_t bar_width) {
  done = std::min(done, total);
  size_t filled = total == 0 ? bar_width : static_cast<size_t>(bar_width * done / total);
  return fmt::format("{}  [{}{}]  {}/{}", label, std::string(filled, '#'), std::string(bar_width - filled, '.'),
                     format_size(done), format_size(total));
}

ProgressLine::ProgressLine(std::FILE* out, std::string label) : out_(out), label_(std::move(label)) {}

void ProgressLine::update(uint64_t done, uint64_t total) {
  constexpr size_t kBarWidth = 30;
  std::string line = render_progress(label_, done, total, kBarWidth);
  if (line == last_) return;
  // Trailing spaces wipe what a longer previous line left behind.
  size_t wipe = last_.size() > line.size() ? last_.size() - line.size() : 0;
  fmt::print(out_, "\r{}{}", line, std::string(wipe, ' '));
  std::fflush(out_);
  last_ = std::move(line);
}

void ProgressLine::finish() {
  if (last_.empty()) return;
  fmt::print(out_, "\n");
  std::fflush(out_);
  last_.clear();
}

}  // namespace fnd::fnctl
