// Concurrency-based autoscaling for one revision, as Knative's KPA does it: demand (requests in
// flight plus requests waiting) is averaged over a stable window and a shorter panic window; the
// desired scale is demand / target per instance. When the panic window's demand reaches
// `panic_threshold` times the current capacity, the autoscaler panics: it scales on the panic
// window and never scales down until the stable window has been calm. Scale-downs wait
// `scale_down_delay` (the highest recommendation within it wins).
//
// Pure logic over an injected time: record() and decide() take `now`, so tests need no sleeps.
// Not thread safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string_view>

#include "core/time.hpp"

namespace fnd::scheduler {

struct AutoscalerSettings {
  double target = 7;                     // soft: requests in flight per instance to aim for
  uint32_t min_scale = 0;
  uint32_t max_scale = 10;
  std::chrono::milliseconds stable_window = std::chrono::seconds(60);
  std::chrono::milliseconds panic_window = std::chrono::seconds(6);
  double panic_threshold = 2.0;          // panic demand / capacity that triggers panic mode
  std::chrono::milliseconds scale_down_delay = std::chrono::seconds(0);
  std::chrono::milliseconds sample_interval = std::chrono::seconds(1);

  bool operator==(const AutoscalerSettings&) const = default;
};

enum class ScalingMode { stable, panic };
std::string_view to_string(ScalingMode mode);

struct ScalingDecision {
  uint32_t desired = 0;
  ScalingMode mode = ScalingMode::stable;
  double stable_demand = 0;  // average over the stable window
  double panic_demand = 0;   // average over the panic window
};

class Autoscaler {
 public:
  explicit Autoscaler(AutoscalerSettings settings) : settings_(settings) {}

  // One observation of demand (in flight + queued) at `now`. Call about every sample_interval.
  void record(SteadyTime now, double demand);
  // The scale to aim for given `ready` instances now.
  ScalingDecision decide(SteadyTime now, uint32_t ready);

  const AutoscalerSettings& settings() const { return settings_; }

 private:
  struct Sample {
    SteadyTime at;
    double demand;
  };
  struct Recommendation {
    SteadyTime at;
    uint32_t desired;
  };
  double average_since(SteadyTime since) const;

  AutoscalerSettings settings_;
  std::deque<Sample> samples_;                 // bounded by the stable window
  std::deque<Recommendation> recommendations_; // bounded by scale_down_delay
  ScalingMode mode_ = ScalingMode::stable;
  SteadyTime panic_started_{};
  uint32_t panic_floor_ = 0;                   // no scale-down below this while panicking
};

}  // namespace fnd::scheduler
