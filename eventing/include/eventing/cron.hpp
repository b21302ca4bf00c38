// Cron schedules of cron triggers: five-field expressions evaluated in an IANA time zone.
//
// Syntax (Vixie cron): "minute hour day-of-month month day-of-week", fields separated by spaces or
// tabs. Each field is '*' or a comma-separated list of values (23), ranges (1-5), and steps over
// '*' or a range (*/15, 8-18/2). Ranges run from the smaller value to the larger. Months may be
// written JAN-DEC and days of the week SUN-SAT, case-insensitively; day-of-week takes 0-7 with both
// 0 and 7 meaning Sunday, and a range ending in SUN ends on Sunday (MON-SUN). Ranges: minute 0-59,
// hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-7. A step may not be larger than its
// field has values (*/60 in minutes is hourly; */90 is refused). Macros: @hourly, @daily,
// @midnight, @weekly, @monthly, @yearly and @annually. Not supported (refused): seconds or year
// fields, @reboot, Quartz extensions (? L W #), a step on a single value (5/15: write 5-59/15).
//
// Day-of-month and day-of-week: when both are restricted a day matches if either matches
// ("0 0 13 * FRI" fires on every 13th and every Friday); when either field begins with '*' a day
// must match both. As in Vixie cron a field written "*/n" begins with '*', so "0 0 */2 * MON"
// fires on odd-numbered days that are Mondays.
//
// Daylight-saving changes. Matching is done on the zone's wall clock, then:
//  - A wall-clock time that occurs twice (the clocks go back) fires once, at its first occurrence.
//    This holds for every schedule: no wall-clock time ever fires twice.
//  - A wall-clock time that does not exist (the clocks jump forward over it) fires once, at the
//    first instant after the gap: "30 2 * * *" in Europe/Berlin fires at 03:00 CEST on 2026-03-29.
//    Several missing times of one gap ("0,30 2 * * *") fire once together.
//  - Except for schedules with a step or '*' in the minute or hour field ("*/15 * * * *",
//    "30 * * * *", "0 8-18/2 * * *"): they fire at every matching wall-clock time that exists and
//    skip the missing ones, since their next firing is near anyway.
//
// Thread safety: a CronSchedule is immutable; next_after() may be called from any thread at once
// and never touches the file system (the zone is loaded once, by parse()).
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.hpp"
#include "core/time.hpp"
#include "eventing/time_zone.hpp"

namespace fnd::eventing {

// The expression is malformed; the message names the field and the value. HTTP 400.
inline constexpr std::string_view kInvalidSchedule = "invalid_schedule";
bool is_invalid_schedule(const Error& error);

class CronSchedule {
 public:
  // `time_zone` is an IANA name ("Europe/Berlin", "UTC"), loaded from /usr/share/zoneinfo (blocks on
  // file I/O). Errors: kInvalidSchedule (400); kInvalidTimeZone (400) for a malformed or unknown
  // zone; kTimeZoneDataUnavailable (500) when the zone's file cannot be read.
  static Result<CronSchedule> parse(std::string_view expression, std::string_view time_zone = "UTC");
  // The same with a zone already loaded; never touches the file system.
  static Result<CronSchedule> parse(std::string_view expression, TimeZone zone);

  // The first firing strictly after `after`, or nullopt when there is none: the schedule can never
  // match ("0 0 30 2 *") or its next match lies beyond what SystemTime can hold (after 2261).
  std::optional<SystemTime> next_after(SystemTime after) const;

  const std::string& expression() const { return expression_; }  // as given, without outer blanks
  const std::string& time_zone() const { return zone_.name(); }
  const TimeZone& zone() const { return zone_; }

 private:
  explicit CronSchedule(TimeZone zone) : zone_(std::move(zone)) {}
  // The first local minute (minutes since the local epoch) at or after `from` that the fields
  // match, searching at most a 400-year Gregorian cycle.
  std::optional<int64_t> next_match(int64_t from) const;
  bool day_matches(int year, unsigned month, unsigned day) const;

  std::string expression_;
  TimeZone zone_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;           // bit 0 unused
  std::bitset<13> months_;                  // bit 0 unused
  std::bitset<7> days_of_week_;             // 0 = Sunday
  bool day_of_month_unrestricted_ = false;  // the field begins with '*'
  bool day_of_week_unrestricted_ = false;
  bool skips_missing_times_ = false;  // a step or '*' in the minute or hour field
  bool never_fires_ = false;          // no month holds any of the days (Feb 30)
};

}  // namespace fnd::eventing
