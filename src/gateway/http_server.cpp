#include "gateway/http_server.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "gateway/responses.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

HttpServer::HttpServer(asio::any_io_executor executor, HttpServerOptions options, RequestHandler& handler)
    : executor_(executor), options_(std::move(options)), handler_(handler), acceptor_(executor) {}

Status HttpServer::listen() {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options_.host, ec);
  if (ec) return make_error("invalid_listen", fmt::format("cannot listen on '{}': not an IP address", options_.host));
  tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::string hint = ec == asio::error::address_in_use ? "another process uses that port: stop it or choose another with --listen"
                       : ec == asio::error::access_denied ? "ports below 1024 need root or CAP_NET_BIND_SERVICE"
                                                          : "check the listen address";
    return make_error("listen_failed", fmt::format("cannot listen on {}:{}: {} ({})", options_.host, options_.port, ec.message(), hint));
  }
  port_ = acceptor_.local_endpoint().port();
  return {};
}

void HttpServer::start() { asio::co_spawn(executor_, accept_loop(), asio::detached); }

asio::awaitable<void> HttpServer::accept_loop() {
  while (!draining_) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (draining_ || ec == asio::error::operation_aborted) break;
      spdlog::warn("accept: {}", ec.message());
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
  beast::tcp_stream stream(std::move(socket));
  Session& session = sessions_[id];
  session.stream = &stream;
  beast::flat_buffer buffer;
  while (!draining_) {
    session.busy = false;
    http::request_parser<http::string_body> parser;
    parser.header_limit(options_.header_limit);
    stream.expires_after(options_.idle_timeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == http::error::header_limit) {
        co_await write_error(stream, make_error("headers_too_large", "request headers are larger than 64KiB", 431), 11, false);
      } else if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != asio::error::operation_aborted &&
                 ec != asio::error::connection_reset && ec != asio::error::eof) {
        co_await write_error(stream, make_error("bad_request", fmt::format("malformed HTTP request: {}", ec.message()), 400), 11, false);
      }
      break;
    }
    session.busy = true;
    const auto& header = parser.get();
    uint64_t limit = handler_.body_limit(header);
    if (parser.content_length() && *parser.content_length() > limit) {
      co_await write_error(stream, handler_.body_too_large(header, *parser.content_length()), header.version(), false);
      break;
    }
    parser.body_limit(limit);
    if (header[http::field::expect] == "100-continue") {
      http::response<http::empty_body> cont(http::status::continue_, header.version());
      co_await http::async_write(stream, cont, asio::as_tuple(asio::use_awaitable));
    }
    stream.expires_after(options_.read_timeout);
    auto [body_ec, body_n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (body_ec) {
      if (body_ec == http::error::body_limit) {
        co_await write_error(stream, handler_.body_too_large(header, 0), header.version(), false);
      }
      break;
    }
    stream.expires_never();
    bool keep_alive = co_await handler_.handle(parser.release(), stream, client_address);
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
  for (auto& [id, session] : sessions_) session.stream->socket().close(ec);
  auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!sessions_.empty() && std::chrono::steady_clock::now() < grace) co_await session_closed_.wait_until(grace);
}

}  // namespace fnd::gateway
