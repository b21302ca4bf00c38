// Sizes and durations (specs, config, ?since=), RFC 3339 times (?since=) and names (URLs, specs):
// each parsed value re-formats to text that parses back to the same value.
#include <cmath>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <string>

#include "core/names.hpp"
#include "core/time.hpp"
#include "core/units.hpp"
#include "fuzz_check.hpp"

using namespace std::chrono_literals;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fnd::fuzz::as_text(data, size);

  if (auto bytes = fnd::parse_bytes(text)) {
    FND_FUZZ_CHECK(*bytes <= (1ULL << 60), fmt::format("'{}' gave {}", text, *bytes));
    std::string shown = fnd::format_bytes(*bytes);
    auto again = fnd::parse_bytes(shown);
    FND_FUZZ_CHECK(again.ok(), fmt::format("'{}' gave {}, shown as '{}', which does not parse", text, *bytes, shown));
    // format_bytes is for people: "1.5Gi" is exact, "122.1Mi" is rounded to a tenth of its unit.
    const double unit = shown.ends_with("Gi") ? 1 << 30 : shown.ends_with("Mi") ? 1 << 20 : shown.ends_with("Ki") ? 1 << 10 : 1;
    const double off = std::fabs(static_cast<double>(*again) - static_cast<double>(*bytes));
    FND_FUZZ_CHECK(shown.find('.') == std::string::npos ? *again == *bytes : off <= unit * 0.05 + 1,
                   fmt::format("'{}' gave {}, shown as '{}', which parses as {}", text, *bytes, shown, *again));
  }

  if (auto duration = fnd::parse_duration(text)) {
    FND_FUZZ_CHECK(duration->count() >= 0 && *duration <= std::chrono::hours(24 * 366 * 10),
                   fmt::format("'{}' gave {} ms", text, duration->count()));
    std::string shown = fnd::format_duration(*duration);
    auto again = fnd::parse_duration(shown);
    FND_FUZZ_CHECK(again.ok() && *again == *duration,
                   fmt::format("'{}' gave {} ms, shown as '{}', which parses as {}", text, duration->count(), shown,
                               again ? std::to_string(again->count()) + " ms" : again.error().message));
  }

  if (auto time = fnd::parse_rfc3339(text)) {
    std::string shown = fnd::format_rfc3339(*time);
    auto again = fnd::parse_rfc3339(shown);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time->time_since_epoch());
    FND_FUZZ_CHECK(again.has_value() && *again == fnd::SystemTime(ms),
                   fmt::format("'{}' gave {} ms since the epoch, shown as '{}'", text, ms.count(), shown));
  }

  if (fnd::validate_name("function", text).ok()) {
    FND_FUZZ_CHECK(!text.empty() && text.size() <= 63 && text.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") ==
                                                              std::string_view::npos,
                   fmt::format("'{}' was accepted as a name", text));
  }
  // Typo suggestions run over user-given names.
  static const std::string kNames[] = {"hello", "resize-image", "a", "thumbnail-generator-2"};
  if (auto closest = fnd::closest_name(text, kNames)) {
    FND_FUZZ_CHECK(!closest->empty(), "an empty suggestion");
  }
  return 0;
}
