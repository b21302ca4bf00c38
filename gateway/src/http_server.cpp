#include "gateway/http_server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "client_stream.hpp"
#include "core/json.hpp"
#include "gateway/responses.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr std::chrono::milliseconds kLingerTime = 2s;
constexpr uint64_t kLingerBytes = 64ULL << 20;

void set_close_on_exec(int fd) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

uint32_t default_max_connections() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 32768;
  return static_cast<uint32_t>(std::max<rlim_t>(limit.rlim_cur / 2, 8));
}

// The answer for a connection fnd will not serve, written with one non-blocking send: it is
// small enough for any socket buffer, and no session exists to retry.
std::string refusal(std::string_view code, std::string_view message) {
  std::string body = error_body(make_error(std::string(code), std::string(message), 503)) + "\n";
  return fmt::format("HTTP/1.1 503 Service Unavailable\r\nServer: fnd\r\nContent-Type: application/json\r\n"
                     "X-Fnd-Error: 1\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{}",
                     body.size(), body);
}

void refuse(int fd, const std::string& answer) {
  // What the client sent already is read first: closing with unread data would reset the
  // connection and could destroy the answer before the client reads it.
  char sink[16384];
  for (int i = 0; i < 4 && ::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
  (void)::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
}

bool client_went_away(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::timed_out ||
         ec == asio::error::operation_aborted || ec == asio::error::connection_reset || ec == asio::error::eof ||
         ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// After an error answer to a request whose body was not read: stop sending, then read and drop
// what the client still sends for a moment, so that its unread data does not turn our close into
// a reset that destroys the answer before the client reads it.
asio::awaitable<void> linger(ClientStream& stream) {
  stream.shutdown_send();
  stream.expires_after(kLingerTime);
  std::array<char, 16384> sink;
  uint64_t total = 0;
  while (total < kLingerBytes) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    total += n;
  }
}

// TLS 1.2 and later only, forward-secret AEAD suites for 1.2 (1.3's are all of that kind).
Result<std::shared_ptr<asio::ssl::context>> make_tls_context(const std::string& cert, const std::string& key) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                       asio::ssl::context::single_dh_use);
  SSL_CTX_set_cipher_list(native, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert, ec);
  if (ec) {
    return make_error("tls_certificate_unreadable", fmt::format("cannot load the TLS certificate chain {} (tls.cert): "
                                                                 "{}; it must be PEM", cert, ec.message()));
  }
  context->use_private_key_file(key, asio::ssl::context::pem, ec);
  if (ec) {
    return make_error("tls_key_unreadable", fmt::format("cannot load the TLS private key {} (tls.key): {}; it must be "
                                                         "an unencrypted PEM key", key, ec.message()));
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return make_error("tls_key_mismatch", fmt::format("the TLS private key {} does not belong to the certificate {}",
                                                       key, cert));
  }
  return context;
}

std::optional<PeerCredentials> peer_credentials(int fd) {
  ucred cred{};
  socklen_t length = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return std::nullopt;
  PeerCredentials peer{cred.pid, cred.uid, cred.gid, {}};
  std::vector<gid_t> groups(64);
  length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0 && errno == ERANGE) {
    groups.resize(length / sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) != 0) length = 0;
  }
  groups.resize(length / sizeof(gid_t));
  peer.groups = std::move(groups);
  return peer;
}

}  // namespace

HttpServer::HttpServer(asio::any_io_executor executor, const GatewayOptions& options, RequestHandler& handler)
    : executor_(executor), options_(options), handler_(handler), acceptor_(executor), local_acceptor_(executor) {
  max_connections_ = options_.max_connections > 0 ? options_.max_connections : default_max_connections();
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

HttpServer::~HttpServer() {
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
  boost::system::error_code ec;
  if (local_acceptor_.is_open()) {
    local_acceptor_.close(ec);
    ::unlink(options_.api_socket.c_str());
  }
}

Status HttpServer::listen() {
  auto where = config::parse_listen_address(options_.listen);
  if (!where) return where.error();
  host_ = where->host;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host_, ec);
  if (ec) return make_error("invalid_listen", fmt::format("cannot listen on '{}': not an IP address", host_));
  if (options_.tls_cert.empty() != options_.tls_key.empty()) {
    return make_error("invalid_tls", "tls.cert and tls.key go together: set both (PEM files) or neither");
  }
  if (!options_.tls_cert.empty()) {
    auto context = make_tls_context(options_.tls_cert, options_.tls_key);
    if (!context) return context.error();
    tls_context_ = std::move(*context);
  } else if (!address.is_loopback() && !options_.allow_insecure_http) {
    return make_error("insecure_listen", fmt::format(
        "refusing to serve plain HTTP on {}, which is not a loopback address: tokens and code would cross the network "
        "in clear. Set tls.cert and tls.key, listen on 127.0.0.1, or set allow_insecure_http: true if that is what you "
        "want", options_.listen));
  }
  tcp::endpoint endpoint(address, where->port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) set_close_on_exec(acceptor_.native_handle());
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::string hint = ec == asio::error::address_in_use ? "another process uses that port: stop it or choose another with --listen"
                       : ec == asio::error::access_denied ? "ports below 1024 need root or CAP_NET_BIND_SERVICE"
                                                          : "check the listen address";
    return make_error("listen_failed", fmt::format("cannot listen on {}: {} ({})", options_.listen, ec.message(), hint));
  }
  port_ = acceptor_.local_endpoint().port();
  return listen_local();
}

Status HttpServer::listen_local() {
  const std::string& path = options_.api_socket;
  if (path.empty()) return {};
  namespace fs = std::filesystem;
  std::error_code fs_ec;
  fs::path dir = fs::path(path).parent_path();
  if (!dir.empty() && !fs::exists(dir, fs_ec)) {
    fs::create_directories(dir, fs_ec);
    if (fs_ec) {
      return make_error("api_socket_failed", fmt::format("cannot create {} for the local API socket: {} (set api.socket "
                                                          "to another path, or \"\" for none)", dir.string(), fs_ec.message()));
    }
    ::chmod(dir.c_str(), 0755);
  }
  boost::system::error_code ec;
  if (fs::is_socket(path, fs_ec)) {
    // A socket left by a fnd that did not stop cleanly, or one another fnd serves right now.
    asio::local::stream_protocol::socket probe(executor_);
    probe.connect(asio::local::stream_protocol::endpoint(path), ec);
    if (!ec) {
      return make_error("api_socket_in_use", fmt::format("another process serves the local API socket {}: stop it, or give "
                                                          "this fnd another path with api.socket", path));
    }
    fs::remove(path, fs_ec);
  }
  asio::local::stream_protocol::endpoint endpoint(path);
  local_acceptor_.open(endpoint.protocol(), ec);
  if (!ec) set_close_on_exec(local_acceptor_.native_handle());
  // The socket is created with no access for others: it is opened up to the admin group only
  // once its owner and mode are set.
  mode_t previous = ::umask(0177);
  if (!ec) local_acceptor_.bind(endpoint, ec);
  ::umask(previous);
  if (!ec) local_acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error("api_socket_failed", fmt::format("cannot listen on the local API socket {}: {} (set api.socket to "
                                                        "another path, or \"\" for none)", path, ec.message()));
  }
  if (group* admins = ::getgrnam(options_.admin_group.c_str())) {
    if (::chown(path.c_str(), 0, admins->gr_gid) == 0) ::chmod(path.c_str(), 0660);
  } else {
    ::chmod(path.c_str(), 0600);  // no such group: root only
  }
  return {};
}

Status HttpServer::reload_tls() {
  if (options_.tls_cert.empty()) return {};
  auto context = make_tls_context(options_.tls_cert, options_.tls_key);
  if (!context) return context.error();
  tls_context_ = std::move(*context);  // open connections hold the old one through their SSL objects
  return {};
}

void HttpServer::start() {
  asio::co_spawn(executor_, accept_tcp(), asio::detached);
  if (local_acceptor_.is_open()) asio::co_spawn(executor_, accept_local(), asio::detached);
}

size_t HttpServer::shed_waiting_connections(int listener_fd) {
  static const std::string kAnswer = refusal("out_of_file_descriptors",
      "fnd has run out of file descriptors and cannot serve this connection; retry later (the operator should "
      "raise LimitNOFILE or lower limits.max_connections)");
  if (reserve_fd_ >= 0) {
    ::close(reserve_fd_);
    reserve_fd_ = -1;
  }
  // Each refused connection frees its descriptor again, so the whole backlog can be answered.
  size_t shed = 0;
  for (; shed < 4096; ++shed) {
    int fd = ::accept4(listener_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) break;
    refuse(fd, kAnswer);
    ::close(fd);
  }
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return shed;
}

asio::awaitable<bool> HttpServer::after_accept_error(const boost::system::error_code& ec, int listener_fd,
                                                     std::chrono::milliseconds& backoff) {
  if (draining_ || ec == asio::error::operation_aborted) co_return false;
  if (ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system ||
      ec == asio::error::no_buffer_space || ec == asio::error::no_memory) {
    // The listening socket stays readable while the backlog is full, so accepting again at
    // once would fail at once: shed the waiting clients and back off.
    size_t shed = shed_waiting_connections(listener_fd);
    backoff = std::clamp(backoff * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
    spdlog::warn("accept: {} ({} connections open, {} waiting ones refused); pausing accepts for {} ms",
                 ec.message(), sessions_.size(), shed, backoff.count());
    asio::steady_timer pause(executor_, backoff);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  } else {
    spdlog::warn("accept: {}", ec.message());
  }
  co_return true;
}

bool HttpServer::admit(int fd) {
  set_close_on_exec(fd);
  if (sessions_.size() < max_connections_) return true;
  static const std::string kAnswer = refusal("too_many_connections",
      "fnd already has as many connections open as its limit (limits.max_connections); retry later");
  spdlog::warn("refused a connection: {} connections open, the limit (limits.max_connections)", sessions_.size());
  refuse(fd, kAnswer);
  return false;
}

asio::awaitable<void> HttpServer::accept_tcp() {
  std::chrono::milliseconds backoff{0};
  while (!draining_) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (!co_await after_accept_error(ec, acceptor_.native_handle(), backoff)) break;
      continue;
    }
    backoff = {};
    if (!admit(socket.native_handle())) continue;
    socket.set_option(tcp::no_delay(true), ec);
    Connection connection;
    auto peer = socket.remote_endpoint(ec);
    if (!ec) connection.client_address = peer.address().to_string();
    auto stream = std::make_unique<ClientStream>(ClientStream::Socket::socket_type(std::move(socket)));
    if (tls_context_) {
      stream->start_tls(*tls_context_);
      connection.transport = Connection::Transport::tls;
    }
    asio::co_spawn(executor_, serve(std::move(stream), std::move(connection), next_session_++), asio::detached);
  }
}

asio::awaitable<void> HttpServer::accept_local() {
  std::chrono::milliseconds backoff{0};
  while (!draining_) {
    auto [ec, socket] = co_await local_acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (!co_await after_accept_error(ec, local_acceptor_.native_handle(), backoff)) break;
      continue;
    }
    backoff = {};
    if (!admit(socket.native_handle())) continue;
    Connection connection;
    connection.transport = Connection::Transport::local;
    connection.peer = peer_credentials(socket.native_handle());
    auto stream = std::make_unique<ClientStream>(ClientStream::Socket::socket_type(std::move(socket)));
    asio::co_spawn(executor_, serve(std::move(stream), std::move(connection), next_session_++), asio::detached);
  }
}

asio::awaitable<void> HttpServer::serve(std::unique_ptr<ClientStream> owned, Connection connection, uint64_t id) {
  ClientStream& stream = *owned;
  Session& session = sessions_[id];
  session.stream = &stream;
  beast::flat_buffer buffer;
  bool first_request = true;
  if (stream.is_tls()) {
    stream.expires_after(options_.header_timeout);
    if (auto ec = co_await stream.handshake()) {
      // Nothing to answer: the client does not speak TLS, or does not trust our certificate.
      spdlog::debug("TLS handshake with {} failed: {}", connection.client_address, ec.message());
      stream.close();
    }
  }
  while (!draining_ && stream.socket().is_open()) {
    session.busy = false;
    http::request_parser<http::string_body> parser;
    parser.header_limit(options_.header_limit);
    // The route's body limit is known only once the header is in; until then the parser must
    // not apply its own default (1 MiB) to the Content-Length.
    parser.body_limit(boost::none);
    // A connection that has not sent a whole first request is held only briefly; between
    // requests on a kept-alive connection the idle timeout applies.
    stream.expires_after(first_request ? options_.header_timeout : options_.idle_timeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == http::error::header_limit) {
        co_await write_error(stream, make_error("headers_too_large", fmt::format("request headers are larger than {} bytes",
                                                                                 options_.header_limit), 431), 11, false);
        co_await linger(stream);
      } else if (!client_went_away(ec)) {
        co_await write_error(stream, make_error("bad_request", fmt::format("malformed HTTP request: {}", ec.message()), 400), 11, false);
        co_await linger(stream);
      }
      break;
    }
    first_request = false;
    session.busy = true;
    const auto& header = parser.get();
    const unsigned version = header.version();

    // RFC 9110 10.1.1: 100-continue is the only expectation; it means nothing in HTTP/1.0.
    bool send_continue = false;
    if (auto expect = header[http::field::expect]; !expect.empty()) {
      if (!equals_ignoring_case(expect, "100-continue")) {
        co_await write_error(stream, make_error("expectation_failed", fmt::format("fnd does not support 'Expect: {}'; "
                                                "only 100-continue is understood, so drop the header", expect), 417),
                             version, false);
        co_await linger(stream);
        break;
      }
      send_continue = version >= 11;
    }
    uint64_t limit = handler_.body_limit(header);
    if (parser.content_length() && *parser.content_length() > limit) {
      co_await write_error(stream, handler_.body_too_large(header, *parser.content_length()), version, false);
      co_await linger(stream);
      break;
    }
    parser.body_limit(limit);
    // A request without a body (most) is complete already: no read, no trip through the loop.
    boost::system::error_code body_ec;
    if (!parser.is_done()) {
      stream.expires_after(options_.read_timeout);
      if (send_continue) {
        http::response<http::empty_body> cont(http::status::continue_, version);
        auto [cec, cn] = co_await http::async_write(stream, cont, asio::as_tuple(asio::use_awaitable));
        if (cec) break;
      }
      std::tie(body_ec, std::ignore) = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    }
    if (body_ec) {
      if (body_ec == http::error::body_limit) {
        co_await write_error(stream, handler_.body_too_large(header, 0), version, false);
        co_await linger(stream);
      } else if (!client_went_away(body_ec)) {
        co_await write_error(stream, make_error("bad_request", fmt::format("malformed request body: {}", body_ec.message()), 400),
                             version, false);
        co_await linger(stream);
      }
      break;
    }
    stream.expires_never();
    Request request = parser.release();
    bool keep_alive = co_await handler_.handle(request, stream, connection);
    if (!keep_alive) break;
  }
  stream.shutdown_send();
  stream.close();
  sessions_.erase(id);
  session_closed_.notify_all();
}

asio::awaitable<void> HttpServer::drain(std::chrono::steady_clock::time_point deadline) {
  draining_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  if (local_acceptor_.is_open()) {
    local_acceptor_.close(ec);
    ::unlink(options_.api_socket.c_str());
  }
  // Idle keep-alive connections have nothing to finish: close them now.
  for (auto& [id, session] : sessions_) {
    if (!session.busy) session.stream->cancel();
  }
  while (!sessions_.empty() && std::chrono::steady_clock::now() < deadline) {
    co_await session_closed_.wait_until(deadline);
  }
  for (auto& [id, session] : sessions_) session.stream->cancel();
  for (auto& [id, session] : sessions_) session.stream->close();
  auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!sessions_.empty() && std::chrono::steady_clock::now() < grace) co_await session_closed_.wait_until(grace);
}

}  // namespace fnd::gateway
