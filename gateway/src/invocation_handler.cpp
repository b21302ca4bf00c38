#include "gateway/invocation_handler.hpp"

#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <fmt/format.h>
#include <span>

#include "client_stream.hpp"
#include "core/trace_context.hpp"
#include "eventing/async_invocations.hpp"
#include "scheduler/invoker.hpp"
#include "gateway/responses.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// Resolves when the client closes or resets its connection (or when cancelled).
asio::awaitable<void> watch_for_hangup(ClientStream& client) {
  auto& socket = client.socket();
  while (true) {
    auto [ec] = co_await socket.async_wait(asio::socket_base::wait_read, asio::as_tuple(asio::use_awaitable));
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

// Writes a function's answer to the client: its fields as they came, with framing of our own
// (Content-Length when the function gave one, else chunked for HTTP/1.1 clients, else the end of
// the connection marks the end of the body).
class ClientSink final : public scheduler::ResponseSink {
 public:
  ClientSink(ClientStream& client, unsigned version, bool keep_alive, std::chrono::milliseconds timeout)
      : client_(client), version_(version), keep_alive_(keep_alive), timeout_(timeout) {}

  // Not a coroutine itself: the head is built at once and send() is the only frame.
  asio::awaitable<bool> begin(const scheduler::ResponseHead& head, std::string_view body, bool last) override {
    auto out = std::back_inserter(head_);
    fmt::format_to(out, "HTTP/1.{} {} {}\r\n", version_ == 10 ? 0 : 1, head.status,
                   head.reason.empty() ? std::string_view(http::obsolete_reason(static_cast<http::status>(head.status)))
                                       : head.reason);
    for (const auto& field : head.headers) {
      append(field.name);
      append(": ");
      append(field.value);
      append("\r\n");
    }
    if (head.content_length) {
      fmt::format_to(out, "Content-Length: {}\r\n", *head.content_length);
    } else if (!head.has_body) {
    } else if (version_ >= 11) {
      chunked_ = true;
      append("Transfer-Encoding: chunked\r\n");
    } else {
      keep_alive_ = false;  // the body ends with the connection
    }
    if (version_ >= 11 && !keep_alive_) append("Connection: close\r\n");
    if (version_ == 10 && keep_alive_) append("Connection: keep-alive\r\n");
    append("\r\n");
    client_.expires_after(timeout_);
    return send(std::string_view(head_.data(), head_.size()), body, last);
  }

  asio::awaitable<bool> more(std::string_view body, bool last) override { return send({}, body, last); }

  bool keep_alive() const { return keep_alive_ && done_; }

 private:
  void append(std::string_view text) { head_.append(text.data(), text.data() + text.size()); }

  // One write for whatever goes out now: the head (first time), the chunk framing and the body.
  asio::awaitable<bool> send(std::string_view head, std::string_view body, bool last) {
    std::array<asio::const_buffer, 5> parts;
    size_t n = 0;
    if (!head.empty()) parts[n++] = asio::buffer(head);
    char size_line[24];
    if (chunked_ && !body.empty()) {
      auto end = fmt::format_to(size_line, "{:x}\r\n", body.size());
      parts[n++] = asio::buffer(size_line, static_cast<size_t>(end - size_line));
    }
    if (!body.empty()) parts[n++] = asio::buffer(body);
    if (chunked_ && !body.empty()) parts[n++] = asio::buffer("\r\n", 2);
    if (chunked_ && last) parts[n++] = asio::buffer("0\r\n\r\n", 5);
    if (n == 0) {
      done_ = last;
      co_return true;
    }
    auto ec = co_await write_all(client_, std::span<const asio::const_buffer>(parts.data(), n));
    if (ec) co_return false;
    if (last) {
      done_ = true;
      client_.expires_never();
    }
    co_return true;
  }

  ClientStream& client_;
  unsigned version_;
  bool keep_alive_;
  std::chrono::milliseconds timeout_;
  bool chunked_ = false;
  bool done_ = false;
  // Kept inline: a usual head needs no allocation.
  fmt::basic_memory_buffer<char, 1024> head_;
};

}  // namespace

asio::awaitable<bool> InvocationHandler::invoke(Request& request, std::string_view function_target, ClientStream& client,
                                                const Connection& connection) {
  const size_t end = function_target.find_first_of("/?");
  // "pricing@canary": the function and the revision its traffic tag (or "r4") names.
  const scheduler::FunctionSelector selected = scheduler::split_function_selector(function_target.substr(0, end));
  const std::string_view name = selected.name;
  std::string_view rest = end == std::string_view::npos ? std::string_view() : function_target.substr(end);
  // The function always sees an absolute path: "NAME" and "NAME?x" become "/" and "/?x".
  std::string rooted;
  std::string_view target = rest;
  if (rest.empty() || rest.front() == '?') target = rooted.append("/").append(rest);
  const unsigned version = request.version();
  const bool client_keep_alive = request.keep_alive();

  auto admitted = admit(request, name, connection);
  if (!admitted) co_return co_await write_error(client, admitted.error(), version, client_keep_alive);
  const bool drop_authorization = *admitted;
  const auto received = std::chrono::steady_clock::now();
  std::optional<TraceContext> incoming;
  boost::container::small_vector<scheduler::HeaderField, 24> fields;
  for (const auto& field : request) {
    if (drop_authorization && field.name() == http::field::authorization) continue;
    if (beast::iequals(field.name_string(), kTraceParent)) {
      incoming = TraceContext::parse(field.value());
      continue;
    }
    fields.push_back({field.name_string(), field.value()});
  }
  // This hop's span: the function sees the client's trace (or a new one) with our span as parent.
  const TraceContext trace = TraceContext::hop(incoming, random_);
  fields.push_back({kTraceParent, trace.field()});
  scheduler::InvocationRequest call{request.method_string(),
                                    target,
                                    fields,
                                    request.body(),
                                    connection.client_address,
                                    {},
                                    [&client]() { return watch_for_hangup(client); },
                                    selected.revision};
  // The write timeout covers the whole answer: a client that reads nothing for that long is gone.
  ClientSink sink(client, version, client_keep_alive, std::chrono::seconds(90));
  scheduler::InvocationOutcome outcome = co_await invoker_.invoke(name, call, sink);
  if (access_log_ && access_log_->enabled()) {
    const unsigned status = outcome.answered ? outcome.status
                            : outcome.error  ? static_cast<unsigned>(outcome.error->http_status)
                                             : 499;
    access_log_->write({"gateway", request.method_string(), request.target(), name, {}, status,
                        std::chrono::steady_clock::now() - received, trace.trace_id(), trace.span_id()});
  }
  if (outcome.error) co_return co_await write_error(client, *outcome.error, version, client_keep_alive);
  if (!outcome.answered) co_return false;  // the client hung up while it waited
  // Cut short (the function or the client failed mid-answer): close, so the client sees it.
  co_return outcome.complete && sink.keep_alive();
}

Result<bool> InvocationHandler::admit(const Request& request, std::string_view name, const Connection& connection) {
  // A function deployed with access: token answers token holders only, and never sees the token.
  auto revision = directory_.find(name);
  if (revision && !revision->spec.is_public) {
    return make_error(std::string(kFunctionNotPublic),
                      fmt::format("function '{}' is internal (public: false): it is not reachable from the gateway, "
                                  "only from other functions through the mesh ($FN_MESH_URL/fn/{})",
                                  name, name),
                      403);
  }
  if (!revision || revision->spec.access != config::Access::token) return false;
  auto principal = access_.authenticate(request, connection, std::chrono::system_clock::now());
  if (!principal) return principal.error();
  if (Status allowed = access_.authorize(*principal, Permission::invoke_functions, name); !allowed) return allowed.error();
  return true;
}

asio::awaitable<bool> InvocationHandler::invoke_async(Request& request, std::string_view function_target,
                                                      ClientStream& client, const Connection& connection) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  const size_t end = function_target.find_first_of("/?");
  const std::string name(function_target.substr(0, end));
  std::string target = end == std::string_view::npos ? std::string() : std::string(function_target.substr(end));
  if (target.empty() || target.front() == '?') target.insert(0, "/");
  if (async_ == nullptr) {
    co_return co_await write_error(client, make_error("not_found", "asynchronous invocation is not available", 404),
                                   version, keep_alive);
  }
  if (request.method() != http::verb::post) {
    co_return co_await write_error(client, make_error("method_not_allowed", "use POST /async-function/NAME", 405),
                                   version, keep_alive);
  }
  if (!directory_.find(name)) {
    co_return co_await write_error(client, make_error(std::string(scheduler::kFunctionNotFound),
                                                      fmt::format("no function named '{}'", name), 404),
                                   version, keep_alive);
  }
  if (auto admitted = admit(request, name, connection); !admitted) {
    co_return co_await write_error(client, admitted.error(), version, keep_alive);
  }
  eventing::AsyncRequest call;
  call.function = name;
  call.target = std::move(target);
  call.content_type = std::string(request[http::field::content_type]);
  call.callback_url = std::string(request["X-Callback-Url"]);
  if (!call.callback_url.empty() && !call.callback_url.starts_with("http://") && !call.callback_url.starts_with("https://")) {
    co_return co_await write_error(client, make_error("invalid_callback", "X-Callback-Url must be an http:// or https:// URL",
                                                      400),
                                   version, keep_alive);
  }
  call.body = std::move(request.body());
  auto submitted = co_await async_->submit(std::move(call));
  if (!submitted) co_return co_await write_error(client, submitted.error(), version, keep_alive);
  json::object out{{"id", *submitted}, {"status", "queued"}};
  HeaderFields headers;  // named: no braced list may live across a co_await (GCC 12)
  headers.emplace_back("X-Invocation-Id", *submitted);
  co_return co_await write_json(client, 202, out, version, keep_alive, headers);
}

}  // namespace fnd::gateway
