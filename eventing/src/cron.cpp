#include "eventing/cron.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fnd::eventing {
namespace {

constexpr int64_t kMinutesPerDay = 24 * 60;
// The Gregorian calendar repeats every 400 years: a day pattern not met within one cycle never is.
constexpr int kSearchYears = 400;
// SystemTime (nanoseconds in int64) ends in April 2262.
constexpr int kLastYear = 2261;

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct FieldSpec {
  std::string_view name;
  int low;
  int high;
  int max_step;                             // how many distinct values the field has
  const std::string_view* names = nullptr;  // names[i] stands for first_name_value + i
  size_t name_count = 0;
  int first_name_value = 0;
  std::string_view names_hint;
};

constexpr FieldSpec kMinuteField{"minute", 0, 59, 60};
constexpr FieldSpec kHourField{"hour", 0, 23, 24};
constexpr FieldSpec kDayOfMonthField{"day-of-month", 1, 31, 31};
constexpr FieldSpec kMonthField{"month", 1, 12, 12, kMonthNames.data(), kMonthNames.size(), 1, "JAN-DEC"};
constexpr FieldSpec kDayOfWeekField{"day-of-week", 0, 7, 7, kDayNames.data(), kDayNames.size(), 0, "SUN-SAT"};

struct Macro {
  std::string_view name;
  std::string_view fields;
};
constexpr std::array<Macro, 7> kMacros = {{{"@hourly", "0 * * * *"},
                                           {"@daily", "0 0 * * *"},
                                           {"@midnight", "0 0 * * *"},
                                           {"@weekly", "0 0 * * 0"},
                                           {"@monthly", "0 0 1 * *"},
                                           {"@yearly", "0 0 1 1 *"},
                                           {"@annually", "0 0 1 1 *"}}};

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto upper = [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; };
           return upper(x) == upper(y);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_blank(s[i])) ++i;
    const size_t start = i;
    while (i < s.size() && !is_blank(s[i])) ++i;
    if (i > start) fields.push_back(s.substr(start, i - start));
  }
  return fields;
}

Error schedule_error(std::string message) { return make_error(std::string(kInvalidSchedule), std::move(message), 400); }

// Parses one field into a bit set (bit v set when value v matches) or an error naming the field.
class FieldParser {
 public:
  FieldParser(const FieldSpec& spec, std::string_view field, std::string_view expression)
      : spec_(spec), field_(field), expression_(expression) {}

  Result<uint64_t> parse() {
    uint64_t bits = 0;
    size_t start = 0;
    while (true) {
      const size_t comma = field_.find(',', start);
      const std::string_view element = field_.substr(start, comma == std::string_view::npos ? comma : comma - start);
      if (element.empty()) return fail(field_, "has an empty list element");
      auto element_bits = parse_element(element);
      if (!element_bits) return element_bits.error();
      bits |= *element_bits;
      if (comma == std::string_view::npos) return bits;
      start = comma + 1;
    }
  }

 private:
  struct Value {
    int number;
    bool named;
  };

  Error fail(std::string_view what, std::string_view problem) const {
    return schedule_error(std::string(spec_.name) + " '" + std::string(what) + "' in cron schedule '" +
                          std::string(expression_) + "' " + std::string(problem));
  }

  std::string range_text() const { return std::to_string(spec_.low) + "-" + std::to_string(spec_.high); }

  Result<Value> parse_value(std::string_view element, std::string_view text) const {
    if (text.empty()) return fail(element, "is missing a value; write a number, a range, a step or '*'");
    if (std::all_of(text.begin(), text.end(), is_digit)) {
      if (text.size() > 4) return fail(text, "is out of range " + range_text());
      int number = 0;
      for (char c : text) number = number * 10 + (c - '0');
      if (number < spec_.low || number > spec_.high) {
        return fail(text, "is out of range " + range_text());
      }
      return Value{number, false};
    }
    const bool alphabetic = std::all_of(text.begin(), text.end(), is_alpha);
    if (alphabetic && spec_.names != nullptr) {
      for (size_t i = 0; i < spec_.name_count; ++i) {
        if (equals_ignoring_case(text, spec_.names[i])) {
          return Value{spec_.first_name_value + static_cast<int>(i), true};
        }
      }
    }
    // "?", "5#3", "L", "15W", "LW": Quartz's day extensions.
    const size_t suffix = text.find_first_not_of("0123456789");
    if (text.find_first_of("?#") != std::string_view::npos ||
        text.substr(suffix).find_first_not_of("LWlw") == std::string_view::npos) {
      return fail(element, "uses a Quartz extension (? L W #), which cron schedules do not support");
    }
    if (alphabetic) {
      if (spec_.names == nullptr) {
        return fail(text,
                    "is not a number (names are allowed only for months, JAN-DEC, and days of the week, SUN-SAT)");
      }
      return fail(text, "is not a name of the field (" + std::string(spec_.names_hint) + ")");
    }
    return fail(element, "is not a number, a range (1-5), a step (*/15) or a list (1,15)");
  }

  Result<uint64_t> parse_element(std::string_view element) const {
    std::string_view range = element;
    std::optional<int> step;
    if (const size_t slash = element.find('/'); slash != std::string_view::npos) {
      range = element.substr(0, slash);
      const std::string_view step_text = element.substr(slash + 1);
      if (step_text.empty() || step_text.size() > 4 || !std::all_of(step_text.begin(), step_text.end(), is_digit)) {
        return fail(element, "has a step that is not a number; write e.g. */15");
      }
      int value = 0;
      for (char c : step_text) value = value * 10 + (c - '0');
      if (value < 1 || value > spec_.max_step) {
        return fail(element, "has a step outside 1-" + std::to_string(spec_.max_step) + " (steps cannot span fields)");
      }
      step = value;
    }
    int first = spec_.low;
    int last = spec_.high;
    if (range != "*") {
      const size_t dash = range.find('-');
      auto start = parse_value(element, range.substr(0, dash));
      if (!start) return start.error();
      first = last = start->number;
      if (dash != std::string_view::npos) {
        auto end = parse_value(element, range.substr(dash + 1));
        if (!end) return end.error();
        last = end->number;
        // "MON-SUN": Sunday is 0 by name, but a range ending on it means the 7 at the end of the week.
        if (&spec_ == &kDayOfWeekField && end->named && last == 0 && first > 0) last = 7;
        if (last < first) return fail(element, "is a reversed range; write the smaller value first");
      } else if (step) {
        return fail(element, "has a step but no range; write " + std::to_string(first) + "-" +
                                 std::to_string(spec_.high) + "/" + std::to_string(*step) + " or */" +
                                 std::to_string(*step));
      }
    }
    uint64_t bits = 0;
    for (int v = first; v <= last; v += step.value_or(1)) bits |= uint64_t{1} << v;
    return bits;
  }

  const FieldSpec& spec_;
  std::string_view field_;
  std::string_view expression_;
};

}  // namespace

bool is_invalid_schedule(const Error& error) { return error.code == kInvalidSchedule; }

Result<CronSchedule> CronSchedule::parse(std::string_view expression, std::string_view time_zone) {
  // Check the expression first: a typo there should not be hidden behind a zone lookup.
  auto checked = parse(expression, TimeZone::utc());
  if (!checked) return checked.error();
  auto zone = TimeZone::load(time_zone);
  if (!zone) return zone.error();
  CronSchedule schedule = std::move(checked).value();
  schedule.zone_ = std::move(zone).value();
  return schedule;
}

Result<CronSchedule> CronSchedule::parse(std::string_view expression, TimeZone zone) {
  const std::string_view text = trim(expression);
  if (text.empty()) {
    return schedule_error(
        "the cron schedule is empty; write five fields 'minute hour day-of-month month day-of-week', " +
        std::string("e.g. '*/15 * * * *'"));
  }
  std::string_view fields_text = text;
  if (text.front() == '@') {
    const auto macro = std::find_if(kMacros.begin(), kMacros.end(),
                                    [&](const Macro& m) { return equals_ignoring_case(m.name, text); });
    if (macro == kMacros.end()) {
      return schedule_error("unknown cron macro '" + std::string(text) +
                            "'; use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually" +
                            (equals_ignoring_case(text, "@reboot") ? " (@reboot has no meaning for a trigger)" : ""));
    }
    fields_text = macro->fields;
  }
  const std::vector<std::string_view> fields = split_fields(fields_text);
  if (fields.size() != 5) {
    return schedule_error("cron schedule '" + std::string(text) + "' has " + std::to_string(fields.size()) +
                          " fields; write five: minute hour day-of-month month day-of-week" +
                          (fields.size() > 5 ? " (seconds and years are not supported)" : ""));
  }
  const std::array<const FieldSpec*, 5> specs = {&kMinuteField, &kHourField, &kDayOfMonthField, &kMonthField,
                                                 &kDayOfWeekField};
  std::array<uint64_t, 5> bits{};
  for (size_t i = 0; i < fields.size(); ++i) {
    auto parsed = FieldParser(*specs[i], fields[i], text).parse();
    if (!parsed) return parsed.error();
    bits[i] = *parsed;
  }

  CronSchedule schedule(std::move(zone));
  schedule.expression_ = std::string(text);
  schedule.minutes_ = std::bitset<60>(bits[0]);
  schedule.hours_ = std::bitset<24>(bits[1]);
  schedule.days_of_month_ = std::bitset<32>(bits[2]);
  schedule.months_ = std::bitset<13>(bits[3]);
  // Day-of-week 7 is Sunday again.
  schedule.days_of_week_ = std::bitset<7>((bits[4] | (bits[4] >> 7)) & 0x7f);
  schedule.day_of_month_unrestricted_ = fields[2].front() == '*';
  schedule.day_of_week_unrestricted_ = fields[4].front() == '*';
  auto repeats_within_day = [](std::string_view f) { return f.find_first_of("*/") != std::string_view::npos; };
  schedule.skips_missing_times_ = repeats_within_day(fields[0]) || repeats_within_day(fields[1]);

  // When days must match day-of-month, some chosen month must be long enough for a chosen day.
  if (schedule.day_of_month_unrestricted_ || schedule.day_of_week_unrestricted_) {
    static constexpr std::array<unsigned, 13> kLongestMonth = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool possible = false;
    for (unsigned m = 1; m <= 12 && !possible; ++m) {
      for (unsigned d = 1; d <= kLongestMonth[m] && !possible; ++d) {
        possible = schedule.months_[m] && schedule.days_of_month_[d];
      }
    }
    schedule.never_fires_ = !possible;
  }
  return schedule;
}

bool CronSchedule::day_matches(int year, unsigned month, unsigned day) const {
  namespace chrono = std::chrono;
  const chrono::sys_days date(chrono::year(year) / chrono::month(month) / chrono::day(day));
  const bool dom = days_of_month_[day];
  const bool dow = days_of_week_[chrono::weekday(date).c_encoding()];
  return day_of_month_unrestricted_ || day_of_week_unrestricted_ ? dom && dow : dom || dow;
}

std::optional<int64_t> CronSchedule::next_match(int64_t from) const {
  using namespace std::chrono;
  const int64_t from_day = floor_div(from, kMinutesPerDay);
  const auto minute_of_day = static_cast<int>(from - from_day * kMinutesPerDay);
  const year_month_day start{sys_days(days(from_day))};
  const int first_year = static_cast<int>(start.year());
  const auto first_month = static_cast<unsigned>(start.month());
  const auto first_day = static_cast<unsigned>(start.day());
  const int last_year = std::min(first_year + kSearchYears, kLastYear);
  for (int y = first_year; y <= last_year; ++y) {
    for (unsigned m = y == first_year ? first_month : 1; m <= 12; ++m) {
      if (!months_[m]) continue;
      const bool in_first_month = y == first_year && m == first_month;
      const auto month_length = static_cast<unsigned>((std::chrono::year(y) / month(m) / last).day());
      for (unsigned d = in_first_month ? first_day : 1; d <= month_length; ++d) {
        if (!day_matches(y, m, d)) continue;
        const bool on_first_day = in_first_month && d == first_day;
        for (int h = on_first_day ? minute_of_day / 60 : 0; h < 24; ++h) {
          if (!hours_[static_cast<size_t>(h)]) continue;
          for (int mi = on_first_day && h == minute_of_day / 60 ? minute_of_day % 60 : 0; mi < 60; ++mi) {
            if (!minutes_[static_cast<size_t>(mi)]) continue;
            const int64_t day_number = sys_days(std::chrono::year(y) / month(m) / d).time_since_epoch().count();
            return day_number * kMinutesPerDay + h * 60 + mi;
          }
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<SystemTime> CronSchedule::next_after(SystemTime after) const {
  if (never_fires_) return std::nullopt;
  const int64_t local_seconds = zone_.to_local(after).time_since_epoch().count();
  int64_t from = floor_div(local_seconds, 60) + 1;
  // Wall-clock times at or before the local time of `after` cannot fire after it; later ones can
  // still fire earlier than `after` (a second occurrence of a repeated hour), so walk on until one
  // does. A gap or overlap spans at most two days of minutes.
  constexpr int kMaxCandidates = 4 * static_cast<int>(kMinutesPerDay);
  for (int i = 0; i < kMaxCandidates; ++i) {
    const std::optional<int64_t> match = next_match(from);
    if (!match) return std::nullopt;
    const LocalTimeMapping mapping = zone_.to_utc(std::chrono::local_seconds(std::chrono::minutes(*match)));
    const bool fires = mapping.kind != LocalTimeKind::skipped || !skips_missing_times_;
    if (fires && mapping.earliest > after) return mapping.earliest;
    from = *match + 1;
  }
  return std::nullopt;
}

}  // namespace fnd::eventing
