#include "core/timed_socket.hpp"

#include <boost/asio/error.hpp>

namespace fnd {

namespace asio = boost::asio;

TimedSocket::TimedSocket(asio::ip::tcp::socket socket)
    : socket_(std::move(socket)), watch_(std::make_shared<Watch>(socket_.get_executor())) {
  watch_->socket = &socket_;
}

TimedSocket::TimedSocket(const executor_type& executor)
    : socket_(executor), watch_(std::make_shared<Watch>(executor)) {
  watch_->socket = &socket_;
}

TimedSocket::~TimedSocket() {
  watch_->socket = nullptr;
  watch_->timer.cancel();
}

void TimedSocket::reset(asio::ip::tcp::socket socket) {
  socket_ = std::move(socket);
  watch_->deadline = clock::time_point::max();
  watch_->expired = false;
}

asio::ip::tcp::socket TimedSocket::release_socket() {
  watch_->deadline = clock::time_point::max();
  return std::move(socket_);
}

void TimedSocket::expires_at(clock::time_point deadline) {
  watch_->deadline = deadline;
  // A later deadline waits for the timer already running: it re-arms itself when it fires.
  if (deadline < watch_->armed) arm(watch_, deadline);
}

void TimedSocket::arm(const std::shared_ptr<Watch>& watch, clock::time_point when) {
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
    boost::system::error_code ignored;
    watch->socket->cancel(ignored);
    watch->socket->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  });
}

void TimedSocket::cancel() {
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void TimedSocket::close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
  watch_->deadline = clock::time_point::max();
}

}  // namespace fnd
