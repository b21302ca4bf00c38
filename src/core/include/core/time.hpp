// Time: wall-clock formatting and an injectable clock for code whose behaviour depends on time.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fnd {

using SystemTime = std::chrono::system_clock::time_point;
using SteadyTime = std::chrono::steady_clock::time_point;

// "2026-11-25T14:03:07.123Z" (UTC, millisecond precision).
std::string format_rfc3339(SystemTime t);
// Parses RFC 3339 ("2026-11-25T14:03:07Z", optional fraction, Z or +hh:mm).
std::optional<SystemTime> parse_rfc3339(std::string_view text);

// Injected where time decides behaviour (keep-alive, autoscaling) so tests need no sleeps.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace fnd
