#include "core/timed_socket.hpp"

#include <boost/asio/steady_timer.hpp>

namespace fnd::detail {

namespace asio = boost::asio;

struct SocketDeadline::Watch {
  explicit Watch(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;
  void* socket = nullptr;  // null once the socket is gone
  ExpireFunction expire = nullptr;
  clock::time_point deadline = clock::time_point::max();
  clock::time_point armed = clock::time_point::max();  // when the timer fires; max = not waiting
  bool expired = false;
};

SocketDeadline::SocketDeadline(const asio::any_io_executor& executor, void* socket, ExpireFunction expire)
    : watch_(std::make_shared<Watch>(executor)) {
  watch_->socket = socket;
  watch_->expire = expire;
}

SocketDeadline::~SocketDeadline() {
  watch_->socket = nullptr;
  watch_->timer.cancel();
}

void SocketDeadline::expires_at(clock::time_point deadline) {
  watch_->deadline = deadline;
  // A later deadline waits for the timer already running: it re-arms itself when it fires.
  if (deadline < watch_->armed) arm(watch_, deadline);
}

void SocketDeadline::expires_never() { watch_->deadline = clock::time_point::max(); }

bool SocketDeadline::expired() const { return watch_->expired; }

void SocketDeadline::clear() {
  watch_->deadline = clock::time_point::max();
  watch_->expired = false;
}

void SocketDeadline::arm(const std::shared_ptr<Watch>& watch, clock::time_point when) {
  watch->armed = when;
  watch->timer.expires_at(when);  // a wait already running completes with operation_aborted
  watch->timer.async_wait([watch](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted || !watch->socket) return;
    watch->armed = clock::time_point::max();
    if (watch->deadline == clock::time_point::max()) return;  // re-armed by the next expires_at
    if (clock::now() < watch->deadline) {
      arm(watch, watch->deadline);
      return;
    }
    watch->expired = true;
    watch->deadline = clock::time_point::max();
    watch->expire(watch->socket);
  });
}

}  // namespace fnd::detail
