#include "core/access_log.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <string>

namespace fnd {

void AccessLog::write(const AccessRecord& r) {
  if (!enabled_) return;
  auto or_dash = [](std::string_view text) { return text.empty() ? std::string_view("-") : text; };
  // Targets are the client's bytes: quoted, so that a space in one cannot forge a field.
  fmt::memory_buffer line;
  fmt::format_to(std::back_inserter(line),
                 "[{:%Y-%m-%d %H:%M:%S}] access hop={} method={} target=\"{}\" function={} caller={} status={} "
                 "duration_ms={:.3f} trace_id={} span_id={}\n",
                 fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())), r.hop, r.method,
                 r.target, or_dash(r.function), or_dash(r.caller), r.status,
                 std::chrono::duration<double, std::milli>(r.duration).count(), or_dash(r.trace_id),
                 or_dash(r.span_id));
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace fnd
