// A stream socket whose operations are cut off at a deadline: once the deadline passes, the
// pending operation completes with an error and the socket is shut down, so every later
// operation fails at once too. It is an AsyncReadStream and AsyncWriteStream (Beast's HTTP reads
// and writes take it), and expired() tells a timeout apart from the peer's own failure.
//
// Why not beast::tcp_stream: it starts and cancels a timer around every read and write. Here
// moving the deadline later, the common case on a kept-alive connection, only stores a time;
// the one timer is re-armed when it fires early or when a deadline moves earlier.
//
// TimedSocket is the TCP one (connections to instances); the gateway's clients use the generic
// stream protocol, so that TCP and Unix-socket connections are served by the same code.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <tuple>
#include <utility>

namespace fnd {

namespace detail {

// The deadline half of a BasicTimedSocket, independent of the protocol: one timer, shared with
// its handler (which may run after the socket is gone), that calls `expire` on the socket.
class SocketDeadline {
 public:
  using clock = std::chrono::steady_clock;
  using ExpireFunction = void (*)(void* socket);

  SocketDeadline(const boost::asio::any_io_executor& executor, void* socket, ExpireFunction expire);
  ~SocketDeadline();
  SocketDeadline(const SocketDeadline&) = delete;
  SocketDeadline& operator=(const SocketDeadline&) = delete;

  void expires_at(clock::time_point deadline);
  void expires_never();
  bool expired() const;
  // A new connection in the same socket: no deadline, not expired.
  void clear();

 private:
  struct Watch;
  static void arm(const std::shared_ptr<Watch>& watch, clock::time_point when);
  std::shared_ptr<Watch> watch_;
};

}  // namespace detail

template <typename Protocol>
class BasicTimedSocket {
 public:
  using executor_type = boost::asio::any_io_executor;
  using socket_type = boost::asio::basic_stream_socket<Protocol, executor_type>;
  using lowest_layer_type = typename socket_type::lowest_layer_type;  // what TLS streams ask for
  using clock = std::chrono::steady_clock;

  explicit BasicTimedSocket(socket_type socket) : socket_(std::move(socket)) {}
  explicit BasicTimedSocket(const executor_type& executor) : socket_(executor) {}
  BasicTimedSocket(const BasicTimedSocket&) = delete;
  BasicTimedSocket& operator=(const BasicTimedSocket&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  socket_type& socket() { return socket_; }
  const socket_type& socket() const { return socket_; }
  lowest_layer_type& lowest_layer() { return socket_.lowest_layer(); }

  // Takes a new connection: no deadline, not expired.
  void reset(socket_type socket) {
    socket_ = std::move(socket);
    deadline_.clear();
  }
  // Gives the connection up (for a pool of idle connections); no deadline stays set.
  socket_type release_socket() {
    deadline_.expires_never();
    return std::move(socket_);
  }

  void expires_after(clock::duration timeout) { deadline_.expires_at(clock::now() + timeout); }
  void expires_at(clock::time_point deadline) { deadline_.expires_at(deadline); }
  void expires_never() { deadline_.expires_never(); }
  // The deadline passed: the socket was shut down and its operations failed.
  bool expired() const { return deadline_.expired(); }

  // Cancels the pending operations (they complete with operation_aborted).
  void cancel() {
    boost::system::error_code ignored;
    socket_.cancel(ignored);
  }
  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
    deadline_.expires_never();
  }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  static void expire(void* socket) {
    auto& s = *static_cast<socket_type*>(socket);
    boost::system::error_code ignored;
    s.cancel(ignored);
    s.shutdown(socket_type::shutdown_both, ignored);
  }

  socket_type socket_;
  detail::SocketDeadline deadline_{socket_.get_executor(), &socket_, &BasicTimedSocket::expire};
};

using TimedSocket = BasicTimedSocket<boost::asio::ip::tcp>;

// Writes all of `buffers` to `stream` (a BasicTimedSocket, or a stream over one); fails with
// timed_out once the deadline passed. (Writing without suspending when the socket takes it all
// at once measured slower: the read that follows then always finds nothing yet and costs an
// extra failing recv, while the trip through the event loop lets the peer's answer arrive first.)
template <typename Stream, typename ConstBuffers>
boost::asio::awaitable<boost::system::error_code> write_all(Stream& stream, const ConstBuffers& buffers) {
  boost::system::error_code ec;
  std::tie(ec, std::ignore) =
      co_await boost::asio::async_write(stream, buffers, boost::asio::as_tuple(boost::asio::use_awaitable));
  if (ec && stream.expired()) ec = boost::asio::error::timed_out;
  co_return ec;
}

}  // namespace fnd
