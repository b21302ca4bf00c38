// Waiting for a time of an injected fnd::Clock from a coroutine, so that code which waits (retry
// backoff, Retry-After) can be tested on a manual clock without sleeping: the test's Sleeper
// returns when the test moves its clock.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <list>

#include "core/time.hpp"

namespace fnd::eventing {

class Sleeper {
 public:
  virtual ~Sleeper() = default;

  // Suspends the calling coroutine until the clock reads `deadline` or later, or until
  // wake_all(). It may also return early: callers re-check the clock (and whatever else they
  // wait for) and sleep again, so a wake-up never needs to say why it happened.
  virtual boost::asio::awaitable<void> sleep_until(SteadyTime deadline) = 0;
  // Makes every sleep under way return now (a dispatcher's stop() uses it).
  virtual void wake_all() = 0;
};

// The real one: an asio steady_timer per sleep, set to `deadline - clock.now()` on the clock the
// dispatcher reads (give both the same clock). Not thread safe: use it from one io thread (the
// coroutines that sleep and the caller of wake_all() all run there). `clock` must outlive it.
class TimerSleeper final : public Sleeper {
 public:
  explicit TimerSleeper(const Clock& clock) : clock_(clock) {}
  boost::asio::awaitable<void> sleep_until(SteadyTime deadline) override;
  void wake_all() override;

 private:
  const Clock& clock_;
  std::list<boost::asio::steady_timer*> timers_;  // the sleeps under way, each on its coroutine's frame
};

}  // namespace fnd::eventing
