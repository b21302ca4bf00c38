#include "core/units.hpp"

#include <charconv>
#include <cmath>
#include <fmt/format.h>

namespace fnd {

namespace {
constexpr double kMaxBytes = 1152921504606846976.0;  // 1 EiB
constexpr double kMaxDurationMs = 10.0 * 366 * 24 * 3600 * 1000;

Error unit_error(std::string_view what, std::string_view text, std::string_view hint) {
  return make_error("invalid_" + std::string(what), fmt::format("invalid {} '{}': {}", what, text, hint), 400);
}
}  // namespace

Result<uint64_t> parse_bytes(std::string_view text) {
  constexpr std::string_view kHint = "use a number of bytes with an optional suffix k, M, G, Ki, Mi or Gi (e.g. 128Mi)";
  double number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  // from_chars reads "nan" and "inf" too: neither is a size.
  if (ec != std::errc() || !std::isfinite(number) || number < 0 || text.empty()) return unit_error("size", text, kHint);
  std::string_view suffix(end, text.data() + text.size() - end);
  double scale = 1;
  if (suffix.empty() || suffix == "B") scale = 1;
  else if (suffix == "k" || suffix == "K" || suffix == "KB") scale = 1e3;
  else if (suffix == "M" || suffix == "MB") scale = 1e6;
  else if (suffix == "G" || suffix == "GB") scale = 1e9;
  else if (suffix == "Ki" || suffix == "KiB") scale = 1024.0;
  else if (suffix == "Mi" || suffix == "MiB") scale = 1024.0 * 1024;
  else if (suffix == "Gi" || suffix == "GiB") scale = 1024.0 * 1024 * 1024;
  else return unit_error("size", text, kHint);
  if (number * scale > kMaxBytes) return unit_error("size", text, "far larger than any real amount of memory or disk");
  return static_cast<uint64_t>(std::llround(number * scale));
}

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  constexpr std::string_view kHint = "use a number with a unit ms, s, m or h (e.g. 30s, 5m, 1m30s)";
  if (text.empty()) return unit_error("duration", text, kHint);
  double total_ms = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    double number = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), number);
    if (ec != std::errc() || !std::isfinite(number) || number < 0) return unit_error("duration", text, kHint);
    rest.remove_prefix(end - rest.data());
    size_t unit_len = 0;
    while (unit_len < rest.size() && std::isalpha(static_cast<unsigned char>(rest[unit_len]))) ++unit_len;
    std::string_view unit = rest.substr(0, unit_len);
    rest.remove_prefix(unit_len);
    if (unit.empty() && rest.empty() && total_ms == 0) unit = "s";  // bare number: seconds
    if (unit == "ms") total_ms += number;
    else if (unit == "s") total_ms += number * 1000;
    else if (unit == "m") total_ms += number * 60'000;
    else if (unit == "h") total_ms += number * 3'600'000;
    else return unit_error("duration", text, kHint);
    if (total_ms > kMaxDurationMs) return unit_error("duration", text, "longer than ten years");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

std::string format_bytes(uint64_t bytes) {
  constexpr std::pair<uint64_t, const char*> kUnits[] = {{1ULL << 30, "Gi"}, {1ULL << 20, "Mi"}, {1ULL << 10, "Ki"}};
  for (auto [size, name] : kUnits) {
    if (bytes >= size) {
      if (bytes % size == 0) return fmt::format("{}{}", bytes / size, name);
      return fmt::format("{:.1f}{}", static_cast<double>(bytes) / static_cast<double>(size), name);
    }
  }
  return std::to_string(bytes);
}

std::string format_duration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  if (ms < 1000) return fmt::format("{}ms", ms);
  // Exact to the millisecond: specs keep their durations in this form, so it must read back as
  // the same value ("1.234s", "1h0.5s"), never rounded.
  int64_t s = ms / 1000;
  const int64_t fraction = ms % 1000;
  std::string out;
  if (s >= 3600) { out += fmt::format("{}h", s / 3600); s %= 3600; }
  if (s >= 60) { out += fmt::format("{}m", s / 60); s %= 60; }
  if (fraction != 0) {
    std::string digits = fmt::format("{:03}", fraction);
    digits.erase(digits.find_last_not_of('0') + 1);
    out += fmt::format("{}.{}s", s, digits);
  } else if (s > 0) {
    out += fmt::format("{}s", s);
  }
  return out;
}

}  // namespace fnd
