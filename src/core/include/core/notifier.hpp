// Wakes coroutines waiting for "something changed" (a free slot, a new log line).
//
// Not thread safe: use from the io_context's thread only. Waiters re-check their condition
// after waking; a notification never carries data.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <list>

namespace fnd {

class Notifier {
 public:
  // true = notified (or cancelled), false = the deadline passed first.
  boost::asio::awaitable<bool> wait_until(std::chrono::steady_clock::time_point deadline) {
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::steady_timer timer(executor, deadline);
    auto it = waiters_.insert(waiters_.end(), &timer);
    auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    waiters_.erase(it);
    co_return static_cast<bool>(ec);
  }

  void notify_all() {
    for (auto* timer : waiters_) timer->cancel();
  }

  size_t waiting() const { return waiters_.size(); }

 private:
  std::list<boost::asio::steady_timer*> waiters_;
};

}  // namespace fnd
