#include "gateway/http_server.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

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
         ec == asio::error::broken_pipe;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// After an error answer to a request whose body was not read: stop sending, then read and drop
// what the client still sends for a moment, so that its unread data does not turn our close into
// a reset that destroys the answer before the client reads it.
asio::awaitable<void> linger(TimedSocket& stream) {
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.expires_after(kLingerTime);
  std::array<char, 16384> sink;
  uint64_t total = 0;
  while (total < kLingerBytes) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    total += n;
  }
}

}  // namespace

HttpServer::HttpServer(asio::any_io_executor executor, const GatewayOptions& options, RequestHandler& handler)
    : executor_(executor), options_(options), handler_(handler), acceptor_(executor) {
  max_connections_ = options_.max_connections > 0 ? options_.max_connections : default_max_connections();
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

HttpServer::~HttpServer() {
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

Status HttpServer::listen() {
  auto where = config::parse_listen_address(options_.listen);
  if (!where) return where.error();
  host_ = where->host;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host_, ec);
  if (ec) return make_error("invalid_listen", fmt::format("cannot listen on '{}': not an IP address", host_));
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
  return {};
}

void HttpServer::start() { asio::co_spawn(executor_, accept_loop(), asio::detached); }

size_t HttpServer::shed_waiting_connections() {
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
    int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) break;
    refuse(fd, kAnswer);
    ::close(fd);
  }
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return shed;
}

asio::awaitable<void> HttpServer::accept_loop() {
  asio::steady_timer pause(executor_);
  std::chrono::milliseconds backoff{0};
  const std::string over_capacity =
      refusal("too_many_connections", fmt::format("fnd already has {} connections open, its limit "
                                                  "(limits.max_connections); retry later", max_connections_));
  while (!draining_) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (draining_ || ec == asio::error::operation_aborted) break;
      if (ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system ||
          ec == asio::error::no_buffer_space || ec == asio::error::no_memory) {
        // The listening socket stays readable while the backlog is full, so accepting again at
        // once would fail at once: shed one waiting client and back off.
        size_t shed = shed_waiting_connections();
        backoff = std::clamp(backoff * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
        spdlog::warn("accept: {} ({} connections open, {} waiting ones refused); pausing accepts for {} ms",
                     ec.message(), sessions_.size(), shed, backoff.count());
        pause.expires_after(backoff);
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      } else {
        spdlog::warn("accept: {}", ec.message());
      }
      continue;
    }
    backoff = {};
    set_close_on_exec(socket.native_handle());
    if (sessions_.size() >= max_connections_) {
      spdlog::warn("refused a connection: {} connections open, the limit (limits.max_connections)", sessions_.size());
      refuse(socket.native_handle(), over_capacity);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(executor_, serve(std::move(socket), next_session_++), asio::detached);
  }
}

asio::awaitable<void> HttpServer::serve(tcp::socket socket, uint64_t id) {
  boost::system::error_code address_ec;
  auto peer = socket.remote_endpoint(address_ec);
  std::string client_address = address_ec ? std::string() : peer.address().to_string();
  TimedSocket stream(std::move(socket));
  Session& session = sessions_[id];
  session.stream = &stream;
  beast::flat_buffer buffer;
  bool first_request = true;
  while (!draining_) {
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
    bool keep_alive = co_await handler_.handle(request, stream, client_address);
    if (!keep_alive) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
  sessions_.erase(id);
  session_closed_.notify_all();
}

asio::awaitable<void> HttpServer::drain(std::chrono::steady_clock::time_point deadline) {
  draining_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
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
