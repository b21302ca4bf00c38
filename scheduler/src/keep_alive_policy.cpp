#include "scheduler/keep_alive_policy.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "core/units.hpp"

namespace fnd::scheduler {

using std::chrono::milliseconds;

IdleLimits idle_limits(const KeepAliveWindows& windows, milliseconds configured_keep_alive) {
  if (!windows.from_history) return {configured_keep_alive, configured_keep_alive};
  constexpr milliseconds kLetGoAfterUse = std::chrono::seconds(1);
  return {windows.prewarm.count() > 0 ? kLetGoAfterUse : windows.keep_alive, windows.keep_alive};
}

void KeepAlivePolicy::record_invocation(SteadyTime now) {
  if (last_invocation_) {
    auto idle = now - *last_invocation_;
    auto bin = static_cast<size_t>(std::chrono::duration_cast<std::chrono::minutes>(idle).count());
    if (bin < kBins) {
      ++bins_[bin];
      ++samples_;
    } else {
      ++out_of_range_;
    }
  }
  last_invocation_ = now;
}

KeepAliveWindows KeepAlivePolicy::windows() const {
  KeepAliveWindows fallback{milliseconds(0), configured_, false, ""};
  if (samples_ < kMinSamples) {
    fallback.reason = fmt::format("configured keep-alive: {} idle times seen, {} needed", samples_, kMinSamples);
    return fallback;
  }
  if (out_of_range_ > samples_) {
    fallback.reason = "configured keep-alive: most idle times are longer than 4h";
    return fallback;
  }
  // Representative only when the counts are concentrated in a few bins.
  double mean = static_cast<double>(samples_) / kBins;
  double variance = 0;
  for (uint32_t count : bins_) variance += (count - mean) * (count - mean);
  double cv = std::sqrt(variance / kBins) / mean;
  if (cv < kMinCoefficientOfVariation) {
    fallback.reason = fmt::format("configured keep-alive: idle times too spread (CV {:.1f} < {:.0f})", cv, kMinCoefficientOfVariation);
    return fallback;
  }
  auto percentile_bin = [&](double p) {
    uint32_t target = static_cast<uint32_t>(std::ceil(p * samples_));
    uint32_t seen = 0;
    for (size_t i = 0; i < kBins; ++i) {
      seen += bins_[i];
      if (seen >= std::max<uint32_t>(target, 1)) return i;
    }
    return kBins - 1;
  };
  // Bin i holds idle times in [i, i+1) minutes: the head uses the bin's start, the tail its end.
  milliseconds head = std::chrono::duration_cast<milliseconds>(kBinWidth * percentile_bin(0.05));
  milliseconds tail = std::chrono::duration_cast<milliseconds>(kBinWidth * (percentile_bin(0.99) + 1));
  milliseconds prewarm = milliseconds(static_cast<int64_t>(static_cast<double>(head.count()) * 0.9));
  // The configured keep-alive caps what an idle instance may cost: history only shortens it or
  // moves it later (pre-warm).
  milliseconds keep_alive =
      std::min(milliseconds(static_cast<int64_t>(static_cast<double>(tail.count()) * 1.1)) - prewarm, configured_);
  return {prewarm, keep_alive, true,
          fmt::format("from {} idle times: pre-warm after {}, keep alive {}", samples_, format_duration(prewarm),
                      format_duration(keep_alive))};
}

}  // namespace fnd::scheduler
