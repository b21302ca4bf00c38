#include "eventing/sleeper.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "core/time.hpp"

namespace fnd::eventing {

namespace asio = boost::asio;

asio::awaitable<void> TimerSleeper::sleep_until(SteadyTime deadline) {
  const auto remaining = deadline - clock_.now();
  if (remaining <= SteadyTime::duration::zero()) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(remaining);
  const auto registered = timers_.insert(timers_.end(), &timer);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  timers_.erase(registered);
}

void TimerSleeper::wake_all() {
  for (asio::steady_timer* timer : timers_) timer->cancel();
}

}  // namespace fnd::eventing
