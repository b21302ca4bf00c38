#include "gateway/invoke_proxy.hpp"

#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "core/units.hpp"
#include "gateway/responses.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;

namespace {

constexpr size_t kRelayBufferBytes = 64 * 1024;
constexpr size_t kMaxSpareRelayBuffers = 256;

bool is_hop_by_hop(http::field field) {
  switch (field) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_authenticate:
    case http::field::proxy_authorization:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
      return true;
    default:
      return false;
  }
}

template <typename From, typename To>
void copy_end_to_end_headers(const From& from, To& to) {
  for (const auto& field : from) {
    if (is_hop_by_hop(field.name())) continue;
    // The gateway answered the client's Expect itself and sends the function the whole body.
    if (field.name() == http::field::content_length || field.name() == http::field::expect) continue;
    to.insert(field.name_string(), field.value());
  }
}

// Why an exchange with an instance failed before its answer began.
Error exchange_failure(const runtime::Instance& instance, std::string_view function, const boost::system::error_code& ec) {
  if (const auto& exit = instance.exit(); exit && !exit->requested) {
    if (exit->out_of_memory) {
      return make_error("function_out_of_memory",
                        fmt::format("function '{}' ran out of memory (limit {}) and was killed; raise resources.memory "
                                    "in its spec", function, format_bytes(instance.memory_limit())), 502);
    }
    return make_error("function_crashed",
                      fmt::format("function '{}' crashed while handling the request: its process {}; see fnctl logs {}",
                                  function, exit->describe(), function), 502);
  }
  return make_error("function_bad_answer",
                    fmt::format("function '{}' closed the connection without a valid HTTP answer ({}); see fnctl logs {}",
                                function, ec.message(), function), 502);
}

}  // namespace

std::unique_ptr<char[]> InvokeProxy::take_relay_buffer() {
  if (spare_relay_buffers_.empty()) return std::unique_ptr<char[]>(new char[kRelayBufferBytes]);
  auto buffer = std::move(spare_relay_buffers_.back());
  spare_relay_buffers_.pop_back();
  return buffer;
}

void InvokeProxy::return_relay_buffer(std::unique_ptr<char[]> buffer) {
  if (spare_relay_buffers_.size() < kMaxSpareRelayBuffers) spare_relay_buffers_.push_back(std::move(buffer));
}

std::unique_ptr<beast::tcp_stream> InvokeProxy::take_stream(asio::ip::tcp::socket socket) {
  if (spare_streams_.empty()) return std::make_unique<beast::tcp_stream>(std::move(socket));
  auto stream = std::move(spare_streams_.back());
  spare_streams_.pop_back();
  stream->socket() = std::move(socket);
  return stream;
}

void InvokeProxy::return_stream(std::unique_ptr<beast::tcp_stream> stream) {
  // Only streams whose exchange finished cleanly come back, without a socket and with no timer set.
  if (spare_streams_.size() < kMaxSpareRelayBuffers) spare_streams_.push_back(std::move(stream));
}

asio::awaitable<Result<scheduler::Lease>> InvokeProxy::wait_for_lease(std::shared_ptr<const store::Revision>& revision,
                                                                      std::string_view name, beast::tcp_stream& client) {
  using asio::experimental::awaitable_operators::operator||;
  using Waited = std::optional<Result<scheduler::Lease>>;
  // A deploy or delete while we wait retires the revision: look the function up again (a delete
  // then answers 404), a bounded number of times.
  for (int lookups = 0; lookups < 3; ++lookups) {
    const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout + revision->spec.timeout;
    auto acquire = [&]() -> asio::awaitable<Waited> { co_return co_await scheduler_.acquire(revision, deadline); };
    // The client may hang up while we wait: the wait is then cancelled, so that nothing is
    // started, queued or evicted for nobody.
    auto outcome = co_await (acquire() || watch_for_hangup(client));
    if (outcome.index() == 1) co_return make_error(std::string(scheduler::kCallerGone), "the client hung up", 499);
    Result<scheduler::Lease> got = std::move(*std::get<0>(outcome));
    if (got || got.error().code != scheduler::kRevisionRetired) co_return got;
    revision = directory_.find(name);
    if (!revision) co_return directory_.unavailable(name);
  }
  co_return make_error("function_changing", fmt::format("function '{}' changed several times while this request waited; "
                                                        "retry", name), 503);
}

asio::awaitable<void> InvokeProxy::watch_for_hangup(beast::tcp_stream& client) {
  auto& socket = client.socket();
  while (true) {
    auto [ec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    char byte;
    ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) co_return;  // closed or reset
    if (n > 0) {
      // A pipelined request is waiting: readable no longer tells a close apart, so wait for the
      // lease alone (this wait ends when it is cancelled).
      asio::steady_timer forever(socket.get_executor(), std::chrono::steady_clock::time_point::max());
      co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return;
    }
  }
}

FunctionMetrics& InvokeProxy::metrics_for(std::string_view function) {
  auto it = metrics_of_.find(function);
  if (it == metrics_of_.end()) it = metrics_of_.emplace(std::string(function), &metrics_.function(function)).first;
  return *it->second;
}

asio::awaitable<bool> InvokeProxy::invoke(Request& request, std::string_view name, std::string target,
                                          beast::tcp_stream& client, std::string_view client_address) {
  const unsigned version = request.version();
  const bool client_keep_alive = request.keep_alive();
  auto revision = directory_.find(name);
  if (!revision) co_return co_await write_error(client, directory_.unavailable(name), version, client_keep_alive);
  const auto timeout = revision->spec.timeout;

  // Counted when this coroutine ends, however it ends; status 0 = nothing was sent.
  struct AnswerRecord {
    FunctionMetrics& metrics;
    std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
    unsigned status = 0;
    ~AnswerRecord() { metrics.answered(status, std::chrono::steady_clock::now() - received); }
  } record{metrics_for(name)};
  // Notes the status, then hands back write_error's awaitable (it is not a coroutine itself).
  auto fail = [&](const Error& error, bool keep_alive) {
    record.status = static_cast<unsigned>(error.http_status);
    return write_error(client, error, version, keep_alive);
  };

  // Warm path first: a free slot right now costs no suspension and no allocation.
  std::optional<scheduler::Lease> lease = scheduler_.try_acquire(revision);
  if (!lease) {
    auto waited = co_await wait_for_lease(revision, name, client);
    if (!waited) {
      if (waited.error().code == scheduler::kCallerGone) co_return false;
      co_return co_await fail(waited.error(), client_keep_alive);
    }
    lease.emplace(std::move(*waited));
  }
  runtime::Instance& instance = lease->instance();
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  boost::system::error_code ec;
  http::request<http::string_body> upstream_request(request.method(), target, 11);
  copy_end_to_end_headers(request, upstream_request);
  if (!client_address.empty()) upstream_request.set("X-Forwarded-For", client_address);
  upstream_request.body() = std::move(request.body());
  upstream_request.keep_alive(true);
  upstream_request.prepare_payload();

  // One retry, only on a reused pooled connection the instance had closed while idle, and only
  // before any byte of the answer came back.
  beast::flat_buffer upstream_buffer;
  std::unique_ptr<beast::tcp_stream> upstream;
  std::optional<http::response_parser<http::buffer_body>> parser;
  for (int attempt = 0; attempt < 2; ++attempt) {
    // No co_await inside ?: here: GCC 12 mishandles the temporaries of a conditional co_await.
    Result<asio::ip::tcp::socket> socket = make_error("connect_failed", "not connected");
    if (attempt == 0) socket = co_await instance.connection();
    else socket = co_await instance.connect();
    if (!socket) {
      lease->recycle();
      co_await instance.wait_for_exit(300ms);
      co_return co_await fail(exchange_failure(instance, name, asio::error::connection_refused), client_keep_alive);
    }
    upstream = take_stream(std::move(*socket));
    spdlog::debug("invoke {}: attempt {} fd {} open {}", name, attempt, upstream->socket().native_handle(), upstream->socket().is_open());
    upstream->expires_at(deadline);
    upstream_buffer.clear();
    parser.emplace();
    parser->body_limit(boost::none);
    if (request.method() == http::verb::head) parser->skip(true);
    // A serializer of our own: async_write(stream, message) would allocate one per request.
    http::request_serializer<http::string_body> request_writer(upstream_request);
    std::tie(ec, std::ignore) = co_await http::async_write(*upstream, request_writer, asio::as_tuple(asio::use_awaitable));
    // Interim answers (100 Continue, 103 Early Hints) are dropped: only the final one is relayed.
    while (!ec) {
      std::tie(ec, std::ignore) = co_await http::async_read_header(*upstream, upstream_buffer, *parser, asio::as_tuple(asio::use_awaitable));
      if (ec || parser->get().result_int() >= 200 || parser->get().result_int() == 101) break;
      parser.emplace();
      parser->body_limit(boost::none);
      if (request.method() == http::verb::head) parser->skip(true);
    }
    spdlog::debug("invoke {}: exchange ec {}", name, ec.message());
    if (!ec || ec == beast::error::timeout) break;
    bool instance_alive = !co_await instance.wait_for_exit(attempt == 0 ? 20ms : 300ms);
    if (!instance_alive || attempt == 1) break;
  }
  if (ec == beast::error::timeout) {
    lease->recycle();
    co_return co_await fail(make_error("function_timeout",
        fmt::format("function '{}' did not answer within {} (its timeout); the instance was recycled. Raise 'timeout' "
                    "in the spec if it needs longer", name, format_duration(timeout)), 504), client_keep_alive);
  }
  if (ec) {
    lease->recycle();
    co_await instance.wait_for_exit(300ms);
    co_return co_await fail(exchange_failure(instance, name, ec), client_keep_alive);
  }

  // Relay the answer: header first, then the body as it arrives.
  auto& upstream_response = parser->get();
  if (upstream_response.result() == http::status::switching_protocols) {
    // Nothing asked for an upgrade (Upgrade is not forwarded), and what follows is not HTTP.
    co_return co_await fail(make_error("function_bad_answer",
        fmt::format("function '{}' answered 101 Switching Protocols, which fnd does not relay; see fnctl logs {}",
                    name, name), 502), client_keep_alive);
  }
  http::response<http::buffer_body> response(upstream_response.result(), version);
  record.status = upstream_response.result_int();
  copy_end_to_end_headers(upstream_response, response);
  bool body_expected = request.method() != http::verb::head && upstream_response.result_int() != 204 &&
                       upstream_response.result_int() != 304 && upstream_response.result_int() >= 200;
  if (auto length = parser->content_length()) {
    response.content_length(*length);
  } else if (body_expected) {
    if (version >= 11) response.chunked(true);
  }
  bool keep_alive = client_keep_alive && (parser->content_length() || version >= 11 || !body_expected);
  response.keep_alive(keep_alive);
  http::response_serializer<http::buffer_body> serializer(response);
  client.expires_after(timeout + 30s);
  std::unique_ptr<char[]> chunk = take_relay_buffer();
  struct ReturnBuffer {
    InvokeProxy* proxy;
    std::unique_ptr<char[]>& buffer;
    ~ReturnBuffer() { proxy->return_relay_buffer(std::move(buffer)); }
  } return_buffer{this, chunk};
  // Each round reads what the function sent and writes it on; the first write carries the header
  // too, so a small answer leaves in one send.
  bool upstream_failed = false;
  while (!serializer.is_done()) {
    if (!parser->is_done()) {
      parser->get().body().data = chunk.get();
      parser->get().body().size = kRelayBufferBytes;
      std::tie(ec, std::ignore) = co_await http::async_read(*upstream, upstream_buffer, *parser, asio::as_tuple(asio::use_awaitable));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        upstream_failed = true;
        break;
      }
      response.body().data = chunk.get();
      response.body().size = kRelayBufferBytes - parser->get().body().size;
      response.body().more = !parser->is_done();
    } else {
      response.body().data = nullptr;
      response.body().size = 0;
      response.body().more = false;
    }
    std::tie(ec, std::ignore) = co_await http::async_write(client, serializer, asio::as_tuple(asio::use_awaitable));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      // The client went away mid-answer: the upstream connection has unread data, so it is dropped
      // (closed with `upstream`) instead of pooled; the instance itself is fine.
      co_return false;
    }
  }
  client.expires_never();
  if (upstream_failed) {
    if (ec == beast::error::timeout) lease->recycle();
    if (!serializer.is_header_done()) {
      // Nothing sent yet: the client can still get a proper error.
      co_await instance.wait_for_exit(300ms);
      Error e = ec == beast::error::timeout
                    ? make_error("function_timeout", fmt::format("function '{}' did not finish its answer within {} (its "
                                                                 "timeout); the instance was recycled", name, format_duration(timeout)), 504)
                    : exchange_failure(instance, name, ec);
      co_return co_await fail(e, false);
    }
    // Too late for an error response: cut the client connection so it sees a truncated answer.
    co_return false;
  }
  // Reused only when the exchange ended exactly at a message boundary: any byte past the answer
  // would otherwise be read as the start of the next client's answer.
  if (parser->keep_alive() && parser->is_done() && upstream_buffer.size() == 0) {
    upstream->expires_never();
    instance.keep_idle_connection(upstream->release_socket());
    return_stream(std::move(upstream));
  }
  co_return keep_alive;
}

}  // namespace fnd::gateway
