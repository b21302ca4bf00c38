#include "eventing/time_zone.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace fnd::eventing {
namespace {

constexpr int64_t kMinTime = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxTime = std::numeric_limits<int64_t>::max();
constexpr int64_t kSecondsPerDay = 86400;
constexpr int32_t kSecondsPerHour = 3600;
// RFC 8536 keeps UT offsets within (-25h, +26h); it bounds the search window of to_utc().
constexpr int64_t kMaxOffsetSeconds = 26 * 3600;
// Local times are clamped to this before arithmetic, so adding offsets cannot overflow.
constexpr int64_t kLocalLimit = int64_t{1} << 60;
// Years the POSIX footer is evaluated for; far enough out that SystemTime's range is covered.
constexpr int64_t kFooterYearLimit = 1'000'000;
// Real TZif files are a few KiB; anything this large is not one.
constexpr int64_t kMaxFileBytes = 1 << 20;
constexpr size_t kMaxNameLength = 255;

// ---- Calendar arithmetic on int64 days (1970-01-01 = day 0), proleptic Gregorian. ----

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

bool is_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int days_in_month(int64_t y, int m) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[static_cast<size_t>(m - 1)];
}

// Days since the epoch of y-m-d, by counting 400-year eras from March 1 (leap day last).
int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = floor_div(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int64_t year_from_days(int64_t z) {
  z += 719468;
  const int64_t era = floor_div(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  return yoe + era * 400 + (month <= 2 ? 1 : 0);
}

// 0 = Sunday; day 0 (1970-01-01) was a Thursday.
int weekday_from_days(int64_t z) { return static_cast<int>(((z % 7) + 11) % 7); }

SystemTime to_system_time(int64_t seconds) {
  constexpr int64_t kLimit = std::chrono::duration_cast<std::chrono::seconds>(SystemTime::duration::max()).count();
  if (seconds >= kLimit) return SystemTime::max();
  if (seconds <= -kLimit) return SystemTime::min();
  return SystemTime(std::chrono::seconds(seconds));
}

int64_t to_seconds(SystemTime t) { return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count(); }

// ---- Zone data ----

struct LocalType {
  int32_t utc_offset = 0;
  bool is_dst = false;
  std::string abbreviation;
};

// A span [begin, end) of UTC seconds during which one local time type applies.
struct Segment {
  int64_t begin;
  int64_t end;
  const LocalType* type;
};

// A date of a POSIX TZ rule: "Jn" (1-365, February 29 never counted), "n" (0-365, counted) or
// "Mm.w.d" (weekday d of week w of month m; week 5 means the last).
struct RuleDate {
  enum class Form { julian_without_leap_day, julian_zero_based, month_week_day };
  Form form = Form::month_week_day;
  int day = 0;
  int month = 0;
  int week = 0;
  int weekday = 0;
  int32_t time = 2 * kSecondsPerHour;  // local time of the change, may be negative or past 24h (TZif v3)

  // The change in local seconds since the epoch, in year `y`.
  int64_t local_seconds_in(int64_t y) const {
    int64_t day_number = 0;
    switch (form) {
      case Form::julian_without_leap_day:
        day_number = days_from_civil(y, 1, 1) + day - 1 + (is_leap(y) && day >= 60 ? 1 : 0);
        break;
      case Form::julian_zero_based:
        day_number = days_from_civil(y, 1, 1) + day;
        break;
      case Form::month_week_day: {
        const int64_t first = days_from_civil(y, month, 1);
        int dom = 1 + (weekday - weekday_from_days(first) + 7) % 7 + 7 * (week - 1);
        while (dom > days_in_month(y, month)) dom -= 7;
        day_number = first + dom - 1;
        break;
      }
    }
    return day_number * kSecondsPerDay + time;
  }
};

// The POSIX TZ string of a TZif footer: the rules after the last transition.
struct PosixRule {
  LocalType standard;
  std::optional<LocalType> daylight;
  RuleDate dst_start;  // given in standard local time
  RuleDate dst_end;    // given in daylight local time

  Segment segment_at(int64_t t) const {
    if (!daylight) return {kMinTime, kMaxTime, &standard};
    struct Change {
      int64_t at;
      bool to_dst;
    };
    const int64_t clamped = std::clamp(t, -kLocalLimit, kLocalLimit);
    const int64_t year = std::clamp(year_from_days(floor_div(clamped + standard.utc_offset, kSecondsPerDay)),
                                    -kFooterYearLimit, kFooterYearLimit);
    // Two years either side: rule times may reach a week into the neighbouring year.
    std::array<Change, 10> changes{};
    size_t n = 0;
    for (int64_t y = year - 2; y <= year + 2; ++y) {
      changes[n++] = {dst_start.local_seconds_in(y) - standard.utc_offset, true};
      changes[n++] = {dst_end.local_seconds_in(y) - daylight->utc_offset, false};
    }
    // At equal instants the end sorts first, so a zone with DST all year ("0/0,J365/25") stays in DST.
    std::sort(changes.begin(), changes.end(),
              [](const Change& a, const Change& b) { return a.at != b.at ? a.at < b.at : a.to_dst < b.to_dst; });
    auto after = std::upper_bound(changes.begin(), changes.end(), t,
                                  [](int64_t value, const Change& c) { return value < c.at; });
    Segment segment{kMinTime, after == changes.end() ? kMaxTime : after->at, &standard};
    if (after != changes.begin()) {
      const Change& current = *(after - 1);
      segment.begin = current.at;
      segment.type = current.to_dst ? &*daylight : &standard;
    } else {
      segment.type = after->to_dst ? &standard : &*daylight;
    }
    return segment;
  }
};

class PosixRuleParser {
 public:
  explicit PosixRuleParser(std::string_view text) : text_(text) {}

  std::optional<PosixRule> parse() {
    PosixRule rule;
    int32_t offset = 0;
    if (!name(rule.standard.abbreviation) || !signed_hms(24, offset)) return std::nullopt;
    rule.standard.utc_offset = -offset;  // POSIX counts west of Greenwich as positive
    if (done()) return rule;
    LocalType daylight{rule.standard.utc_offset + kSecondsPerHour, true, {}};
    if (!name(daylight.abbreviation)) return std::nullopt;
    if (!done() && peek() != ',') {
      if (!signed_hms(24, offset)) return std::nullopt;
      daylight.utc_offset = -offset;
    }
    rule.daylight = std::move(daylight);
    if (done()) {
      // POSIX leaves the dates to the implementation; glibc assumes the US rules.
      rule.dst_start = {RuleDate::Form::month_week_day, 0, 3, 2, 0, 2 * kSecondsPerHour};
      rule.dst_end = {RuleDate::Form::month_week_day, 0, 11, 1, 0, 2 * kSecondsPerHour};
      return rule;
    }
    if (!consume(',') || !date(rule.dst_start) || !consume(',') || !date(rule.dst_end) || !done()) {
      return std::nullopt;
    }
    return rule;
  }

 private:
  bool done() const { return pos_ == text_.size(); }
  char peek() const { return done() ? '\0' : text_[pos_]; }
  bool consume(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  static bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  // "CET" (letters) or "<+0530>" (letters, digits, '+', '-'), at least three characters.
  bool name(std::string& out) {
    const size_t start = pos_;
    if (consume('<')) {
      while (!done() && (is_alpha(peek()) || is_digit(peek()) || peek() == '+' || peek() == '-')) ++pos_;
      out.assign(text_.substr(start + 1, pos_ - start - 1));
      return consume('>') && out.size() >= 3;
    }
    while (!done() && is_alpha(peek())) ++pos_;
    out.assign(text_.substr(start, pos_ - start));
    return out.size() >= 3;
  }

  bool number(int digits_max, int value_max, int& out) {
    int digits = 0;
    out = 0;
    while (!done() && is_digit(peek()) && digits < digits_max) {
      out = out * 10 + (text_[pos_++] - '0');
      ++digits;
    }
    return digits > 0 && out <= value_max;
  }

  // [+-]hh[:mm[:ss]] in seconds.
  bool signed_hms(int max_hours, int32_t& out) {
    const bool negative = consume('-');
    if (!negative) consume('+');
    int hours = 0;
    int minutes = 0;
    int secs = 0;
    if (!number(3, max_hours, hours)) return false;
    if (consume(':')) {
      if (!number(2, 59, minutes)) return false;
      if (consume(':') && !number(2, 59, secs)) return false;
    }
    out = hours * kSecondsPerHour + minutes * 60 + secs;
    if (negative) out = -out;
    return true;
  }

  bool date(RuleDate& out) {
    if (consume('J')) {
      out.form = RuleDate::Form::julian_without_leap_day;
      if (!number(3, 365, out.day) || out.day < 1) return false;
    } else if (consume('M')) {
      out.form = RuleDate::Form::month_week_day;
      if (!number(2, 12, out.month) || out.month < 1 || !consume('.') || !number(1, 5, out.week) || out.week < 1 ||
          !consume('.') || !number(1, 6, out.weekday)) {
        return false;
      }
    } else {
      out.form = RuleDate::Form::julian_zero_based;
      if (!number(3, 365, out.day)) return false;
    }
    out.time = 2 * kSecondsPerHour;
    return !consume('/') || signed_hms(167, out.time);  // up to 167 hours since TZif v3
  }

  std::string_view text_;
  size_t pos_ = 0;
};

struct ZoneRules {
  std::vector<int64_t> transitions;       // UTC seconds, strictly increasing
  std::vector<uint8_t> transition_types;  // index into `types` from each transition on
  std::vector<LocalType> types;           // never empty
  std::optional<PosixRule> footer;        // after the last transition

  Segment segment_at(int64_t t) const {
    if (transitions.empty()) {
      return footer ? footer->segment_at(t) : Segment{kMinTime, kMaxTime, &types[0]};
    }
    // RFC 8536: time type 0 applies before the first transition.
    if (t < transitions.front()) return {kMinTime, transitions.front(), &types[0]};
    const auto next = std::upper_bound(transitions.begin(), transitions.end(), t);
    const auto index = static_cast<size_t>(next - transitions.begin()) - 1;
    if (next != transitions.end()) return {transitions[index], *next, &types[transition_types[index]]};
    if (!footer) return {transitions.back(), kMaxTime, &types[transition_types.back()]};
    Segment segment = footer->segment_at(t);
    segment.begin = std::max(segment.begin, transitions.back());
    return segment;
  }
};

// ---- TZif (RFC 8536) ----

class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}
  bool has(uint64_t n) const { return bytes_.size() - pos_ >= n; }
  uint8_t u8() { return static_cast<uint8_t>(bytes_[pos_++]); }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | u8();
    return v;
  }
  int64_t i64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | u8();
    return static_cast<int64_t>(v);
  }
  std::string_view take(size_t n) {
    auto s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view rest() const { return bytes_.substr(pos_); }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

struct TzifHeader {
  char version = 0;
  uint32_t isutcnt = 0;
  uint32_t isstdcnt = 0;
  uint32_t leapcnt = 0;
  uint32_t timecnt = 0;
  uint32_t typecnt = 0;
  uint32_t charcnt = 0;

  uint64_t block_size(uint64_t time_size) const {
    return uint64_t{timecnt} * time_size + timecnt + uint64_t{typecnt} * 6 + charcnt +
           uint64_t{leapcnt} * (time_size + 4) + isstdcnt + isutcnt;
  }
};

constexpr size_t kTzifHeaderSize = 44;

bool read_header(ByteReader& reader, TzifHeader& header) {
  if (!reader.has(kTzifHeaderSize) || reader.take(4) != "TZif") return false;
  header.version = static_cast<char>(reader.u8());
  reader.take(15);
  header.isutcnt = reader.u32();
  header.isstdcnt = reader.u32();
  header.leapcnt = reader.u32();
  header.timecnt = reader.u32();
  header.typecnt = reader.u32();
  header.charcnt = reader.u32();
  return true;
}

// Why the bytes are not a usable zone; `not_tzif` problems are the caller's (a wrong name),
// the others the host's (damaged data).
struct TzifProblem {
  enum class Kind { not_tzif, leap_seconds, damaged };
  Kind kind;
  std::string detail;
};

std::optional<TzifProblem> parse_block(ByteReader& reader, const TzifHeader& h, int time_size, ZoneRules& out) {
  auto damaged = [](std::string detail) { return TzifProblem{TzifProblem::Kind::damaged, std::move(detail)}; };
  if (!reader.has(h.block_size(static_cast<uint64_t>(time_size)))) return damaged("the data block is truncated");
  if (h.typecnt == 0 || h.typecnt > 256)
    return damaged("it declares " + std::to_string(h.typecnt) + " local time types");
  if (h.charcnt == 0) return damaged("it has no time zone abbreviations");
  if ((h.isstdcnt != 0 && h.isstdcnt != h.typecnt) || (h.isutcnt != 0 && h.isutcnt != h.typecnt)) {
    return damaged("its standard/UT indicator counts do not match its type count");
  }
  if (h.leapcnt != 0) return TzifProblem{TzifProblem::Kind::leap_seconds, {}};

  out.transitions.resize(h.timecnt);
  for (auto& t : out.transitions) t = time_size == 8 ? reader.i64() : static_cast<int32_t>(reader.u32());
  for (size_t i = 1; i < out.transitions.size(); ++i) {
    if (out.transitions[i] <= out.transitions[i - 1]) return damaged("its transition times are out of order");
  }
  out.transition_types.resize(h.timecnt);
  for (auto& type : out.transition_types) {
    type = reader.u8();
    if (type >= h.typecnt) return damaged("a transition names local time type " + std::to_string(type));
  }
  struct RawType {
    int32_t utc_offset;
    uint8_t is_dst;
    uint8_t abbreviation_index;
  };
  std::vector<RawType> raw(h.typecnt);
  for (auto& r : raw) {
    r.utc_offset = static_cast<int32_t>(reader.u32());
    r.is_dst = reader.u8();
    r.abbreviation_index = reader.u8();
  }
  const std::string_view abbreviations = reader.take(h.charcnt);
  for (const auto& r : raw) {
    if (r.utc_offset <= -kMaxOffsetSeconds || r.utc_offset >= kMaxOffsetSeconds) {
      return damaged("a local time type is " + std::to_string(r.utc_offset) + " seconds from UTC");
    }
    if (r.is_dst > 1) return damaged("a local time type has a DST flag of " + std::to_string(r.is_dst));
    if (r.abbreviation_index >= abbreviations.size()) return damaged("an abbreviation index is out of range");
    const auto tail = abbreviations.substr(r.abbreviation_index);
    const auto end = tail.find('\0');
    if (end == std::string_view::npos) return damaged("an abbreviation is not terminated");
    out.types.push_back({r.utc_offset, r.is_dst == 1, std::string(tail.substr(0, end))});
  }
  // The standard/UT indicators only matter to TZ strings that borrow these rules; fnd never does.
  reader.take(h.isstdcnt + h.isutcnt);
  return std::nullopt;
}

std::optional<TzifProblem> parse_tzif(std::string_view bytes, ZoneRules& out) {
  ByteReader reader(bytes);
  TzifHeader header;
  if (!read_header(reader, header)) return TzifProblem{TzifProblem::Kind::not_tzif, {}};
  if (header.version == '\0') return parse_block(reader, header, 4, out);
  if (header.version < '2') {
    return TzifProblem{TzifProblem::Kind::damaged, "its version byte is " + std::to_string(header.version)};
  }
  // Version 2 and later repeat the data with 64-bit times after the 32-bit block, then a footer.
  if (!reader.has(header.block_size(4)))
    return TzifProblem{TzifProblem::Kind::damaged, "the 32-bit block is truncated"};
  reader.take(static_cast<size_t>(header.block_size(4)));
  if (!read_header(reader, header)) return TzifProblem{TzifProblem::Kind::damaged, "the 64-bit header is missing"};
  if (auto problem = parse_block(reader, header, 8, out)) return problem;
  const std::string_view rest = reader.rest();
  const size_t close = rest.size() >= 2 && rest[0] == '\n' ? rest.find('\n', 1) : std::string_view::npos;
  if (close == std::string_view::npos) return TzifProblem{TzifProblem::Kind::damaged, "the footer is missing"};
  const std::string_view footer = rest.substr(1, close - 1);
  if (footer.empty()) return std::nullopt;  // no rule: the last type holds forever
  out.footer = PosixRuleParser(footer).parse();
  if (!out.footer) {
    return TzifProblem{TzifProblem::Kind::damaged, "its footer '" + std::string(footer) + "' is not a POSIX TZ rule"};
  }
  return std::nullopt;
}

Error name_error(std::string_view name, std::string_view problem) {
  return make_error(std::string(kInvalidTimeZone),
                    "time zone '" + std::string(name) + "' " + std::string(problem) +
                        "; names look like Europe/Berlin, America/New_York or UTC",
                    400);
}

std::optional<Error> check_name(std::string_view name) {
  if (name.empty()) return name_error(name, "is empty");
  if (name.size() > kMaxNameLength) return name_error(name.substr(0, 40), "is too long");
  if (name.front() == '/') return name_error(name, "is an absolute path, not a zone name");
  if (name.find("..") != std::string_view::npos) return name_error(name, "contains '..'");
  for (char c : name) {
    const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                         c == '+' || c == '-' || c == '/';
    if (!allowed) return name_error(name, "contains characters other than letters, digits, '_', '+', '-' and '/'");
  }
  if (name.back() == '/' || name.find("//") != std::string_view::npos) return name_error(name, "has an empty part");
  return std::nullopt;
}

struct ScopedFd {
  int fd;
  ~ScopedFd() { ::close(fd); }
};

Error unavailable(const std::string& path, std::string_view what, int errnum) {
  return make_error(std::string(kTimeZoneDataUnavailable),
                    "cannot read time zone file " + path + ": " + std::string(what) + ": " +
                        std::error_code(errnum, std::generic_category()).message() +
                        "; check that the tzdata package is installed",
                    500);
}

}  // namespace

class TimeZone::Data {
 public:
  Data(std::string name, ZoneRules rules) : name_(std::move(name)), rules_(std::move(rules)) {}
  const std::string& name() const { return name_; }
  const ZoneRules& rules() const { return rules_; }

 private:
  std::string name_;
  ZoneRules rules_;
};

bool is_invalid_time_zone(const Error& error) { return error.code == kInvalidTimeZone; }
bool is_time_zone_data_unavailable(const Error& error) { return error.code == kTimeZoneDataUnavailable; }

TimeZone TimeZone::utc() {
  ZoneRules rules;
  rules.types.push_back({0, false, "UTC"});
  return TimeZone(std::make_shared<const Data>("UTC", std::move(rules)));
}

Result<TimeZone> TimeZone::from_tzif(std::string name, std::string_view tzif) {
  ZoneRules rules;
  if (auto problem = parse_tzif(tzif, rules)) {
    switch (problem->kind) {
      case TzifProblem::Kind::not_tzif:
        return name_error(name, "is not a time zone (its data is not in TZif format)");
      case TzifProblem::Kind::leap_seconds:
        return name_error(name, "counts leap seconds, which are not supported (drop the 'right/' prefix)");
      case TzifProblem::Kind::damaged:
        return make_error(
            std::string(kTimeZoneDataUnavailable),
            "the data of time zone '" + name + "' is damaged (" + problem->detail + "); reinstall the tzdata package",
            500);
    }
  }
  return TimeZone(std::make_shared<const Data>(std::move(name), std::move(rules)));
}

Result<TimeZone> TimeZone::load(std::string_view name, const std::filesystem::path& zoneinfo_dir) {
  if (auto error = check_name(name)) return *error;
  if (name == "UTC") return utc();
  const std::string path = (zoneinfo_dir / std::filesystem::path(name)).string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return name_error(name, "does not exist");
    return unavailable(path, "open", errno);
  }
  ScopedFd closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return unavailable(path, "stat", errno);
  if (S_ISDIR(st.st_mode)) return name_error(name, "is a region, not a zone");
  if (!S_ISREG(st.st_mode) || st.st_size > kMaxFileBytes) return name_error(name, "is not a time zone");
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + filled, bytes.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return unavailable(path, "read", errno);
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  bytes.resize(filled);
  return from_tzif(std::string(name), bytes);
}

const std::string& TimeZone::name() const { return data_->name(); }

ZoneOffset TimeZone::offset_at(SystemTime instant) const {
  const LocalType& type = *data_->rules().segment_at(to_seconds(instant)).type;
  return {std::chrono::seconds(type.utc_offset), type.is_dst, type.abbreviation};
}

std::chrono::local_seconds TimeZone::to_local(SystemTime instant) const {
  const int64_t t = to_seconds(instant);
  return std::chrono::local_seconds(std::chrono::seconds(t + data_->rules().segment_at(t).type->utc_offset));
}

LocalTimeMapping TimeZone::to_utc(std::chrono::local_seconds local) const {
  const ZoneRules& rules = data_->rules();
  const int64_t wall = std::clamp<int64_t>(local.time_since_epoch().count(), -kLocalLimit, kLocalLimit);
  // Every instant that shows `wall` lies within the largest offset of it: walk the segments there.
  const int64_t last_candidate = wall + kMaxOffsetSeconds;
  std::optional<int64_t> earliest;
  std::optional<int64_t> latest;
  std::optional<int64_t> gap_end;
  Segment segment = rules.segment_at(wall - kMaxOffsetSeconds);
  std::optional<Segment> previous;
  while (true) {
    const int64_t candidate = wall - segment.type->utc_offset;
    if (candidate >= segment.begin && candidate < segment.end) {
      if (!earliest) earliest = candidate;
      latest = candidate;
    }
    // The clocks jumped from `begin + previous offset` to `begin + offset`, skipping the times between.
    if (previous && !gap_end && segment.begin + previous->type->utc_offset <= wall &&
        wall < segment.begin + segment.type->utc_offset) {
      gap_end = segment.begin;
    }
    if (segment.end == kMaxTime || segment.end > last_candidate) break;
    previous = segment;
    segment = rules.segment_at(segment.end);
  }
  if (earliest) {
    const auto kind = *latest != *earliest ? LocalTimeKind::repeated : LocalTimeKind::unique;
    return {kind, to_system_time(*earliest), to_system_time(*latest)};
  }
  assert(gap_end && "a wall-clock time that never occurs must fall in a gap");
  const SystemTime after_gap = to_system_time(gap_end.value_or(wall - segment.type->utc_offset));
  return {LocalTimeKind::skipped, after_gap, after_gap};
}

}  // namespace fnd::eventing
