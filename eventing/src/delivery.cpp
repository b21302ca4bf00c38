#include "eventing/delivery.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "core/error.hpp"
#include "core/time.hpp"
#include "core/units.hpp"

namespace fnd::eventing {

namespace json = boost::json;
using std::chrono::milliseconds;

std::string_view to_string(BackoffKind kind) { return kind == BackoffKind::linear ? "linear" : "exponential"; }

std::string_view to_string(AttemptVerdict verdict) {
  switch (verdict) {
    case AttemptVerdict::delivered:
      return "delivered";
    case AttemptVerdict::retry:
      return "retry";
    case AttemptVerdict::dead_letter:
      return "dead_letter";
  }
  return "retry";
}

bool is_retryable_status(int status) {
  return status == 0 || (status >= 500 && status <= 599) || status == 404 || status == 408 || status == 409 ||
         status == 429;
}

AttemptVerdict classify(const AttemptResult& result) {
  if (result.status >= 200 && result.status <= 299) return AttemptVerdict::delivered;
  return is_retryable_status(result.status) ? AttemptVerdict::retry : AttemptVerdict::dead_letter;
}

milliseconds backoff_delay(const Backoff& backoff, uint32_t retry) {
  // Saturates far beyond any cap rather than overflowing for a large retry count.
  constexpr double kSaturation = 365.0 * 24 * 3600 * 1000;
  const double n = std::max<uint32_t>(retry, 1);
  const double base = static_cast<double>(backoff.base.count());
  const double delay = backoff.kind == BackoffKind::linear ? base * n : base * std::exp2(n - 1);
  return milliseconds(static_cast<int64_t>(std::min(delay, kSaturation)));
}

milliseconds retry_delay(const DeliveryPolicy& policy, uint32_t retry, const AttemptResult& result, double u) {
  const milliseconds capped = std::min(backoff_delay(policy.backoff, retry), policy.cap);
  const double shortening = std::clamp(policy.jitter, 0.0, 1.0) * std::clamp(u, 0.0, 1.0);
  // floor: jitter may only shorten a delay, never lengthen it by rounding up.
  auto delay = milliseconds(static_cast<int64_t>(std::floor(static_cast<double>(capped.count()) * (1.0 - shortening))));
  if ((result.status == 429 || result.status == 503) && result.retry_after) {
    delay = std::max(delay, std::min(*result.retry_after, policy.cap));
  }
  return std::max(delay, milliseconds(0));
}

namespace {

Error policy_error(std::string_view field, std::string_view problem) {
  return make_error(std::string(kInvalidDeliveryPolicy), fmt::format("delivery field '{}': {}", field, problem), 422);
}

std::string field_of(std::string_view path, std::string_view name) {
  return path.empty() ? std::string(name) : fmt::format("{}.{}", path, name);
}

std::string_view kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "a list";
    case json::kind::object:
      return "an object";
  }
  return "?";
}

Result<double> read_number(const json::value& v, std::string_view field) {
  if (!v.is_number()) return policy_error(field, fmt::format("expected a number, got {}", kind_name(v)));
  const double d = v.to_number<double>();
  if (!std::isfinite(d)) return policy_error(field, "expected a finite number");
  return d;
}

Result<milliseconds> read_duration(const json::value& v, std::string_view field) {
  if (v.is_number()) {
    auto seconds = read_number(v, field);
    if (!seconds) return seconds.error();
    if (*seconds < 0 || *seconds > 366.0 * 24 * 3600) {
      return policy_error(field, "expected a number of seconds from 0 to 1 year");
    }
    return milliseconds(std::llround(*seconds * 1000));
  }
  if (!v.is_string())
    return policy_error(field, fmt::format("expected a duration such as \"30s\", got {}", kind_name(v)));
  auto parsed = parse_duration(v.as_string());
  if (!parsed) return policy_error(field, parsed.error().message);
  return *parsed;
}

Result<Backoff> backoff_from_text(std::string_view text, std::string_view field) {
  constexpr std::string_view kHint = "use linear or exponential with an optional base delay, e.g. exponential:200ms";
  const auto colon = text.find(':');
  const std::string_view kind_text = text.substr(0, colon);
  Backoff backoff;
  if (kind_text == "linear") {
    backoff.kind = BackoffKind::linear;
  } else if (kind_text == "exponential") {
    backoff.kind = BackoffKind::exponential;
  } else {
    return policy_error(field, fmt::format("unknown backoff '{}': {}", text, kHint));
  }
  if (colon != std::string_view::npos) {
    auto base = parse_duration(text.substr(colon + 1));
    if (!base) return policy_error(field, fmt::format("invalid backoff '{}': {}", text, kHint));
    backoff.base = *base;
  }
  if (backoff.base <= milliseconds(0) || backoff.base > kMaxBackoffCap) {
    return policy_error(field, fmt::format("the base delay of '{}' must be from 1ms to 24h", text));
  }
  return backoff;
}

// Reads an HTTP-date field by field; each call consumes its part only when it matches.
class DateReader {
 public:
  explicit DateReader(std::string_view text) : rest_(text) {}

  bool literal(std::string_view expected) {
    if (!rest_.starts_with(expected)) return false;
    rest_.remove_prefix(expected.size());
    return true;
  }

  // Exactly `count` ASCII digits.
  std::optional<int> digits(std::size_t count) {
    if (rest_.size() < count) return std::nullopt;
    int value = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const char c = rest_[i];
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    rest_.remove_prefix(count);
    return value;
  }

  // One of `names`; its index.
  template <std::size_t N>
  std::optional<unsigned> name(const std::array<std::string_view, N>& names) {
    for (std::size_t i = 0; i < N; ++i) {
      if (literal(names[i])) return static_cast<unsigned>(i);
    }
    return std::nullopt;
  }

  bool done() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

constexpr std::array<std::string_view, 7> kDayNames = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDayNames = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                           "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonthNames = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr milliseconds kLongestRetryAfter = std::chrono::hours(24 * 366);

struct DateFields {
  int year = 0;
  unsigned month = 0;  // 1 to 12
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
};

// "HH:MM:SS"
bool read_time_of_day(DateReader& in, DateFields& out) {
  const auto hour = in.digits(2);
  if (!hour || !in.literal(":")) return false;
  const auto minute = in.digits(2);
  if (!minute || !in.literal(":")) return false;
  const auto second = in.digits(2);
  if (!second) return false;
  out.hour = *hour;
  out.minute = *minute;
  out.second = *second;
  return true;
}

bool read_month(DateReader& in, DateFields& out) {
  const auto month = in.name(kMonthNames);
  if (!month) return false;
  out.month = *month + 1;
  return true;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<DateFields> read_imf_fixdate(std::string_view text) {
  DateReader in(text);
  DateFields out;
  if (!in.name(kDayNames) || !in.literal(", ")) return std::nullopt;
  const auto day = in.digits(2);
  if (!day || !in.literal(" ") || !read_month(in, out) || !in.literal(" ")) return std::nullopt;
  const auto year = in.digits(4);
  if (!year || !in.literal(" ") || !read_time_of_day(in, out) || !in.literal(" GMT") || !in.done()) {
    return std::nullopt;
  }
  out.day = *day;
  out.year = *year;
  return out;
}

// RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; the century comes from `now_year`.
std::optional<DateFields> read_rfc850_date(std::string_view text, int now_year) {
  DateReader in(text);
  DateFields out;
  if (!in.name(kLongDayNames) || !in.literal(", ")) return std::nullopt;
  const auto day = in.digits(2);
  if (!day || !in.literal("-") || !read_month(in, out) || !in.literal("-")) return std::nullopt;
  const auto year = in.digits(2);
  if (!year || !in.literal(" ") || !read_time_of_day(in, out) || !in.literal(" GMT") || !in.done()) {
    return std::nullopt;
  }
  out.day = *day;
  out.year = now_year - now_year % 100 + *year;
  if (out.year > now_year + 50) out.year -= 100;
  return out;
}

// asctime: "Sun Nov  6 08:49:37 1994" (a one-digit day is padded with a space).
std::optional<DateFields> read_asctime_date(std::string_view text) {
  DateReader in(text);
  DateFields out;
  if (!in.name(kDayNames) || !in.literal(" ") || !read_month(in, out) || !in.literal(" ")) return std::nullopt;
  std::optional<int> day;
  if (in.literal(" ")) {
    day = in.digits(1);
  } else {
    day = in.digits(2);
  }
  if (!day || !in.literal(" ") || !read_time_of_day(in, out) || !in.literal(" ")) return std::nullopt;
  const auto year = in.digits(4);
  if (!year || !in.done()) return std::nullopt;
  out.day = *day;
  out.year = *year;
  return out;
}

std::optional<SystemTime> to_time(const DateFields& fields) {
  // 60: RFC 9110 allows a leap second.
  if (fields.hour > 23 || fields.minute > 59 || fields.second > 60) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year(fields.year), std::chrono::month(fields.month),
                                         std::chrono::day(static_cast<unsigned>(fields.day))};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days(date) + std::chrono::hours(fields.hour) + std::chrono::minutes(fields.minute) +
         std::chrono::seconds(fields.second);
}

}  // namespace

std::optional<milliseconds> parse_retry_after(std::string_view value, SystemTime now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    uint64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc::result_out_of_range) return kLongestRetryAfter;
    if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
    const uint64_t longest =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(kLongestRetryAfter).count());
    return milliseconds(std::chrono::seconds(std::min(seconds, longest)));
  }
  const int now_year = static_cast<int>(std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(now)).year());
  std::optional<DateFields> fields = read_imf_fixdate(value);
  if (!fields) fields = read_rfc850_date(value, now_year);
  if (!fields) fields = read_asctime_date(value);
  if (!fields) return std::nullopt;
  const auto at = to_time(*fields);
  if (!at) return std::nullopt;
  if (*at <= now) return milliseconds(0);
  // Rounded up: retrying a little after the date is fine, before it is what the server refused.
  return std::min(std::chrono::ceil<milliseconds>(*at - now), kLongestRetryAfter);
}

Status validate(const DeliveryPolicy& policy) {
  if (policy.retries > kMaxRetries) return policy_error("retries", fmt::format("at most {} retries", kMaxRetries));
  if (policy.backoff.base <= milliseconds(0) || policy.backoff.base > kMaxBackoffCap) {
    return policy_error("backoff", "the base delay must be from 1ms to 24h");
  }
  if (policy.cap <= milliseconds(0) || policy.cap > kMaxBackoffCap)
    return policy_error("cap", "must be from 1ms to 24h");
  if (!(policy.jitter >= 0.0 && policy.jitter <= 1.0)) return policy_error("jitter", "must be a fraction from 0 to 1");
  if (policy.timeout <= milliseconds(0) || policy.timeout > kMaxAttemptTimeout) {
    return policy_error("timeout", "must be from 1ms to 1h");
  }
  return {};
}

Result<DeliveryPolicy> parse_delivery_policy(const json::value& value, std::string_view path) {
  const std::string where = path.empty() ? std::string("<delivery>") : std::string(path);
  if (!value.is_object()) return policy_error(where, fmt::format("expected an object, got {}", kind_name(value)));
  static constexpr std::array<std::string_view, 5> kKnown = {"retries", "backoff", "cap", "jitter", "timeout"};
  DeliveryPolicy policy;
  for (const auto& [key, member] : value.as_object()) {
    const std::string field = field_of(path, key);
    if (std::find(kKnown.begin(), kKnown.end(), std::string_view(key)) == kKnown.end()) {
      return policy_error(field, fmt::format("unknown field; known fields here are: {}", fmt::join(kKnown, ", ")));
    }
    if (member.is_null()) continue;
    if (key == "retries") {
      auto n = read_number(member, field);
      if (!n) return n.error();
      if (*n != std::floor(*n) || *n < 0 || *n > kMaxRetries) {
        return policy_error(field, fmt::format("expected a whole number from 0 to {}", kMaxRetries));
      }
      policy.retries = static_cast<uint32_t>(*n);
    } else if (key == "backoff") {
      if (!member.is_string()) {
        return policy_error(field,
                            fmt::format("expected a string such as \"exponential:200ms\", got {}", kind_name(member)));
      }
      auto backoff = backoff_from_text(member.as_string(), field);
      if (!backoff) return backoff.error();
      policy.backoff = *backoff;
    } else if (key == "cap") {
      auto cap = read_duration(member, field);
      if (!cap) return cap.error();
      if (*cap <= milliseconds(0) || *cap > kMaxBackoffCap) return policy_error(field, "must be from 1ms to 24h");
      policy.cap = *cap;
    } else if (key == "jitter") {
      auto jitter = read_number(member, field);
      if (!jitter) return jitter.error();
      if (*jitter < 0 || *jitter > 1) return policy_error(field, "must be a fraction from 0 to 1");
      policy.jitter = *jitter;
    } else if (key == "timeout") {
      auto timeout = read_duration(member, field);
      if (!timeout) return timeout.error();
      if (*timeout <= milliseconds(0) || *timeout > kMaxAttemptTimeout) {
        return policy_error(field, "must be from 1ms to 1h");
      }
      policy.timeout = *timeout;
    }
  }
  return policy;
}

json::object delivery_policy_to_json(const DeliveryPolicy& policy) {
  json::object out;
  out["retries"] = policy.retries;
  out["backoff"] = format_backoff(policy.backoff);
  out["cap"] = format_duration(policy.cap);
  out["jitter"] = policy.jitter;
  out["timeout"] = format_duration(policy.timeout);
  return out;
}

Result<Backoff> parse_backoff(std::string_view text) { return backoff_from_text(text, "backoff"); }

std::string format_backoff(const Backoff& backoff) {
  return fmt::format("{}:{}", to_string(backoff.kind), format_duration(backoff.base));
}

}  // namespace fnd::eventing
