#include <catch2/catch.hpp>

#include "scheduler/keep_alive_policy.hpp"

using namespace std::chrono_literals;
using fnd::scheduler::KeepAlivePolicy;

namespace {
// Invokes every `gap` (plus a little jitter), `count` times.
void invoke_periodically(KeepAlivePolicy& policy, fnd::SteadyTime& now, std::chrono::milliseconds gap, int count) {
  for (int i = 0; i < count; ++i) {
    now += gap + std::chrono::milliseconds(i % 3 * 1000);
    policy.record_invocation(now);
  }
}
}  // namespace

TEST_CASE("too little history falls back to the configured keep-alive", "[unit]") {
  KeepAlivePolicy policy(5min);
  fnd::SteadyTime now{};
  invoke_periodically(policy, now, 10min, 5);
  auto w = policy.windows();
  CHECK_FALSE(w.from_history);
  CHECK(w.keep_alive == 5min);
  CHECK(w.prewarm == 0ms);
  CHECK_THAT(w.reason, Catch::Contains("needed"));
}

TEST_CASE("a periodic function is pre-warmed just before its next call", "[unit]") {
  KeepAlivePolicy policy(10min);
  fnd::SteadyTime now{};
  invoke_periodically(policy, now, 30min, 40);
  auto w = policy.windows();
  REQUIRE(w.from_history);
  // Idle times all fall in the 30-minute bin: pre-warm a little before 30 min, keep until after 31.
  CHECK(w.prewarm == 27min);
  CHECK(w.prewarm + w.keep_alive >= 31min);
  CHECK(w.prewarm + w.keep_alive <= 35min);
}

TEST_CASE("frequent calls keep the instance alive without pre-warming", "[unit]") {
  KeepAlivePolicy policy(10min);
  fnd::SteadyTime now{};
  invoke_periodically(policy, now, 5s, 100);
  auto w = policy.windows();
  REQUIRE(w.from_history);
  CHECK(w.prewarm == 0ms);
  CHECK(w.keep_alive >= 1min);
  CHECK(w.keep_alive < 10min);
}

TEST_CASE("the configured keep-alive caps the one from history", "[unit]") {
  KeepAlivePolicy policy(1s);
  fnd::SteadyTime now{};
  invoke_periodically(policy, now, 5s, 100);
  auto w = policy.windows();
  REQUIRE(w.from_history);
  CHECK(w.keep_alive == 1s);
}

TEST_CASE("spread-out idle times fall back to the configured keep-alive", "[unit]") {
  KeepAlivePolicy policy(5min);
  fnd::SteadyTime now{};
  for (int i = 0; i < 240; ++i) {  // one idle time in every minute bin
    now += std::chrono::minutes(i) + 10s;
    policy.record_invocation(now);
  }
  auto w = policy.windows();
  CHECK_FALSE(w.from_history);
  CHECK(w.keep_alive == 5min);
  CHECK_THAT(w.reason, Catch::Contains("spread"));
}

TEST_CASE("idle limits: configured keep-alive without history, short after use with a pre-warm window", "[unit]") {
  using namespace std::chrono_literals;
  using fnd::scheduler::idle_limits;
  using fnd::scheduler::KeepAliveWindows;
  auto configured = std::chrono::milliseconds(10min);

  auto plain = idle_limits(KeepAliveWindows{0ms, 2min, false, ""}, configured);
  CHECK(plain.after_use == configured);
  CHECK(plain.prewarmed == configured);

  auto no_prewarm = idle_limits(KeepAliveWindows{0ms, std::chrono::milliseconds(3min), true, ""}, configured);
  CHECK(no_prewarm.after_use == std::chrono::milliseconds(3min));

  auto prewarm = idle_limits(KeepAliveWindows{std::chrono::milliseconds(25min), std::chrono::milliseconds(4min), true, ""}, configured);
  CHECK(prewarm.after_use == std::chrono::milliseconds(1s));
  CHECK(prewarm.prewarmed == std::chrono::milliseconds(4min));
}
