// The HTTP/1.1 listener: accepts connections on TCP (plain, or TLS when a certificate is
// configured) and on the local management socket, reads requests with header/body limits and
// timeouts, hands each to a RequestHandler with what is known of the connection, and drains
// gracefully on shutdown.
//
// It answers `Expect` itself (100 Continue before reading a body, 417 for any other
// expectation), caps open connections (503 beyond the cap), and backs off when the process runs
// out of file descriptors instead of spinning on accept.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/notifier.hpp"
#include "gateway/options.hpp"

namespace boost::asio::ssl {
class context;
}

namespace fnd::gateway {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

class ClientStream;  // gateway/src/client_stream.hpp: the connection handlers write to

// Who is at the other end of a local-socket connection (SO_PEERCRED, SO_PEERGROUPS).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
};

// What the server knows of a connection, fixed when it was accepted.
struct Connection {
  enum class Transport { tcp, tls, local };
  Transport transport = Transport::tcp;
  std::string client_address;         // the peer's IP (tcp, tls); empty for local
  std::optional<PeerCredentials> peer;  // local only
};

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // The largest body accepted for a request with this header (413 above it).
  virtual uint64_t body_limit(const boost::beast::http::request_header<>& header) const = 0;
  // The 413 error for a body over that limit (`size` 0 when unknown, e.g. chunked).
  virtual Error body_too_large(const boost::beast::http::request_header<>& header, uint64_t size) const = 0;
  // Writes the whole response to `client`; returns whether the connection may serve another request.
  // `request` and `connection` stay valid until the returned awaitable completes.
  virtual boost::asio::awaitable<bool> handle(Request& request, ClientStream& client, const Connection& connection) = 0;
};

class HttpServer {
 public:
  HttpServer(boost::asio::any_io_executor executor, const GatewayOptions& options, RequestHandler& handler);
  ~HttpServer();

  // Binds and listens on options.listen (with TLS when options.tls_cert is set) and on
  // options.api_socket (when not empty). Errors say what to do: the port is taken, the
  // certificate cannot be read, plain HTTP on a public address without allow_insecure_http.
  Status listen();
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  bool tls() const { return tls_context_ != nullptr; }
  void start();
  // Loads the certificate and key again (SIGHUP): new connections use them, open ones keep the
  // old. On error the old ones stay in use and the error says why.
  Status reload_tls();
  // Stops accepting, lets requests in progress finish until `deadline`, then closes everything.
  boost::asio::awaitable<void> drain(std::chrono::steady_clock::time_point deadline);
  size_t open_connections() const { return sessions_.size(); }
  uint32_t max_connections() const { return max_connections_; }

 private:
  struct Session {
    ClientStream* stream = nullptr;
    bool busy = false;
  };
  boost::asio::awaitable<void> accept_tcp();
  boost::asio::awaitable<void> accept_local();
  boost::asio::awaitable<void> serve(std::unique_ptr<ClientStream> stream, Connection connection, uint64_t id);
  Status listen_local();
  // Whether a new connection may be served (under max_connections); answers 503 itself if not.
  bool admit(int fd);
  // Out of descriptors: closes the reserve descriptor to accept the waiting connections and close
  // each with a 503, so that clients see an answer instead of hanging in the backlog.
  size_t shed_waiting_connections(int listener_fd);
  // Pauses accepting after an accept error; true to go on, false to stop.
  boost::asio::awaitable<bool> after_accept_error(const boost::system::error_code& ec, int listener_fd,
                                                  std::chrono::milliseconds& backoff);

  boost::asio::any_io_executor executor_;
  GatewayOptions options_;
  std::string host_;
  RequestHandler& handler_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::local::stream_protocol::acceptor local_acceptor_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  uint16_t port_ = 0;
  uint32_t max_connections_ = 0;
  int reserve_fd_ = -1;
  bool draining_ = false;
  uint64_t next_session_ = 0;
  std::map<uint64_t, Session> sessions_;
  Notifier session_closed_;
};

}  // namespace fnd::gateway
