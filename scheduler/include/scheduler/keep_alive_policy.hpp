// Per-function keep-alive and pre-warm windows from the function's own invocation history: the
// hybrid histogram policy of "Serverless in the Wild" (Shahrad et al., USENIX ATC 2020).
// Idle times between invocations go into a histogram of 1-minute bins over 4 hours. When it is
// representative (enough samples, bin counts concentrated: coefficient of variation >= 2), the
// pre-warm window is its 5th percentile (minus 10%) and the keep-alive window reaches its 99th
// percentile (plus 10%), capped by the configured keep-alive; otherwise the configured keep-alive
// applies and nothing is pre-warmed.
//
// Pure logic over an injected time. Not thread safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/time.hpp"

namespace fnd::scheduler {

struct KeepAliveWindows {
  std::chrono::milliseconds prewarm{0};     // after an invocation, wait this long, then start an instance
  std::chrono::milliseconds keep_alive{0};  // keep an idle (or pre-warmed) instance this long
  bool from_history = false;
  std::string reason;  // why these windows: for describe
};

// How long an idle instance may stay: after its last use, and (when it was started ahead of an
// expected call and not used yet) after it started. With a pre-warm window an instance is let go
// soon after use and started again just before the next call is expected.
struct IdleLimits {
  std::chrono::milliseconds after_use{0};
  std::chrono::milliseconds prewarmed{0};
};
IdleLimits idle_limits(const KeepAliveWindows& windows, std::chrono::milliseconds configured_keep_alive);

class KeepAlivePolicy {
 public:
  static constexpr std::chrono::minutes kBinWidth{1};
  static constexpr size_t kBins = 240;  // 4 hours
  static constexpr uint32_t kMinSamples = 10;
  static constexpr double kMinCoefficientOfVariation = 2.0;

  explicit KeepAlivePolicy(std::chrono::milliseconds configured_keep_alive) : configured_(configured_keep_alive) {}

  void record_invocation(SteadyTime now);
  KeepAliveWindows windows() const;
  uint32_t samples() const { return samples_; }
  uint32_t out_of_range() const { return out_of_range_; }
  std::optional<SteadyTime> last_invocation() const { return last_invocation_; }

 private:
  std::chrono::milliseconds configured_;
  std::optional<SteadyTime> last_invocation_;
  std::array<uint32_t, kBins> bins_{};
  uint32_t samples_ = 0;
  uint32_t out_of_range_ = 0;  // idle times longer than the histogram covers
};

}  // namespace fnd::scheduler
