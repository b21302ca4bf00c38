#include <catch2/catch.hpp>

#include "scheduler/autoscaler.hpp"

using namespace std::chrono_literals;
using fnd::scheduler::Autoscaler;
using fnd::scheduler::AutoscalerSettings;
using fnd::scheduler::ScalingMode;

namespace {

// Feeds `demand` once a second for `duration` and returns the last decision.
struct Run {
  Autoscaler scaler;
  fnd::SteadyTime now{};
  uint32_t ready = 0;

  explicit Run(AutoscalerSettings s) : scaler(s) {}
  fnd::scheduler::ScalingDecision feed(double demand, std::chrono::seconds duration) {
    fnd::scheduler::ScalingDecision d;
    for (auto t = 0s; t < duration; t += 1s) {
      now += 1s;
      scaler.record(now, demand);
      d = scaler.decide(now, ready);
      ready = d.desired;  // instances come up at once in this model
    }
    return d;
  }
};

AutoscalerSettings settings(double target, uint32_t max) {
  AutoscalerSettings s;
  s.target = target;
  s.max_scale = max;
  return s;
}

}  // namespace

TEST_CASE("steady demand gives demand / target instances", "[unit]") {
  Run run(settings(10, 100));
  auto d = run.feed(35, 90s);
  CHECK(d.desired == 4);
  CHECK(d.mode == ScalingMode::stable);
  CHECK(d.stable_demand == Approx(35));
}

TEST_CASE("no demand scales to min, and max caps the scale", "[unit]") {
  auto s = settings(1, 5);
  s.min_scale = 1;
  Run run(s);
  CHECK(run.feed(0, 70s).desired == 1);
  CHECK(run.feed(50, 70s).desired == 5);
}

TEST_CASE("a burst panics and scales on the short window", "[unit]") {
  Run run(settings(1, 100));
  run.feed(1, 60s);
  REQUIRE(run.ready == 1);
  // Demand jumps to 20: the stable average moves slowly, the panic window at once.
  auto d = run.feed(20, 3s);
  CHECK(d.mode == ScalingMode::panic);
  CHECK(d.desired >= 10);
  CHECK(d.desired > static_cast<uint32_t>(std::ceil(d.stable_demand)));
}

TEST_CASE("panic never scales down and ends after a calm stable window", "[unit]") {
  Run run(settings(1, 100));
  run.feed(1, 60s);
  auto burst = run.feed(30, 6s);
  REQUIRE(burst.mode == ScalingMode::panic);
  auto calm = run.feed(1, 10s);
  CHECK(calm.mode == ScalingMode::panic);
  CHECK(calm.desired >= burst.desired);
  auto later = run.feed(1, 70s);
  CHECK(later.mode == ScalingMode::stable);
  CHECK(later.desired == 1);
}

TEST_CASE("scale-down waits for the delay", "[unit]") {
  auto s = settings(1, 100);
  s.scale_down_delay = 30s;
  s.stable_window = 6s;
  s.panic_window = 6s;
  s.panic_threshold = 1000;  // keep this test in stable mode
  Run run(s);
  REQUIRE(run.feed(8, 10s).desired == 8);
  CHECK(run.feed(0, 20s).desired == 8);   // within the delay: the earlier, higher value holds
  CHECK(run.feed(0, 20s).desired == 0);   // after it: down
}
