#include "eventing/time_zone.hpp"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "core/time.hpp"

using fnd::SystemTime;
using fnd::eventing::LocalTimeKind;
using fnd::eventing::TimeZone;
namespace chrono = std::chrono;

namespace {

SystemTime utc(int y, unsigned m, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return chrono::sys_days(chrono::year(y) / chrono::month(m) / chrono::day(d)) + chrono::hours(h) +
         chrono::minutes(mi) + chrono::seconds(s);
}

chrono::local_seconds local(int y, unsigned m, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return chrono::local_days(chrono::year(y) / chrono::month(m) / chrono::day(d)) + chrono::hours(h) +
         chrono::minutes(mi) + chrono::seconds(s);
}

TimeZone zone(std::string_view name) {
  auto loaded = TimeZone::load(name);
  INFO(name << ": " << (loaded ? std::string() : loaded.error().message));
  REQUIRE(loaded.ok());
  return *loaded;
}

// Checks the offset (seconds east of UTC), DST flag and abbreviation at `t`.
void check_offset(const TimeZone& tz, SystemTime t, int offset, bool dst, std::string_view abbreviation) {
  const auto at = tz.offset_at(t);
  INFO(tz.name() << " at " << fnd::format_rfc3339(t));
  CHECK(at.utc_offset == chrono::seconds(offset));
  CHECK(at.is_dst == dst);
  CHECK(at.abbreviation == abbreviation);
}

// Builds TZif bytes (RFC 8536). Version '\0' writes only the 32-bit block; later versions write a
// minimal 32-bit block, the 64-bit block and the footer.
struct TzifType {
  int32_t offset;
  bool dst;
  std::string abbreviation;
};

void put32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
void put64(std::string& out, int64_t v) {
  const auto u = static_cast<uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((u >> shift) & 0xff));
}

std::string tzif_block(const std::vector<int64_t>& transitions, const std::vector<uint8_t>& indices,
                       const std::vector<TzifType>& types, int time_size, char version, uint32_t leap_count = 0) {
  std::string chars;
  std::vector<uint8_t> abbreviation_index;
  for (const auto& t : types) {
    abbreviation_index.push_back(static_cast<uint8_t>(chars.size()));
    chars += t.abbreviation;
    chars.push_back('\0');
  }
  std::string out = "TZif";
  out.push_back(version);
  out.append(15, '\0');
  put32(out, 0);                                          // isutcnt
  put32(out, 0);                                          // isstdcnt
  put32(out, leap_count);                                 // leapcnt
  put32(out, static_cast<uint32_t>(transitions.size()));  // timecnt
  put32(out, static_cast<uint32_t>(types.size()));        // typecnt
  put32(out, static_cast<uint32_t>(chars.size()));        // charcnt
  for (auto t : transitions) time_size == 8 ? put64(out, t) : put32(out, static_cast<uint32_t>(t));
  for (auto i : indices) out.push_back(static_cast<char>(i));
  for (size_t i = 0; i < types.size(); ++i) {
    put32(out, static_cast<uint32_t>(types[i].offset));
    out.push_back(types[i].dst ? 1 : 0);
    out.push_back(static_cast<char>(abbreviation_index[i]));
  }
  out += chars;
  for (uint32_t i = 0; i < leap_count; ++i) {
    time_size == 8 ? put64(out, 78796800 + i) : put32(out, 78796800 + i);
    put32(out, i + 1);
  }
  return out;
}

std::string build_tzif(char version, const std::vector<int64_t>& transitions, const std::vector<uint8_t>& indices,
                       const std::vector<TzifType>& types, std::string_view footer, uint32_t leap_count = 0) {
  if (version == '\0') return tzif_block(transitions, indices, types, 4, version, leap_count);
  std::string out = tzif_block({}, {}, {types.front()}, 4, version);
  out += tzif_block(transitions, indices, types, 8, version, leap_count);
  out += "\n" + std::string(footer) + "\n";
  return out;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TimeZone from_tzif(std::string name, const std::string& bytes) {
  auto parsed = TimeZone::from_tzif(std::move(name), bytes);
  INFO((parsed ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  return *parsed;
}

// A private directory, removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fnd-tz-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("UTC is built in: offset zero everywhere and every local time unique", "[unit]") {
  for (const TimeZone& tz : {TimeZone::utc(), zone("UTC")}) {
    CHECK(tz.name() == "UTC");
    check_offset(tz, utc(2026, 3, 29, 1), 0, false, "UTC");
    check_offset(tz, utc(2090, 7, 1), 0, false, "UTC");
    const auto mapping = tz.to_utc(local(2026, 10, 25, 2, 30));
    CHECK(mapping.kind == LocalTimeKind::unique);
    CHECK(mapping.earliest == utc(2026, 10, 25, 2, 30));
    CHECK(mapping.latest == mapping.earliest);
  }
  // "UTC" needs no file, whatever directory is given.
  CHECK(TimeZone::load("UTC", "/nonexistent-zoneinfo").ok());
}

TEST_CASE("Europe/Berlin: CET and CEST and the exact seconds of both 2026 changes", "[unit]") {
  const TimeZone berlin = zone("Europe/Berlin");
  check_offset(berlin, utc(2026, 1, 15, 12), 3600, false, "CET");
  check_offset(berlin, utc(2026, 7, 15, 12), 7200, true, "CEST");
  check_offset(berlin, utc(2026, 3, 29, 0, 59, 59), 3600, false, "CET");
  check_offset(berlin, utc(2026, 3, 29, 1), 7200, true, "CEST");
  check_offset(berlin, utc(2026, 10, 25, 0, 59, 59), 7200, true, "CEST");
  check_offset(berlin, utc(2026, 10, 25, 1), 3600, false, "CET");
  CHECK(berlin.to_local(utc(2026, 3, 29, 1)) == local(2026, 3, 29, 3));
  CHECK(berlin.to_local(utc(2026, 10, 25, 0, 30)) == local(2026, 10, 25, 2, 30));
  CHECK(berlin.to_local(utc(2026, 10, 25, 1, 30)) == local(2026, 10, 25, 2, 30));
  // Sub-second parts are dropped, not rounded.
  CHECK(berlin.to_local(utc(2026, 1, 1) + chrono::milliseconds(999)) == local(2026, 1, 1, 1));
  // Before the first transition: local mean time (+0:53:28).
  check_offset(berlin, utc(1880, 1, 1), 3208, false, "LMT");
}

TEST_CASE("Europe/Berlin: the spring gap maps to its end and the autumn overlap to both instants", "[unit]") {
  const TimeZone berlin = zone("Europe/Berlin");
  auto gap = berlin.to_utc(local(2026, 3, 29, 2, 30));
  CHECK(gap.kind == LocalTimeKind::skipped);
  CHECK(gap.earliest == utc(2026, 3, 29, 1));  // 03:00 CEST
  CHECK(gap.latest == gap.earliest);
  CHECK(berlin.to_utc(local(2026, 3, 29, 2)).kind == LocalTimeKind::skipped);
  auto before_gap = berlin.to_utc(local(2026, 3, 29, 1, 59, 59));
  CHECK(before_gap.kind == LocalTimeKind::unique);
  CHECK(before_gap.earliest == utc(2026, 3, 29, 0, 59, 59));
  auto gap_end = berlin.to_utc(local(2026, 3, 29, 3));
  CHECK(gap_end.kind == LocalTimeKind::unique);
  CHECK(gap_end.earliest == utc(2026, 3, 29, 1));

  auto overlap = berlin.to_utc(local(2026, 10, 25, 2, 30));
  CHECK(overlap.kind == LocalTimeKind::repeated);
  CHECK(overlap.earliest == utc(2026, 10, 25, 0, 30));  // 02:30 CEST
  CHECK(overlap.latest == utc(2026, 10, 25, 1, 30));    // 02:30 CET
  auto overlap_start = berlin.to_utc(local(2026, 10, 25, 2));
  CHECK(overlap_start.kind == LocalTimeKind::repeated);
  CHECK(overlap_start.earliest == utc(2026, 10, 25, 0));
  CHECK(overlap_start.latest == utc(2026, 10, 25, 1));
  auto after_overlap = berlin.to_utc(local(2026, 10, 25, 3));
  CHECK(after_overlap.kind == LocalTimeKind::unique);
  CHECK(after_overlap.earliest == utc(2026, 10, 25, 2));
  auto summer = berlin.to_utc(local(2026, 7, 1, 12));
  CHECK(summer.kind == LocalTimeKind::unique);
  CHECK(summer.earliest == utc(2026, 7, 1, 10));
}

TEST_CASE("America/New_York follows the US rule (second Sunday of March, first of November)", "[unit]") {
  const TimeZone new_york = zone("America/New_York");
  check_offset(new_york, utc(2026, 3, 8, 6, 59, 59), -18000, false, "EST");
  check_offset(new_york, utc(2026, 3, 8, 7), -14400, true, "EDT");
  check_offset(new_york, utc(2026, 11, 1, 5, 59, 59), -14400, true, "EDT");
  check_offset(new_york, utc(2026, 11, 1, 6), -18000, false, "EST");
  auto gap = new_york.to_utc(local(2026, 3, 8, 2, 30));
  CHECK(gap.kind == LocalTimeKind::skipped);
  CHECK(gap.earliest == utc(2026, 3, 8, 7));
  auto overlap = new_york.to_utc(local(2026, 11, 1, 1, 30));
  CHECK(overlap.kind == LocalTimeKind::repeated);
  CHECK(overlap.earliest == utc(2026, 11, 1, 5, 30));
  CHECK(overlap.latest == utc(2026, 11, 1, 6, 30));
  // Berlin's rule would say standard time here: the US changes a few weeks apart from the EU.
  check_offset(new_york, utc(2026, 3, 20), -14400, true, "EDT");
  check_offset(new_york, utc(2026, 10, 28), -14400, true, "EDT");
}

TEST_CASE("2090 lies past every transition in the files and comes from the POSIX footer", "[unit]") {
  const TimeZone berlin = zone("Europe/Berlin");
  check_offset(berlin, utc(2090, 3, 26, 0, 59, 59), 3600, false, "CET");
  check_offset(berlin, utc(2090, 3, 26, 1), 7200, true, "CEST");
  check_offset(berlin, utc(2090, 10, 29, 0, 59, 59), 7200, true, "CEST");
  check_offset(berlin, utc(2090, 10, 29, 1), 3600, false, "CET");
  auto overlap = berlin.to_utc(local(2090, 10, 29, 2, 15));
  CHECK(overlap.kind == LocalTimeKind::repeated);
  CHECK(overlap.earliest == utc(2090, 10, 29, 0, 15));
  CHECK(overlap.latest == utc(2090, 10, 29, 1, 15));

  const TimeZone new_york = zone("America/New_York");
  check_offset(new_york, utc(2090, 3, 12, 6, 59, 59), -18000, false, "EST");
  check_offset(new_york, utc(2090, 3, 12, 7), -14400, true, "EDT");
  check_offset(new_york, utc(2090, 11, 5, 5, 59, 59), -14400, true, "EDT");
  check_offset(new_york, utc(2090, 11, 5, 6), -18000, false, "EST");
}

TEST_CASE("Asia/Kolkata is +05:30 all year with no gaps or overlaps", "[unit]") {
  const TimeZone kolkata = zone("Asia/Kolkata");
  check_offset(kolkata, utc(2026, 1, 1), 19800, false, "IST");
  check_offset(kolkata, utc(2026, 7, 1), 19800, false, "IST");
  check_offset(kolkata, utc(2090, 3, 26, 1), 19800, false, "IST");
  CHECK(kolkata.to_local(utc(2026, 3, 29, 20, 45)) == local(2026, 3, 30, 2, 15));
  auto mapping = kolkata.to_utc(local(2026, 3, 29, 2, 30));
  CHECK(mapping.kind == LocalTimeKind::unique);
  CHECK(mapping.earliest == utc(2026, 3, 28, 21));
}

TEST_CASE("Australia/Lord_Howe: a southern zone with a 30-minute DST", "[unit]") {
  const TimeZone lord_howe = zone("Australia/Lord_Howe");
  check_offset(lord_howe, utc(2026, 4, 4, 14, 59, 59), 39600, true, "+11");
  check_offset(lord_howe, utc(2026, 4, 4, 15), 37800, false, "+1030");
  check_offset(lord_howe, utc(2026, 10, 3, 15, 29, 59), 37800, false, "+1030");
  check_offset(lord_howe, utc(2026, 10, 3, 15, 30), 39600, true, "+11");
  check_offset(lord_howe, utc(2090, 9, 30, 15, 30), 39600, true, "+11");
  check_offset(lord_howe, utc(2090, 4, 1, 15), 37800, false, "+1030");
  auto gap = lord_howe.to_utc(local(2026, 10, 4, 2, 15));
  CHECK(gap.kind == LocalTimeKind::skipped);
  CHECK(gap.earliest == utc(2026, 10, 3, 15, 30));  // 02:30 +11
  CHECK(lord_howe.to_utc(local(2026, 10, 4, 2, 30)).kind == LocalTimeKind::unique);
  auto overlap = lord_howe.to_utc(local(2026, 4, 5, 1, 45));
  CHECK(overlap.kind == LocalTimeKind::repeated);
  CHECK(overlap.earliest == utc(2026, 4, 4, 14, 45));
  CHECK(overlap.latest == utc(2026, 4, 4, 15, 15));
  CHECK(lord_howe.to_utc(local(2026, 4, 5, 1, 29)).kind == LocalTimeKind::unique);
}

TEST_CASE("footer rules with negative times, times past 24:00 and negative DST", "[unit]") {
  // America/Nuuk: "<-02>2<-01>,M3.5.0/-1,M10.5.0/0": the change is on Saturday local time.
  const TimeZone nuuk = zone("America/Nuuk");
  check_offset(nuuk, utc(2026, 3, 29, 0, 59, 59), -7200, false, "-02");
  check_offset(nuuk, utc(2026, 3, 29, 1), -3600, true, "-01");
  check_offset(nuuk, utc(2090, 10, 29, 0, 59, 59), -3600, true, "-01");
  check_offset(nuuk, utc(2090, 10, 29, 1), -7200, false, "-02");
  // Asia/Jerusalem: "IST-2IDT,M3.4.4/26,M10.5.0": Thursday at 26:00 is Friday 02:00.
  const TimeZone jerusalem = zone("Asia/Jerusalem");
  check_offset(jerusalem, utc(2026, 3, 26, 23, 59, 59), 7200, false, "IST");
  check_offset(jerusalem, utc(2026, 3, 27), 10800, true, "IDT");
  check_offset(jerusalem, utc(2090, 3, 24), 10800, true, "IDT");
  check_offset(jerusalem, utc(2090, 10, 28, 23), 7200, false, "IST");
  // Europe/Dublin: "IST-1GMT0,M10.5.0,M3.5.0/1": winter GMT is the zone's daylight saving time.
  const TimeZone dublin = zone("Europe/Dublin");
  check_offset(dublin, utc(2026, 1, 15), 0, true, "GMT");
  check_offset(dublin, utc(2026, 7, 15), 3600, false, "IST");
  check_offset(dublin, utc(2090, 1, 15), 0, true, "GMT");
  check_offset(dublin, utc(2090, 7, 15), 3600, false, "IST");
  auto overlap = dublin.to_utc(local(2090, 10, 29, 1, 30));
  CHECK(overlap.kind == LocalTimeKind::repeated);
  CHECK(overlap.earliest == utc(2090, 10, 29, 0, 30));
  CHECK(overlap.latest == utc(2090, 10, 29, 1, 30));
}

TEST_CASE("a slim file (footer only after 1997) agrees with the full file every three hours to 2037", "[unit]") {
  struct Case {
    std::string name;
    std::vector<TzifType> types;
    std::string footer;
  };
  const std::vector<Case> cases = {
      {"Europe/Berlin", {{3600, false, "CET"}, {7200, true, "CEST"}}, "CET-1CEST,M3.5.0,M10.5.0/3"},
      {"America/New_York", {{-18000, false, "EST"}, {-14400, true, "EDT"}}, "EST5EDT,M3.2.0,M11.1.0"},
      {"Australia/Lord_Howe", {{37800, false, "+1030"}, {39600, true, "+11"}}, "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"},
  };
  for (const auto& c : cases) {
    const TimeZone full = zone(c.name);
    // One transition into standard time on 2008-01-01; the footer tells everything after it.
    const int64_t start = chrono::duration_cast<chrono::seconds>(utc(2008, 1, 1).time_since_epoch()).count();
    const TimeZone slim = from_tzif("Slim/" + c.name, build_tzif('2', {start}, {0}, c.types, c.footer));
    int compared = 0;
    for (SystemTime t = utc(2008, 1, 1); t < utc(2037, 12, 1); t += chrono::hours(3)) {
      const auto expected = full.offset_at(t);
      const auto actual = slim.offset_at(t);
      if (actual.utc_offset != expected.utc_offset || actual.is_dst != expected.is_dst ||
          actual.abbreviation != expected.abbreviation) {
        FAIL_CHECK(c.name << " differs at " << fnd::format_rfc3339(t));
        break;
      }
      const auto wall = full.to_local(t);
      const auto expected_mapping = full.to_utc(wall);
      const auto actual_mapping = slim.to_utc(wall);
      if (actual_mapping.kind != expected_mapping.kind || actual_mapping.earliest != expected_mapping.earliest ||
          actual_mapping.latest != expected_mapping.latest) {
        FAIL_CHECK(c.name << " maps the local time of " << fnd::format_rfc3339(t) << " differently");
        break;
      }
      ++compared;
    }
    CHECK(compared > 80000);
  }
}

TEST_CASE("footer dates in the Jn and n forms, quoted names and an explicit DST offset", "[unit]") {
  // DST from March 1 (J60: February 29 never counted) to day 299 counting from 0 (Oct 27, or Oct 26
  // in leap years), both at midnight local time, one hour more than standard.
  const TimeZone tz =
      from_tzif("Test/Julian", build_tzif('3', {}, {}, {{10800, false, "+03"}}, "<+03>-3<+04>-4,J60/0,299/0"));
  check_offset(tz, utc(2023, 2, 28, 20, 59, 59), 10800, false, "+03");
  check_offset(tz, utc(2023, 2, 28, 21), 14400, true, "+04");
  check_offset(tz, utc(2024, 2, 29, 20, 59, 59), 10800, false, "+03");
  check_offset(tz, utc(2024, 2, 29, 21), 14400, true, "+04");
  check_offset(tz, utc(2023, 10, 26, 19, 59, 59), 14400, true, "+04");
  check_offset(tz, utc(2023, 10, 26, 20), 10800, false, "+03");
  check_offset(tz, utc(2024, 10, 25, 19, 59, 59), 14400, true, "+04");
  check_offset(tz, utc(2024, 10, 25, 20), 10800, false, "+03");
}

TEST_CASE("footer rules: DST all year, the default dates and no DST at all", "[unit]") {
  // DST from January 1 00:00 to December 31 25:00 in DST, which is the next January 1: always DST.
  const TimeZone always =
      from_tzif("Test/Always", build_tzif('3', {}, {}, {{-14400, true, "EDT"}}, "EST5EDT,0/0,J365/25"));
  for (SystemTime t : {utc(2026, 1, 1), utc(2026, 1, 1, 4, 59, 59), utc(2026, 1, 1, 5), utc(2026, 7, 1),
                       utc(2026, 12, 31, 23), utc(2090, 1, 1, 5)}) {
    check_offset(always, t, -14400, true, "EDT");
  }
  auto mapping = always.to_utc(local(2027, 1, 1, 0, 30));
  CHECK(mapping.kind == LocalTimeKind::unique);
  CHECK(mapping.earliest == utc(2027, 1, 1, 4, 30));

  // No dates: the US rules, as glibc assumes.
  const TimeZone us = from_tzif("Test/Default", build_tzif('2', {}, {}, {{-18000, false, "EST"}}, "EST5EDT"));
  check_offset(us, utc(2026, 3, 8, 6, 59, 59), -18000, false, "EST");
  check_offset(us, utc(2026, 3, 8, 7), -14400, true, "EDT");
  check_offset(us, utc(2026, 11, 1, 6), -18000, false, "EST");

  // An empty footer: the last transition's type holds forever.
  const TimeZone fixed =
      from_tzif("Test/Fixed", build_tzif('2', {0}, {1}, {{3600, false, "A"}, {-7200, false, "B"}}, ""));
  check_offset(fixed, utc(1969, 12, 31, 23, 59, 59), 3600, false, "A");
  check_offset(fixed, utc(2090, 1, 1), -7200, false, "B");
}

TEST_CASE("version 1 files: 32-bit transitions and no footer", "[unit]") {
  // 2000-01-01 and 2000-07-01 UTC.
  const TimeZone tz = from_tzif(
      "Test/V1", build_tzif('\0', {946684800, 962409600}, {1, 0}, {{0, false, "WET"}, {3600, true, "WEST"}}, ""));
  check_offset(tz, utc(1999, 12, 31, 23, 59, 59), 0, false, "WET");
  check_offset(tz, utc(2000, 1, 1), 3600, true, "WEST");
  check_offset(tz, utc(2000, 7, 1), 0, false, "WET");
  check_offset(tz, utc(2090, 1, 1), 0, false, "WET");
  auto gap = tz.to_utc(local(2000, 1, 1, 0, 30));
  CHECK(gap.kind == LocalTimeKind::skipped);
  CHECK(gap.earliest == utc(2000, 1, 1));
  auto overlap = tz.to_utc(local(2000, 7, 1, 0, 30));
  CHECK(overlap.kind == LocalTimeKind::repeated);
  CHECK(overlap.earliest == utc(2000, 6, 30, 23, 30));
  CHECK(overlap.latest == utc(2000, 7, 1, 0, 30));
}

TEST_CASE("malformed zone names are refused before any file is read", "[unit]") {
  struct Case {
    std::string name;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"", "is empty"},
      {"../etc/passwd", "contains '..'"},
      {"Europe/../../etc/passwd", "contains '..'"},
      {"/etc/localtime", "absolute path"},
      {"Europe/Berlin;rm", "characters other than"},
      {"Europe/Berlin ", "characters other than"},
      {"Europe\\Berlin", "characters other than"},
      {"zone.tab", "characters other than"},
      {"Europe//Berlin", "empty part"},
      {"Europe/", "empty part"},
      {std::string(300, 'A'), "too long"},
  };
  for (const auto& c : cases) {
    auto loaded = TimeZone::load(c.name, "/nonexistent-zoneinfo");
    INFO(c.name);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().code == "invalid_time_zone");
    CHECK(fnd::eventing::is_invalid_time_zone(loaded.error()));
    CHECK(loaded.error().http_status == 400);
    CHECK_THAT(loaded.error().message, Catch::Contains(c.problem) && Catch::Contains("names look like Europe/Berlin"));
    if (c.name.size() < 100) CHECK_THAT(loaded.error().message, Catch::Contains("'" + c.name + "'"));
  }
}

TEST_CASE("unknown zones, regions and files that are not zones are the caller's error", "[unit]") {
  auto unknown = TimeZone::load("Mars/Olympus_Mons");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == "invalid_time_zone");
  CHECK(unknown.error().http_status == 400);
  CHECK_THAT(unknown.error().message, Catch::Contains("'Mars/Olympus_Mons' does not exist"));

  auto region = TimeZone::load("Europe");
  REQUIRE_FALSE(region.ok());
  CHECK(region.error().code == "invalid_time_zone");
  CHECK_THAT(region.error().message, Catch::Contains("region"));

  TempDir dir;
  std::filesystem::create_directories(dir.path / "Fake");
  std::ofstream(dir.path / "Fake" / "Text") << "this is not a zone\n";
  auto text = TimeZone::load("Fake/Text", dir.path);
  REQUIRE_FALSE(text.ok());
  CHECK(text.error().code == "invalid_time_zone");
  CHECK_THAT(text.error().message, Catch::Contains("not in TZif format"));

  auto leap = TimeZone::from_tzif("right/UTC", build_tzif('2', {}, {}, {{0, false, "UTC"}}, "UTC0", 2));
  REQUIRE_FALSE(leap.ok());
  CHECK(leap.error().code == "invalid_time_zone");
  CHECK_THAT(leap.error().message, Catch::Contains("leap seconds"));
}

TEST_CASE("damaged TZif data is the host's problem (500) and says what is wrong", "[unit]") {
  const std::string berlin = read_file("/usr/share/zoneinfo/Europe/Berlin");
  REQUIRE(berlin.size() > 100);
  const std::vector<int64_t> two = {0, 3600};
  const std::vector<TzifType> types = {{0, false, "A"}, {3600, true, "B"}};
  struct Case {
    std::string label;
    std::string bytes;
    std::string detail;
  };
  std::string bad_type_index = build_tzif('2', two, {0, 7}, types, "");
  const std::vector<Case> cases = {
      {"truncated", berlin.substr(0, berlin.size() / 2), "truncated"},
      {"no footer", berlin.substr(0, berlin.rfind('\n', berlin.size() - 2)), "footer is missing"},
      {"bad footer", build_tzif('2', two, {0, 1}, types, "CET-1CEST,M13.5.0,M10.5.0/3"), "not a POSIX TZ rule"},
      {"junk footer", build_tzif('2', two, {0, 1}, types, "CET-1CEST,M3.5.0,M10.5.0/3 junk"), "not a POSIX TZ rule"},
      {"out of order", build_tzif('2', {3600, 0}, {0, 1}, types, ""), "out of order"},
      {"type index", bad_type_index, "local time type 7"},
      {"offset", build_tzif('2', {}, {}, {{200000, false, "X"}}, ""), "seconds from UTC"},
      {"version", "TZif1" + build_tzif('2', {}, {}, {{0, false, "X"}}, "").substr(5), "version"},
  };
  for (const auto& c : cases) {
    INFO(c.label);
    auto parsed = TimeZone::from_tzif("Europe/Berlin", c.bytes);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == "time_zone_data_unavailable");
    CHECK(fnd::eventing::is_time_zone_data_unavailable(parsed.error()));
    CHECK(parsed.error().http_status == 500);
    CHECK_THAT(parsed.error().message, Catch::Contains(c.detail) && Catch::Contains("reinstall the tzdata package"));
  }
  // The real file parses, and so do the system's other zones of interest.
  CHECK(TimeZone::from_tzif("Europe/Berlin", berlin).ok());
}

TEST_CASE("a loaded zone converts without the file system", "[unit]") {
  std::optional<TimeZone> kept;
  {
    TempDir dir;
    std::filesystem::create_directories(dir.path / "Test");
    std::filesystem::copy_file("/usr/share/zoneinfo/Europe/Berlin", dir.path / "Test" / "Berlin");
    auto loaded = TimeZone::load("Test/Berlin", dir.path);
    REQUIRE(loaded.ok());
    kept = *loaded;
  }  // the directory and the file are gone now
  CHECK(kept->name() == "Test/Berlin");
  check_offset(*kept, utc(2026, 7, 1), 7200, true, "CEST");
  check_offset(*kept, utc(2090, 1, 1), 3600, false, "CET");
  CHECK(kept->to_utc(local(2026, 3, 29, 2, 30)).earliest == utc(2026, 3, 29, 1));
}
