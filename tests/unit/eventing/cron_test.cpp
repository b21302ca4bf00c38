#include "eventing/cron.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/time.hpp"
#include "eventing/time_zone.hpp"

using fnd::SystemTime;
using fnd::eventing::CronSchedule;
using fnd::eventing::TimeZone;
namespace chrono = std::chrono;

namespace {

SystemTime utc(int y, unsigned m, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return chrono::sys_days(chrono::year(y) / chrono::month(m) / chrono::day(d)) + chrono::hours(h) +
         chrono::minutes(mi) + chrono::seconds(s);
}

CronSchedule schedule(std::string_view expression, std::string_view time_zone = "UTC") {
  auto parsed = CronSchedule::parse(expression, time_zone);
  INFO(expression << " in " << time_zone << ": " << (parsed ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  return *parsed;
}

// The next `count` firings after `after`, as RFC 3339 UTC strings for readable failures.
std::vector<std::string> firings(const CronSchedule& s, SystemTime after, int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    auto next = s.next_after(after);
    if (!next) break;
    out.push_back(fnd::format_rfc3339(*next));
    after = *next;
  }
  return out;
}

std::string at(int y, unsigned m, unsigned d, int h = 0, int mi = 0) {
  return fnd::format_rfc3339(utc(y, m, d, h, mi));
}

}  // namespace

TEST_CASE("valid expressions parse and keep their text and zone", "[unit]") {
  for (std::string_view e :
       {"* * * * *", "*/15 * * * *", "0 0 1 1 *", "5,10,15-20,30-59/10 0-23/6 1-31 1-12 0-7",
        "0 9 * JAN-MAR,dec mon-FRI", "0 0 * * 7", "59 23 31 12 6", "0 0 * * MON-SUN", "\t0  12 * *  sun ", "@hourly",
        "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually", "@DAILY"}) {
    schedule(e);
  }
  auto s = schedule("  */5 * * * *  ", "Europe/Berlin");
  CHECK(s.expression() == "*/5 * * * *");
  CHECK(s.time_zone() == "Europe/Berlin");
  CHECK(s.zone().name() == "Europe/Berlin");
  CHECK(schedule("@weekly").expression() == "@weekly");
  CHECK(schedule("* * * * *").time_zone() == "UTC");
}

TEST_CASE("every kind of invalid field is refused, naming the field and the value", "[unit]") {
  struct Case {
    std::string expression;
    std::vector<std::string> fragments;  // each must appear in the message
  };
  const std::vector<Case> cases = {
      {"", {"empty", "five fields"}},
      {"   ", {"empty"}},
      {"* * * *", {"has 4 fields", "minute hour day-of-month month day-of-week"}},
      {"0 * * * * *", {"has 6 fields", "seconds and years are not supported"}},
      {"60 * * * *", {"minute '60'", "out of range 0-59"}},
      {"* 24 * * *", {"hour '24'", "out of range 0-23"}},
      {"* * 0 * *", {"day-of-month '0'", "out of range 1-31"}},
      {"* * 32 * *", {"day-of-month '32'", "out of range 1-31"}},
      {"* * * 0 *", {"month '0'", "out of range 1-12"}},
      {"* * * 13 *", {"month '13'", "out of range 1-12"}},
      {"* * * * 8", {"day-of-week '8'", "out of range 0-7"}},
      {"99999 * * * *", {"minute '99999'", "out of range"}},
      {"* * * JANUARY *", {"month 'JANUARY'", "JAN-DEC"}},
      {"* * * MON *", {"month 'MON'", "JAN-DEC"}},
      {"* * * * FUNDAY", {"day-of-week 'FUNDAY'", "SUN-SAT"}},
      {"* * * * JAN", {"day-of-week 'JAN'", "SUN-SAT"}},
      {"* noon * * *", {"hour 'noon'", "names are allowed only for months"}},
      {"30-10 * * * *", {"minute '30-10'", "reversed range"}},
      {"* * * DEC-JAN *", {"month 'DEC-JAN'", "reversed range"}},
      {"*/0 * * * *", {"minute '*/0'", "step outside 1-60"}},
      {"*/90 * * * *", {"minute '*/90'", "step outside 1-60"}},
      {"* */25 * * *", {"hour '*/25'", "step outside 1-24"}},
      {"*/x * * * *", {"minute '*/x'", "step that is not a number"}},
      {"*/ * * * *", {"minute '*/'", "step that is not a number"}},
      {"5/15 * * * *", {"minute '5/15'", "step but no range", "5-59/15"}},
      {"1,,2 * * * *", {"minute '1,,2'", "empty list element"}},
      {"1, * * * *", {"minute '1,'", "empty list element"}},
      {",1 * * * *", {"minute ',1'", "empty list element"}},
      {"-5 * * * *", {"minute '-5'", "missing a value"}},
      {"5- * * * *", {"minute '5-'", "missing a value"}},
      {"1-2-3 * * * *", {"minute '1-2-3'", "not a number, a range"}},
      {"a1 * * * *", {"minute 'a1'", "not a number, a range"}},
      {"*-5 * * * *", {"minute '*-5'", "not a number, a range"}},
      {"* * ? * *", {"day-of-month '?'", "Quartz"}},
      {"* * 15W * *", {"day-of-month '15W'", "Quartz"}},
      {"* * * * 5#3", {"day-of-week '5#3'", "Quartz"}},
      {"* * L * *", {"day-of-month 'L'", "Quartz"}},
      {"* * * * 5L", {"day-of-week '5L'", "Quartz"}},
      {"@reboot", {"unknown cron macro '@reboot'", "@hourly", "no meaning for a trigger"}},
      {"@every 5m", {"unknown cron macro '@every 5m'"}},
  };
  for (const auto& c : cases) {
    INFO("expression: '" << c.expression << "'");
    auto parsed = CronSchedule::parse(c.expression);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == "invalid_schedule");
    CHECK(fnd::eventing::is_invalid_schedule(parsed.error()));
    CHECK(parsed.error().http_status == 400);
    for (const auto& fragment : c.fragments) CHECK_THAT(parsed.error().message, Catch::Contains(fragment));
  }
}

TEST_CASE("a bad time zone is refused with its own code, a bad expression is reported first", "[unit]") {
  for (std::string_view tz : {"Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "Europe/Berlin;", ""}) {
    auto parsed = CronSchedule::parse("*/15 * * * *", tz);
    INFO(tz);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == "invalid_time_zone");
    CHECK(parsed.error().http_status == 400);
    CHECK_THAT(parsed.error().message, Catch::Contains("Europe/Berlin"));
  }
  auto both = CronSchedule::parse("61 * * * *", "Mars/Olympus_Mons");
  REQUIRE_FALSE(both.ok());
  CHECK(both.error().code == "invalid_schedule");
}

TEST_CASE("next_after is strictly after and ignores seconds of the given instant", "[unit]") {
  auto s = schedule("*/15 * * * *");
  CHECK(s.next_after(utc(2026, 5, 4, 10, 7, 30)) == utc(2026, 5, 4, 10, 15));
  CHECK(s.next_after(utc(2026, 5, 4, 10, 15)) == utc(2026, 5, 4, 10, 30));
  CHECK(s.next_after(utc(2026, 5, 4, 10, 14, 59) + chrono::milliseconds(999)) == utc(2026, 5, 4, 10, 15));
  CHECK(s.next_after(utc(2026, 5, 4, 10, 15) + chrono::nanoseconds(1)) == utc(2026, 5, 4, 10, 30));
  CHECK(s.next_after(utc(2026, 12, 31, 23, 50)) == utc(2027, 1, 1));
  CHECK(schedule("* * * * *").next_after(utc(2026, 5, 4, 10, 7, 30)) == utc(2026, 5, 4, 10, 8));
}

TEST_CASE("lists, ranges and steps in UTC", "[unit]") {
  CHECK(firings(schedule("0 8-18/4 * * *"), utc(2026, 5, 4), 4) ==
        std::vector<std::string>{at(2026, 5, 4, 8), at(2026, 5, 4, 12), at(2026, 5, 4, 16), at(2026, 5, 5, 8)});
  CHECK(firings(schedule("5,10,50-59/4 3 * * *"), utc(2026, 5, 4), 6) ==
        std::vector<std::string>{at(2026, 5, 4, 3, 5), at(2026, 5, 4, 3, 10), at(2026, 5, 4, 3, 50),
                                 at(2026, 5, 4, 3, 54), at(2026, 5, 4, 3, 58), at(2026, 5, 5, 3, 5)});
  CHECK(firings(schedule("0 0 1 */4 *"), utc(2026, 2, 1), 3) ==
        std::vector<std::string>{at(2026, 5, 1), at(2026, 9, 1), at(2027, 1, 1)});
}

TEST_CASE("macros are their five-field equivalents", "[unit]") {
  const std::vector<std::pair<std::string_view, std::string_view>> pairs = {
      {"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@weekly", "0 0 * * 0"},
      {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}};
  for (const auto& [macro, fields] : pairs) {
    INFO(macro);
    const auto expected = firings(schedule(fields, "Europe/Berlin"), utc(2026, 3, 1), 30);
    CHECK(expected.size() == 30);
    CHECK(firings(schedule(macro, "Europe/Berlin"), utc(2026, 3, 1), 30) == expected);
  }
  CHECK(schedule("@weekly").next_after(utc(2026, 5, 4)) == utc(2026, 5, 10));  // a Sunday
}

TEST_CASE("names are case-insensitive, 7 is Sunday and a range may end on SUN", "[unit]") {
  const SystemTime from = utc(2026, 1, 1);
  const auto numeric = firings(schedule("0 12 * 1,2 1-5"), from, 50);
  CHECK(firings(schedule("0 12 * jan,Feb MON-fri"), from, 50) == numeric);
  const auto sundays = firings(schedule("0 0 * * 0"), from, 10);
  CHECK(sundays.front() == at(2026, 1, 4));
  CHECK(firings(schedule("0 0 * * 7"), from, 10) == sundays);
  CHECK(firings(schedule("0 0 * * sun"), from, 10) == sundays);
  CHECK(firings(schedule("0 0 * * SAT-7"), from, 2) == std::vector<std::string>{at(2026, 1, 3), at(2026, 1, 4)});
  CHECK(firings(schedule("0 0 * * MON-SUN"), from, 10) == firings(schedule("0 0 * * *"), from, 10));
  CHECK(firings(schedule("0 0 * * 5-7"), from, 3) ==
        std::vector<std::string>{at(2026, 1, 2), at(2026, 1, 3), at(2026, 1, 4)});
}

TEST_CASE("month ends: a day that a month lacks is skipped, not moved", "[unit]") {
  CHECK(firings(schedule("0 0 31 * *"), utc(2026, 4, 1), 3) ==
        std::vector<std::string>{at(2026, 5, 31), at(2026, 7, 31), at(2026, 8, 31)});
  CHECK(firings(schedule("30 23 30 * *"), utc(2026, 1, 31), 2) ==
        std::vector<std::string>{at(2026, 3, 30, 23, 30), at(2026, 4, 30, 23, 30)});
  CHECK(schedule("59 23 31 12 *").next_after(utc(2026, 12, 31, 23, 59)) == utc(2027, 12, 31, 23, 59));
}

TEST_CASE("leap years: February 29 every four years, but not in 2100", "[unit]") {
  auto s = schedule("0 0 29 2 *");
  CHECK(firings(s, utc(2026, 1, 1), 3) == std::vector<std::string>{at(2028, 2, 29), at(2032, 2, 29), at(2036, 2, 29)});
  CHECK(s.next_after(utc(2096, 2, 29)) == utc(2104, 2, 29));
  CHECK(schedule("0 0 28 2 *").next_after(utc(2028, 2, 28, 0, 1)) == utc(2029, 2, 28));
  // Day-of-week begins with '*', so both must match: February 29 on a Sunday, 28 or 40 years apart.
  CHECK(firings(schedule("0 0 29 2 */7"), utc(2026, 1, 1), 4) ==
        std::vector<std::string>{at(2032, 2, 29), at(2060, 2, 29), at(2088, 2, 29), at(2128, 2, 29)});
  CHECK(firings(schedule("0 0 29 FEB * "), utc(2043, 1, 1), 1) == std::vector<std::string>{at(2044, 2, 29)});
}

TEST_CASE("schedules that can never fire, or only after 2261, have no next firing", "[unit]") {
  CHECK_FALSE(schedule("0 0 30 2 *").next_after(utc(2026, 1, 1)).has_value());
  CHECK_FALSE(schedule("0 0 31 4,6,9,11 *").next_after(utc(2026, 1, 1)).has_value());
  CHECK_FALSE(schedule("0 0 30 FEB *", "Europe/Berlin").next_after(utc(2026, 1, 1)).has_value());
  CHECK_FALSE(schedule("0 0 1 1 *").next_after(utc(2261, 6, 1)).has_value());
  // With a restricted day-of-week the OR rule still finds days: every Monday in February.
  CHECK(schedule("0 0 30 2 1").next_after(utc(2026, 1, 1)) == utc(2026, 2, 2));
}

TEST_CASE("day-of-month and day-of-week: either matches when both are restricted", "[unit]") {
  // April 2026: the 1st is a Wednesday, Fridays are the 3rd, 10th, 17th and 24th, the 13th a Monday.
  CHECK(firings(schedule("0 0 13 * 5"), utc(2026, 4, 1), 6) ==
        std::vector<std::string>{at(2026, 4, 3), at(2026, 4, 10), at(2026, 4, 13), at(2026, 4, 17), at(2026, 4, 24),
                                 at(2026, 5, 1)});
  CHECK(firings(schedule("0 0 1-3 * SUN"), utc(2026, 4, 1), 5) ==
        std::vector<std::string>{at(2026, 4, 2), at(2026, 4, 3), at(2026, 4, 5), at(2026, 4, 12), at(2026, 4, 19)});
  // Only one restricted: it alone decides.
  CHECK(firings(schedule("0 0 * * 5"), utc(2026, 4, 1), 2) ==
        std::vector<std::string>{at(2026, 4, 3), at(2026, 4, 10)});
  CHECK(firings(schedule("0 0 13 * *"), utc(2026, 4, 1), 2) ==
        std::vector<std::string>{at(2026, 4, 13), at(2026, 5, 13)});
  // As in Vixie cron, a field beginning with '*' counts as unrestricted: odd days that are Mondays.
  CHECK(firings(schedule("0 0 */2 * MON"), utc(2026, 4, 1), 2) ==
        std::vector<std::string>{at(2026, 4, 13), at(2026, 4, 27)});
}

TEST_CASE("Europe/Berlin spring forward 2026-03-29: a missing fixed time fires at 03:00", "[unit]") {
  // 02:00-02:59 CET do not exist; 03:00 CEST is 01:00 UTC.
  CHECK(firings(schedule("30 2 * * *", "Europe/Berlin"), utc(2026, 3, 27, 12), 3) ==
        std::vector<std::string>{at(2026, 3, 28, 1, 30), at(2026, 3, 29, 1), at(2026, 3, 30, 0, 30)});
  // Several missing times of one gap fire once together.
  CHECK(firings(schedule("0,30 2 * * *", "Europe/Berlin"), utc(2026, 3, 29), 2) ==
        std::vector<std::string>{at(2026, 3, 29, 1), at(2026, 3, 30, 0)});
  // A fixed time in the gap and one right after it fire one after the other.
  CHECK(firings(schedule("30 2,3 * * *", "Europe/Berlin"), utc(2026, 3, 29), 3) ==
        std::vector<std::string>{at(2026, 3, 29, 1), at(2026, 3, 29, 1, 30), at(2026, 3, 30, 0, 30)});
  // Asked from inside the jump's instant: the firing at 03:00 is not repeated.
  CHECK(schedule("30 2 * * *", "Europe/Berlin").next_after(utc(2026, 3, 29, 1)) == utc(2026, 3, 30, 0, 30));
  CHECK(schedule("30 2 * * *", "Europe/Berlin").next_after(utc(2026, 3, 29, 0, 59, 59)) == utc(2026, 3, 29, 1));
}

TEST_CASE("Europe/Berlin fall back 2026-10-25: a repeated time fires once, at its first occurrence", "[unit]") {
  // 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
  CHECK(firings(schedule("30 2 * * *", "Europe/Berlin"), utc(2026, 10, 24, 12), 3) ==
        std::vector<std::string>{at(2026, 10, 25, 0, 30), at(2026, 10, 26, 1, 30), at(2026, 10, 27, 1, 30)});
  // Asked during the second 02:00 hour: today's 02:30 already fired.
  CHECK(schedule("30 2 * * *", "Europe/Berlin").next_after(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 26, 1, 30));
  CHECK(schedule("45 2 * * *", "Europe/Berlin").next_after(utc(2026, 10, 25, 0, 50)) == utc(2026, 10, 26, 1, 45));
  CHECK(schedule("15 3 * * *", "Europe/Berlin").next_after(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 25, 2, 15));
}

TEST_CASE("Europe/Berlin: steps fire at every existing wall-clock time, never twice", "[unit]") {
  auto quarter = schedule("*/15 * * * *", "Europe/Berlin");
  CHECK(firings(quarter, utc(2026, 3, 29, 0, 40), 4) ==
        std::vector<std::string>{at(2026, 3, 29, 0, 45), at(2026, 3, 29, 1), at(2026, 3, 29, 1, 15),
                                 at(2026, 3, 29, 1, 30)});
  // 02:00-02:45 CEST fire; the same wall-clock times in CET do not; 03:00 CET does.
  CHECK(firings(quarter, utc(2026, 10, 24, 23, 50), 6) ==
        std::vector<std::string>{at(2026, 10, 25, 0), at(2026, 10, 25, 0, 15), at(2026, 10, 25, 0, 30),
                                 at(2026, 10, 25, 0, 45), at(2026, 10, 25, 2), at(2026, 10, 25, 2, 15)});
  // Hourly schedules skip the missing hour rather than firing at its end.
  CHECK(firings(schedule("30 * * * *", "Europe/Berlin"), utc(2026, 3, 29), 3) ==
        std::vector<std::string>{at(2026, 3, 29, 0, 30), at(2026, 3, 29, 1, 30), at(2026, 3, 29, 2, 30)});
  CHECK(firings(schedule("@hourly", "Europe/Berlin"), utc(2026, 10, 24, 22, 30), 3) ==
        std::vector<std::string>{at(2026, 10, 24, 23), at(2026, 10, 25, 0), at(2026, 10, 25, 2)});
  CHECK(firings(schedule("0 */2 * * *", "Europe/Berlin"), utc(2026, 3, 28, 22, 30), 3) ==
        std::vector<std::string>{at(2026, 3, 28, 23), at(2026, 3, 29, 2), at(2026, 3, 29, 4)});

  // Every minute of both change days: each existing wall-clock minute once, in order.
  const TimeZone berlin = quarter.zone();
  auto every_minute = schedule("* * * * *", "Europe/Berlin");
  struct Day {
    SystemTime local_midnight;
    SystemTime next_midnight;
    size_t minutes;
  };
  for (const Day& day : {Day{utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), 23 * 60},
                         Day{utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), 24 * 60}}) {
    std::set<chrono::local_seconds> seen;
    SystemTime t = day.local_midnight - chrono::seconds(1);
    size_t count = 0;
    while (true) {
      const auto next = every_minute.next_after(t);
      REQUIRE(next.has_value());
      REQUIRE(*next > t);
      if (*next >= day.next_midnight) break;
      CHECK(seen.insert(berlin.to_local(*next)).second);
      t = *next;
      ++count;
    }
    CHECK(count == day.minutes);
  }
}

TEST_CASE("America/New_York: the US dates, not Berlin's", "[unit]") {
  auto s = schedule("30 2 * * *", "America/New_York");
  // 2026-03-08 02:30 EST does not exist: fires at 03:00 EDT.
  CHECK(firings(s, utc(2026, 3, 6, 12), 3) ==
        std::vector<std::string>{at(2026, 3, 7, 7, 30), at(2026, 3, 8, 7), at(2026, 3, 9, 6, 30)});
  // Berlin's change weekend is an ordinary one here (EDT all along).
  CHECK(firings(s, utc(2026, 3, 28, 12), 2) ==
        std::vector<std::string>{at(2026, 3, 29, 6, 30), at(2026, 3, 30, 6, 30)});
  // 2026-11-01 01:30 happens in EDT (05:30 UTC) and EST (06:30 UTC): the first one only.
  CHECK(firings(schedule("30 1 * * *", "America/New_York"), utc(2026, 10, 31, 12), 2) ==
        std::vector<std::string>{at(2026, 11, 1, 5, 30), at(2026, 11, 2, 6, 30)});
  CHECK(schedule("0 9 * * MON-FRI", "America/New_York").next_after(utc(2026, 7, 3, 14)) == utc(2026, 7, 6, 13));
}

TEST_CASE("2090: far-future changes come from the zone's footer rule", "[unit]") {
  CHECK(firings(schedule("30 2 * * *", "Europe/Berlin"), utc(2090, 3, 25, 12), 2) ==
        std::vector<std::string>{at(2090, 3, 26, 1), at(2090, 3, 27, 0, 30)});
  CHECK(firings(schedule("30 2 * * *", "Europe/Berlin"), utc(2090, 10, 28, 12), 2) ==
        std::vector<std::string>{at(2090, 10, 29, 0, 30), at(2090, 10, 30, 1, 30)});
  CHECK(schedule("0 12 1 7 *", "America/New_York").next_after(utc(2090, 1, 1)) == utc(2090, 7, 1, 16));
}

TEST_CASE("Asia/Kolkata: +05:30 without DST", "[unit]") {
  CHECK(firings(schedule("0 9 * * *", "Asia/Kolkata"), utc(2026, 3, 28), 2) ==
        std::vector<std::string>{at(2026, 3, 28, 3, 30), at(2026, 3, 29, 3, 30)});
  CHECK(firings(schedule("0 * * * *", "Asia/Kolkata"), utc(2026, 3, 28, 0, 10), 2) ==
        std::vector<std::string>{at(2026, 3, 28, 0, 30), at(2026, 3, 28, 1, 30)});
}

TEST_CASE("Australia/Lord_Howe: a 30-minute gap and a 30-minute overlap", "[unit]") {
  // 2026-10-04 02:00-02:29 do not exist: 02:15 fires at 02:30 +11 (15:30 UTC the day before).
  CHECK(firings(schedule("15 2 * * *", "Australia/Lord_Howe"), utc(2026, 10, 2, 12), 3) ==
        std::vector<std::string>{at(2026, 10, 2, 15, 45), at(2026, 10, 3, 15, 30), at(2026, 10, 4, 15, 15)});
  // 2026-04-05 01:30-01:59 happen twice: 01:45 fires at +11 only.
  CHECK(firings(schedule("45 1 * * *", "Australia/Lord_Howe"), utc(2026, 4, 3, 12), 3) ==
        std::vector<std::string>{at(2026, 4, 3, 14, 45), at(2026, 4, 4, 14, 45), at(2026, 4, 5, 15, 15)});
}

TEST_CASE("a schedule built on a loaded zone needs no file system", "[unit]") {
  auto zone = TimeZone::load("Europe/Berlin");
  REQUIRE(zone.ok());
  auto parsed = CronSchedule::parse("30 2 * * *", *zone);
  REQUIRE(parsed.ok());
  CHECK(parsed->time_zone() == "Europe/Berlin");
  CHECK(parsed->next_after(utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1));
  auto bad = CronSchedule::parse("30 2 * *", *zone);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == "invalid_schedule");
}
