#include "scheduler/autoscaler.hpp"

#include <algorithm>
#include <cmath>

namespace fnd::scheduler {

std::string_view to_string(ScalingMode mode) { return mode == ScalingMode::panic ? "panic" : "stable"; }

void Autoscaler::record(SteadyTime now, double demand) {
  samples_.push_back({now, demand});
  while (!samples_.empty() && now - samples_.front().at > settings_.stable_window) samples_.pop_front();
}

double Autoscaler::average_since(SteadyTime since) const {
  double sum = 0;
  size_t n = 0;
  for (auto it = samples_.rbegin(); it != samples_.rend() && it->at > since; ++it) {
    sum += it->demand;
    ++n;
  }
  return n == 0 ? 0 : sum / static_cast<double>(n);
}

ScalingDecision Autoscaler::decide(SteadyTime now, uint32_t ready) {
  ScalingDecision d;
  d.stable_demand = average_since(now - settings_.stable_window);
  d.panic_demand = average_since(now - settings_.panic_window);
  const double target = std::max(settings_.target, 0.01);
  auto instances_for = [&](double demand) { return static_cast<uint32_t>(std::ceil(demand / target - 1e-9)); };
  uint32_t stable_desired = instances_for(d.stable_demand);
  uint32_t panic_desired = instances_for(d.panic_demand);

  // Panic when the short window's demand outruns what the ready instances can take.
  double capacity = std::max<double>(ready, 1) * target;
  bool panic_condition = d.panic_demand / capacity >= settings_.panic_threshold;
  if (panic_condition) {
    if (mode_ == ScalingMode::stable) panic_floor_ = ready;
    mode_ = ScalingMode::panic;
    panic_started_ = now;
  } else if (mode_ == ScalingMode::panic && now - panic_started_ >= settings_.stable_window) {
    mode_ = ScalingMode::stable;
    panic_floor_ = 0;
  }

  uint32_t desired = stable_desired;
  if (mode_ == ScalingMode::panic) {
    desired = std::max({panic_desired, stable_desired, panic_floor_});
    panic_floor_ = desired;  // panic never scales down
  }

  // Scale-down delay: the highest recommendation within the delay window wins.
  recommendations_.push_back({now, desired});
  while (!recommendations_.empty() && now - recommendations_.front().at > settings_.scale_down_delay) {
    recommendations_.pop_front();
  }
  for (const auto& r : recommendations_) desired = std::max(desired, r.desired);

  d.desired = std::clamp(desired, settings_.min_scale, std::max(settings_.min_scale, settings_.max_scale));
  d.mode = mode_;
  return d;
}

}  // namespace fnd::scheduler
