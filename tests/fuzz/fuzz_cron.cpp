// Cron triggers' schedules: the expression and its time zone as the API takes them. The input's
// first line is the expression, an optional second line the IANA zone name. A schedule that parses
// fires at whole local minutes, strictly later each time, never twice at one instant.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <map>
#include <string>

#include "eventing/cron.hpp"
#include "eventing/time_zone.hpp"
#include "fuzz_check.hpp"

using namespace fnd::eventing;
using namespace std::chrono_literals;

namespace {

// Zones read from /usr/share/zoneinfo once per name: the file system is not what is fuzzed here.
const fnd::Result<TimeZone>& zone_named(std::string_view name) {
  static std::map<std::string, fnd::Result<TimeZone>, std::less<>> zones;
  if (auto it = zones.find(name); it != zones.end()) return it->second;
  if (zones.size() > 4096) zones.clear();
  return zones.emplace(std::string(name), TimeZone::load(name)).first->second;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [expression, zone_name] = fnd::fuzz::split_once(fnd::fuzz::as_text(data, size), "\n");
  if (zone_name.empty()) zone_name = "UTC";
  const fnd::Result<TimeZone>& zone = zone_named(zone_name);
  if (!zone) return 0;
  auto schedule = CronSchedule::parse(expression, *zone);
  if (!schedule) {
    FND_FUZZ_CHECK(is_invalid_schedule(schedule.error()) && schedule.error().http_status == 400, schedule.error().message);
    return 0;
  }
  // From a few instants: a DST change in Europe, a leap day, the far future.
  for (fnd::SystemTime from : {fnd::SystemTime(1774746000s), fnd::SystemTime(1709164800s), fnd::SystemTime(7258118400s)}) {
    fnd::SystemTime at = from;
    for (int i = 0; i < 4; ++i) {
      auto next = schedule->next_after(at);
      if (!next) break;
      FND_FUZZ_CHECK(*next > at, fmt::format("'{}' in {}: {} is not after {}", expression, zone_name,
                                             next->time_since_epoch().count(), at.time_since_epoch().count()));
      const auto local = zone->to_local(*next).time_since_epoch();
      FND_FUZZ_CHECK(local.count() % 60 == 0, fmt::format("'{}' in {} fires at a local {} s", expression, zone_name,
                                                          local.count()));
      at = *next;
    }
  }
  return 0;
}
