// A client's connection as the gateway's handlers see it: TCP, a Unix socket, or TLS over TCP,
// with one deadline (see core/timed_socket.hpp). Reads and writes go through TLS when the
// connection has it; handlers never need to know which it is.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "core/timed_socket.hpp"

namespace fnd::gateway {

class ClientStream {
 public:
  using Socket = BasicTimedSocket<boost::asio::generic::stream_protocol>;
  using executor_type = Socket::executor_type;
  using clock = Socket::clock;

  explicit ClientStream(Socket::socket_type socket) : socket_(std::move(socket)) {}
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;

  // Puts TLS (server side) over the connection; handshake() must then complete before any read.
  void start_tls(boost::asio::ssl::context& context) {
    tls_ = std::make_unique<boost::asio::ssl::stream<Socket&>>(socket_, context);
  }
  bool is_tls() const { return tls_ != nullptr; }
  boost::asio::awaitable<boost::system::error_code> handshake();

  executor_type get_executor() { return socket_.get_executor(); }
  Socket::socket_type& socket() { return socket_.socket(); }

  void expires_after(clock::duration timeout) { socket_.expires_after(timeout); }
  void expires_at(clock::time_point deadline) { socket_.expires_at(deadline); }
  void expires_never() { socket_.expires_never(); }
  bool expired() const { return socket_.expired(); }
  void cancel() { socket_.cancel(); }
  void close() { socket_.close(); }
  // Stops sending (FIN after what was written). Over TLS the close_notify is not awaited: the
  // client has the whole answer by then, and waiting on a slow peer would hold the session.
  void shutdown_send() {
    boost::system::error_code ignored;
    socket_.socket().shutdown(Socket::socket_type::shutdown_send, ignored);
  }

  // Both branches return the same type: void for a completion handler, the same awaitable for a
  // use_awaitable token.
  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return socket_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Token>(token));
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  Socket socket_;
  std::unique_ptr<boost::asio::ssl::stream<Socket&>> tls_;
};

}  // namespace fnd::gateway
