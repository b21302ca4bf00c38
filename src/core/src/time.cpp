#include "core/time.hpp"

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fmt/format.h>

namespace fnd {

std::string format_rfc3339(SystemTime t) {
  // Floored, so that times before 1970 keep a fraction from 0 to 999 (-500 ms is 23:59:59.500).
  auto ms = std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const int64_t floored_secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  std::time_t secs = static_cast<std::time_t>(floored_secs);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms - floored_secs * 1000);
}

std::optional<SystemTime> parse_rfc3339(std::string_view text) {
  std::string s(text);
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::string_view rest = std::string_view(s).substr(static_cast<size_t>(consumed));
  int64_t millis = 0;
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    int digits = 0;
    while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front()))) {
      if (digits < 3) millis = millis * 10 + (rest.front() - '0');
      ++digits;
      rest.remove_prefix(1);
    }
    for (; digits < 3; ++digits) millis *= 10;
  }
  int64_t offset_s = 0;
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
             std::isdigit(static_cast<unsigned char>(rest[1])) && std::isdigit(static_cast<unsigned char>(rest[2])) &&
             std::isdigit(static_cast<unsigned char>(rest[4])) && std::isdigit(static_cast<unsigned char>(rest[5]))) {
    int hh = std::atoi(std::string(rest.substr(1, 2)).c_str());
    int mm = std::atoi(std::string(rest.substr(4, 2)).c_str());
    offset_s = (hh * 3600 + mm * 60) * (rest[0] == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  // -1 is also 1969-12-31T23:59:59Z: only errno tells a failure.
  errno = 0;
  std::time_t secs = timegm(&tm);
  if (secs == static_cast<std::time_t>(-1) && errno != 0) return std::nullopt;
  // SystemTime counts nanoseconds in 64 bits (years 1678 to 2261): a time outside would overflow.
  constexpr int64_t kMaxSeconds = std::chrono::duration_cast<std::chrono::seconds>(SystemTime::duration::max()).count() - 1;
  const int64_t at = static_cast<int64_t>(secs) - offset_s;
  if (at < -kMaxSeconds || at > kMaxSeconds) return std::nullopt;
  return SystemTime(std::chrono::seconds(at)) + std::chrono::milliseconds(millis);
}

}  // namespace fnd
