// Time zones: names as the API takes them (cron triggers) and the TZif data they load. An input
// starting with "TZif" is zone data; anything else is a name. A zone that loads gives the same
// offset through offset_at() and to_local(); a real zone maps every instant to a local time that
// maps back to that instant.
#include <fmt/format.h>
#include <string>

#include "eventing/time_zone.hpp"
#include "fuzz_check.hpp"

using namespace fnd::eventing;
using namespace std::chrono_literals;

namespace {

// `real`: a zone of the system's tzdata, whose local times occur at most twice. Fuzzed TZif data
// can make a local time occur three times, which to_utc() does not describe.
void check_zone(const TimeZone& zone, bool real) {
  // Instants around the usual transitions and at the ends of what SystemTime holds.
  for (int64_t seconds : {int64_t{-9'000'000'000}, int64_t{-2'000'000'000}, int64_t{0}, int64_t{1'711'846'800},
                          int64_t{1'729'990'800}, int64_t{1'774'746'000}, int64_t{4'102'444'800}, int64_t{9'000'000'000}}) {
    const fnd::SystemTime instant{std::chrono::seconds(seconds)};
    const ZoneOffset offset = zone.offset_at(instant);
    FND_FUZZ_CHECK(offset.utc_offset <= 26h && offset.utc_offset >= -26h,
                   fmt::format("{}: offset {} s at {}", zone.name(), offset.utc_offset.count(), seconds));
    const auto local = zone.to_local(instant);
    FND_FUZZ_CHECK(local.time_since_epoch() - std::chrono::seconds(seconds) == offset.utc_offset,
                   fmt::format("{}: to_local and offset_at disagree at {}", zone.name(), seconds));
    if (!real) continue;
    const LocalTimeMapping back = zone.to_utc(local);
    FND_FUZZ_CHECK(back.kind != LocalTimeKind::skipped && (back.earliest == instant || back.latest == instant),
                   fmt::format("{}: {} is local {} which maps back to {} / {}", zone.name(), seconds,
                               local.time_since_epoch().count(), back.earliest.time_since_epoch().count(),
                               back.latest.time_since_epoch().count()));
    FND_FUZZ_CHECK(back.earliest <= back.latest, zone.name());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fnd::fuzz::as_text(data, size);
  if (text.starts_with("TZif")) {
    if (auto zone = TimeZone::from_tzif("Fuzz/Zone", text)) check_zone(*zone, false);
    return 0;
  }
  // Names reach the file system only when well formed; most fuzzed names are refused before.
  if (auto zone = TimeZone::load(text)) {
    check_zone(*zone, true);
  } else {
    FND_FUZZ_CHECK(is_invalid_time_zone(zone.error()) || is_time_zone_data_unavailable(zone.error()), zone.error().code);
  }
  return 0;
}
