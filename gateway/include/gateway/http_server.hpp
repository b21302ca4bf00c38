// The HTTP/1.1 listener: accepts connections, reads requests with header/body limits and
// timeouts, hands each to a RequestHandler, and drains gracefully on shutdown.
//
// It answers `Expect` itself (100 Continue before reading a body, 417 for any other
// expectation), caps open connections (503 beyond the cap), and backs off when the process runs
// out of file descriptors instead of spinning on accept.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "core/error.hpp"
#include "core/notifier.hpp"
#include "core/timed_socket.hpp"
#include "gateway/options.hpp"

namespace fnd::gateway {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // The largest body accepted for a request with this header (413 above it).
  virtual uint64_t body_limit(const boost::beast::http::request_header<>& header) const = 0;
  // The 413 error for a body over that limit (`size` 0 when unknown, e.g. chunked).
  virtual Error body_too_large(const boost::beast::http::request_header<>& header, uint64_t size) const = 0;
  // Writes the whole response to `client`; returns whether the connection may serve another request.
  // `request` and `client_address` (the peer's IP, read once per connection) stay valid until the
  // returned awaitable completes.
  virtual boost::asio::awaitable<bool> handle(Request& request, TimedSocket& client,
                                              std::string_view client_address) = 0;
};


class HttpServer {
 public:
  HttpServer(boost::asio::any_io_executor executor, const GatewayOptions& options, RequestHandler& handler);
  ~HttpServer();

  // Binds and listens on options.listen; the error says what to do when the port is taken.
  Status listen();
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  void start();
  // Stops accepting, lets requests in progress finish until `deadline`, then closes everything.
  boost::asio::awaitable<void> drain(std::chrono::steady_clock::time_point deadline);
  size_t open_connections() const { return sessions_.size(); }
  uint32_t max_connections() const { return max_connections_; }

 private:
  struct Session {
    TimedSocket* stream = nullptr;
    bool busy = false;
  };
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket, uint64_t id);
  // Out of descriptors: closes the reserve descriptor to accept the waiting connections and close
  // each with a 503, so that clients see an answer instead of hanging in the backlog.
  size_t shed_waiting_connections();

  boost::asio::any_io_executor executor_;
  GatewayOptions options_;
  std::string host_;
  RequestHandler& handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  uint32_t max_connections_ = 0;
  int reserve_fd_ = -1;
  bool draining_ = false;
  uint64_t next_session_ = 0;
  std::map<uint64_t, Session> sessions_;
  Notifier session_closed_;
};

}  // namespace fnd::gateway
