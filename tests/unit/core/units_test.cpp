#include <catch2/catch.hpp>

#include "core/names.hpp"
#include "core/time.hpp"
#include "core/units.hpp"

using namespace std::chrono_literals;

TEST_CASE("sizes parse with decimal and binary suffixes", "[unit]") {
  CHECK(*fnd::parse_bytes("4096") == 4096);
  CHECK(*fnd::parse_bytes("64k") == 64000);
  CHECK(*fnd::parse_bytes("128Mi") == 128ULL << 20);
  CHECK(*fnd::parse_bytes("1.5Gi") == 3ULL << 29);
  auto bad = fnd::parse_bytes("12 parsecs");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("128Mi") != std::string::npos);
}

TEST_CASE("durations parse compound units and format back", "[unit]") {
  CHECK(*fnd::parse_duration("250ms") == 250ms);
  CHECK(*fnd::parse_duration("1m30s") == 90s);
  CHECK(*fnd::parse_duration("2") == 2s);
  CHECK_FALSE(fnd::parse_duration("5 minutes").ok());
  CHECK(fnd::format_duration(5min) == "5m");
  CHECK(fnd::format_duration(90s) == "1m30s");
  CHECK(fnd::format_duration(250ms) == "250ms");
  CHECK(fnd::format_bytes(128ULL << 20) == "128Mi");
}

TEST_CASE("function names are DNS labels and typos get a suggestion", "[unit]") {
  CHECK(fnd::validate_name("function", "hello-2").ok());
  CHECK_FALSE(fnd::validate_name("function", "Hello").ok());
  CHECK_FALSE(fnd::validate_name("function", "-x").ok());
  CHECK_FALSE(fnd::validate_name("function", std::string(64, 'a')).ok());
  std::vector<std::string> names{"hello", "resize-image"};
  CHECK(fnd::closest_name("helo", names) == "hello");
  CHECK_FALSE(fnd::closest_name("zzzzzz", names).has_value());
}

TEST_CASE("RFC 3339 times round-trip", "[unit]") {
  auto t = fnd::parse_rfc3339("2026-11-25T14:03:07.123Z");
  REQUIRE(t);
  CHECK(fnd::format_rfc3339(*t) == "2026-11-25T14:03:07.123Z");
  auto offset = fnd::parse_rfc3339("2026-11-25T16:03:07+02:00");
  REQUIRE(offset);
  CHECK(fnd::format_rfc3339(*offset) == "2026-11-25T14:03:07.000Z");
  CHECK_FALSE(fnd::parse_rfc3339("yesterday"));
}

TEST_CASE("sizes and durations refuse NaN, infinities and absurd values instead of overflowing", "[unit]") {
  for (const char* text : {"nan", "NaN", "inf", "-inf", "1e30", "1e19Gi", "-1"}) {
    INFO(text);
    CHECK_FALSE(fnd::parse_bytes(text).ok());
  }
  for (const char* text : {"nan", "infs", "1e30h", "100000000h", "-5s"}) {
    INFO(text);
    CHECK_FALSE(fnd::parse_duration(text).ok());
  }
  CHECK(*fnd::parse_bytes("512Gi") == 512ULL << 30);
  CHECK(*fnd::parse_duration("168h") == std::chrono::hours(168));
}

// Found by tests/fuzz/fuzz_units: a duration shown as "1.23s" (3 significant digits) read back
// as 1230 ms, so a spec's timeout of 1234ms changed on its way through fnctl and the store.
TEST_CASE("every duration formats to text that parses back to the same duration", "[unit]") {
  for (auto d : {1234ms, 1500ms, 999ms, 1001ms, std::chrono::milliseconds(604'799'500), std::chrono::milliseconds(3'600'001),
                 std::chrono::milliseconds(90'061'234), 0ms, 1ms}) {
    INFO(d.count());
    auto back = fnd::parse_duration(fnd::format_duration(d));
    REQUIRE(back.ok());
    CHECK(*back == d);
  }
  CHECK(fnd::format_duration(1234ms) == "1.234s");
  CHECK(fnd::format_duration(std::chrono::milliseconds(90'061'500)) == "25h1m1.5s");
}

// Found by tests/fuzz/fuzz_units (UBSan: signed overflow): a year past 2261 overflowed the
// nanoseconds of SystemTime; times before 1970 printed a negative fraction.
TEST_CASE("RFC 3339 times outside what SystemTime holds are refused, times before 1970 round-trip", "[unit]") {
  CHECK_FALSE(fnd::parse_rfc3339("9999-12-31T23:59:59Z"));
  CHECK_FALSE(fnd::parse_rfc3339("1000-01-01T00:00:00Z"));
  CHECK_FALSE(fnd::parse_rfc3339("2026-11-25T14:03:07+ab:cd"));
  auto before = fnd::parse_rfc3339("1969-12-31T23:59:59.500Z");
  REQUIRE(before);
  CHECK(before->time_since_epoch() == std::chrono::milliseconds(-500));
  CHECK(fnd::format_rfc3339(*before) == "1969-12-31T23:59:59.500Z");
  auto late = fnd::parse_rfc3339("2261-12-31T23:59:59Z");
  REQUIRE(late);
  CHECK(fnd::format_rfc3339(*late) == "2261-12-31T23:59:59.000Z");
}
