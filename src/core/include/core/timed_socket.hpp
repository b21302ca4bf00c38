// A TCP socket whose operations are cut off at a deadline: once the deadline passes, the pending
// operation completes with an error and the socket is shut down, so every later operation fails
// at once too. It is an AsyncReadStream and AsyncWriteStream (Beast's HTTP reads and writes take
// it), and expired() tells a timeout apart from the peer's own failure.
//
// Why not beast::tcp_stream: it starts and cancels a timer around every read and write. Here
// moving the deadline later, the common case on a kept-alive connection, only stores a time;
// the one timer is re-armed when it fires early or when a deadline moves earlier.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <tuple>
#include <utility>

namespace fnd {

class TimedSocket {
 public:
  using executor_type = boost::asio::any_io_executor;
  using clock = std::chrono::steady_clock;

  explicit TimedSocket(boost::asio::ip::tcp::socket socket);
  explicit TimedSocket(const executor_type& executor);
  ~TimedSocket();
  TimedSocket(const TimedSocket&) = delete;
  TimedSocket& operator=(const TimedSocket&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  boost::asio::ip::tcp::socket& socket() { return socket_; }
  const boost::asio::ip::tcp::socket& socket() const { return socket_; }

  // Takes a new connection: no deadline, not expired.
  void reset(boost::asio::ip::tcp::socket socket);
  // Gives the connection up (for a pool of idle connections); no deadline stays set.
  boost::asio::ip::tcp::socket release_socket();

  void expires_after(clock::duration timeout) { expires_at(clock::now() + timeout); }
  void expires_at(clock::time_point deadline);
  void expires_never() { watch_->deadline = clock::time_point::max(); }
  // The deadline passed: the socket was shut down and its operations failed.
  bool expired() const { return watch_->expired; }

  // Cancels the pending operations (they complete with operation_aborted).
  void cancel();
  void close();

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  // Shared with the timer's handler, which may run after the TimedSocket is gone.
  struct Watch {
    explicit Watch(const executor_type& executor) : timer(executor) {}
    boost::asio::steady_timer timer;
    boost::asio::ip::tcp::socket* socket = nullptr;  // null once the TimedSocket is gone
    clock::time_point deadline = clock::time_point::max();
    clock::time_point armed = clock::time_point::max();  // when the timer fires; max = not waiting
    bool expired = false;
  };
  static void arm(const std::shared_ptr<Watch>& watch, clock::time_point when);

  boost::asio::ip::tcp::socket socket_;
  std::shared_ptr<Watch> watch_;
};

// Writes all of `buffers`; fails with timed_out once the deadline passed. (Writing without
// suspending when the socket takes it all at once measured slower: the read that follows then
// always finds nothing yet and costs an extra failing recv, while the trip through the event
// loop lets the peer's answer arrive first.)
template <typename ConstBuffers>
boost::asio::awaitable<boost::system::error_code> write_all(TimedSocket& socket, const ConstBuffers& buffers) {
  boost::system::error_code ec;
  std::tie(ec, std::ignore) =
      co_await boost::asio::async_write(socket, buffers, boost::asio::as_tuple(boost::asio::use_awaitable));
  if (ec && socket.expired()) ec = boost::asio::error::timed_out;
  co_return ec;
}

}  // namespace fnd
