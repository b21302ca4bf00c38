#include "eventing/sleeper.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>

#include "core/time.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// A clock that stands still: what TimerSleeper waits for is then fixed by the test.
class FixedClock final : public fnd::Clock {
 public:
  fnd::SteadyTime now() const override { return fnd::SteadyTime(1000s); }
};

}  // namespace

TEST_CASE("a TimerSleeper returns at once for a deadline already past", "[unit][dispatch]") {
  FixedClock clock;
  fnd::eventing::TimerSleeper sleeper(clock);
  asio::io_context io;
  int woke = 0;
  for (const auto deadline : {clock.now() - 1s, clock.now()}) {
    asio::co_spawn(
        io,
        [&, deadline]() -> asio::awaitable<void> {
          co_await sleeper.sleep_until(deadline);
          ++woke;
        },
        asio::detached);
  }
  // run() returns only once no handler and no timer is left: nothing waited.
  io.run();
  CHECK(woke == 2);
}

TEST_CASE("wake_all ends every sleep under way", "[unit][dispatch]") {
  FixedClock clock;
  fnd::eventing::TimerSleeper sleeper(clock);
  asio::io_context io;
  int woke = 0;
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await sleeper.sleep_until(clock.now() + 1h);
          ++woke;
        },
        asio::detached);
  }
  while (io.poll() > 0) {
  }
  CHECK(woke == 0);  // all three wait for their hour
  sleeper.wake_all();
  io.run();  // returns: the timers are cancelled, not expired
  CHECK(woke == 3);
  // A later sleep is not affected by the earlier wake_all.
  bool later = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await sleeper.sleep_until(clock.now() + 1h);
        later = true;
      },
      asio::detached);
  io.restart();
  while (io.poll() > 0) {
  }
  CHECK_FALSE(later);
  sleeper.wake_all();
  io.run();
  CHECK(later);
}
