// IANA time zones read from the system's compiled zoneinfo (TZif) files, because GCC 12's
// libstdc++ has no std::chrono time-zone database. Cron triggers use it to turn wall-clock
// schedules into instants.
//
// A TimeZone holds the whole zone in memory: load() reads the file once and every conversion
// afterwards is pure computation (no file system, no global state such as TZ or localtime_r).
// TZif versions 1 to 4 are understood (the 64-bit block of v2+). Instants after the file's last
// transition follow its POSIX TZ footer ("CET-1CEST,M3.5.0,M10.5.0/3"), which is all that Debian's
// "slim" files carry for recent and future years. Zones that count leap seconds ("right/...")
// are refused.
//
// Instants are SystemTime, so the usable range is that of std::chrono::system_clock on Linux
// (years 1678 to 2261); conversions saturate outside it. Local times are whole seconds:
// to_local() drops the sub-second part of an instant.
//
// Thread safety: a TimeZone is immutable; copies share the loaded data and may be used from any
// thread at once.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.hpp"
#include "core/time.hpp"

namespace fnd::eventing {

// The name is malformed ("../x", "/etc/localtime", "Europe/Berlin;") or names no zone. HTTP 400.
inline constexpr std::string_view kInvalidTimeZone = "invalid_time_zone";
// The zone's file exists but cannot be read or is damaged: a host problem (reinstall tzdata). HTTP 500.
inline constexpr std::string_view kTimeZoneDataUnavailable = "time_zone_data_unavailable";

bool is_invalid_time_zone(const Error& error);
bool is_time_zone_data_unavailable(const Error& error);

inline constexpr std::string_view kSystemZoneinfoDir = "/usr/share/zoneinfo";

// What a zone says at one instant.
struct ZoneOffset {
  std::chrono::seconds utc_offset{0};  // local wall clock = UTC + utc_offset
  bool is_dst = false;                 // as the zone data says (Europe/Dublin's winter GMT is DST)
  std::string abbreviation;            // "CEST", "EST", "+0530"
};

enum class LocalTimeKind {
  unique,    // the wall-clock time occurs exactly once
  skipped,   // it does not exist: the clocks jumped over it (spring forward)
  repeated,  // it occurs twice: the clocks were turned back over it (fall back)
};

// The instants a wall-clock time maps to.
struct LocalTimeMapping {
  LocalTimeKind kind = LocalTimeKind::unique;
  // unique: the instant. repeated: the first occurrence. skipped: the first instant after the gap
  // (the moment the clocks jumped, e.g. 03:00 CEST for 02:30 on Berlin's spring-forward day).
  SystemTime earliest;
  // repeated: the second occurrence; otherwise the same as `earliest`.
  SystemTime latest;
};

class TimeZone {
 public:
  // Reads `<zoneinfo_dir>/<name>`. `name` is an IANA name such as "Europe/Berlin"; names with "..",
  // a leading '/', empty components or characters outside [A-Za-z0-9_+-/] are refused without
  // touching the file system. "UTC" is built in and needs no file.
  // Errors: kInvalidTimeZone (400) for a malformed or unknown name or a file that is not TZif;
  // kTimeZoneDataUnavailable (500) for an unreadable or damaged file. Blocks on file I/O.
  static Result<TimeZone> load(std::string_view name,
                               const std::filesystem::path& zoneinfo_dir = std::filesystem::path(kSystemZoneinfoDir));
  // Parses TZif bytes already in memory (tests, embedded data); `name` is only recorded.
  static Result<TimeZone> from_tzif(std::string name, std::string_view tzif);
  static TimeZone utc();

  const std::string& name() const;

  ZoneOffset offset_at(SystemTime instant) const;
  // The wall-clock time at `instant` (sub-second part dropped).
  std::chrono::local_seconds to_local(SystemTime instant) const;
  // Where a wall-clock time falls: once, never (a gap) or twice (an overlap).
  LocalTimeMapping to_utc(std::chrono::local_seconds local) const;

 private:
  class Data;  // the parsed zone, defined in time_zone.cpp
  explicit TimeZone(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;  // never null
};

}  // namespace fnd::eventing
