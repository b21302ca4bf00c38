#include "mesh/node_endpoint.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/json/object.hpp>
#include <cassert>
#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "core/json.hpp"
#include "core/notifier.hpp"
#include "core/timed_socket.hpp"
#include "core/trace_context.hpp"
#include "eventing/event_router.hpp"
#include "eventing/http_binding.hpp"
#include "mesh/call_policy.hpp"
#include "mesh/service_registry.hpp"
#include "mesh/service_spec.hpp"
#include "mesh_http.hpp"
#include "mesh_route.hpp"
#include "request_counters.hpp"
#include "scheduler/invoker.hpp"
#include "state_api.hpp"
#include "store/state_store.hpp"

namespace fnd::mesh {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace internal {

namespace {

constexpr std::chrono::milliseconds kLingerTime = 2s;
constexpr uint64_t kLingerBytes = 16ULL << 20;

bool caller_went_away(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::timed_out ||
         ec == asio::error::operation_aborted || ec == asio::error::connection_reset || ec == asio::error::eof ||
         ec == asio::error::broken_pipe || ec == asio::error::bad_descriptor;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

void set_close_on_exec(int fd) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

// A connection fnd will not serve gets this with one non-blocking send: small enough for any
// socket buffer, and no session exists to retry.
void refuse(int fd, std::string_view code, std::string_view message) {
  std::string body = error_body(make_error(std::string(code), std::string(message), 503)) + "\n";
  std::string answer = fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nServer: fnd\r\nContent-Type: application/json\r\n"
      "X-Fnd-Error: 1\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{}",
      body.size(), body);
  char sink[16384];
  for (int i = 0; i < 4 && ::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
  (void)::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
}

// After an error answer to a request whose body was not read: stop sending, then read and drop
// what the caller still sends for a moment, so that its unread data does not turn our close into
// a reset that destroys the answer before the caller reads it.
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

// Resolves when the caller closes or resets its connection (or when cancelled).
asio::awaitable<void> watch_for_hangup(TimedSocket& stream) {
  auto& socket = stream.socket();
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

// Writes a function's answer to the calling function: its fields as they came, with framing of
// our own (Content-Length when the function gave one, else chunked for HTTP/1.1 callers, else the
// end of the connection ends the body).
class CallerSink final : public scheduler::ResponseSink {
 public:
  CallerSink(TimedSocket& stream, unsigned version, bool keep_alive, std::chrono::milliseconds timeout)
      : stream_(stream), version_(version), keep_alive_(keep_alive), timeout_(timeout) {}

  asio::awaitable<bool> begin(const scheduler::ResponseHead& head, std::string_view body, bool last) override {
    auto out = std::back_inserter(head_);
    fmt::format_to(out, "HTTP/1.{} {} {}\r\n", version_ == 10 ? 0 : 1, head.status,
                   head.reason.empty() ? std::string_view(http::obsolete_reason(static_cast<http::status>(head.status)))
                                       : head.reason);
    for (const auto& field : head.headers) fmt::format_to(out, "{}: {}\r\n", field.name, field.value);
    if (head.content_length) {
      fmt::format_to(out, "Content-Length: {}\r\n", *head.content_length);
    } else if (!head.has_body) {
    } else if (version_ >= 11) {
      chunked_ = true;
      head_ += "Transfer-Encoding: chunked\r\n";
    } else {
      keep_alive_ = false;  // the body ends with the connection
    }
    if (version_ >= 11 && !keep_alive_) head_ += "Connection: close\r\n";
    if (version_ == 10 && keep_alive_) head_ += "Connection: keep-alive\r\n";
    head_ += "\r\n";
    stream_.expires_after(timeout_);
    return send(head_, body, last);
  }

  asio::awaitable<bool> more(std::string_view body, bool last) override { return send({}, body, last); }

  bool keep_alive() const { return keep_alive_ && done_; }

 private:
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
    auto ec = co_await write_all(stream_, std::span<const asio::const_buffer>(parts.data(), n));
    if (ec) co_return false;
    if (last) {
      done_ = true;
      stream_.expires_never();
    }
    co_return true;
  }

  TimedSocket& stream_;
  unsigned version_;
  bool keep_alive_;
  std::chrono::milliseconds timeout_;
  bool chunked_ = false;
  bool done_ = false;
  std::string head_;
};

// Holds an answer that the call policy may retry (502, 503, 504) instead of passing it on, so
// that a retry leaves no trace with the caller; any other answer goes through at once. A held
// answer that is not retried is passed on with replay().
class RetryingSink final : public scheduler::ResponseSink {
 public:
  static constexpr size_t kMaxHeldBytes = 1 << 20;

  RetryingSink(scheduler::ResponseSink& inner, bool may_hold) : inner_(inner), may_hold_(may_hold) {}

  asio::awaitable<bool> begin(const scheduler::ResponseHead& head, std::string_view body, bool last) override {
    if (!may_hold_ || !is_retryable_status(static_cast<int>(head.status))) {
      passed_ = true;
      return inner_.begin(head, body, last);
    }
    held_ = true;
    status_ = head.status;
    reason_ = std::string(head.reason);
    for (const auto& field : head.headers) fields_.emplace_back(std::string(field.name), std::string(field.value));
    content_length_ = head.content_length;
    has_body_ = head.has_body;
    body_.append(body);
    complete_ = last;
    return hold_more();
  }

  asio::awaitable<bool> more(std::string_view body, bool last) override {
    if (passed_) return inner_.more(body, last);
    body_.append(body);
    complete_ = last;
    return hold_more();
  }

  bool held() const { return held_; }
  unsigned held_status() const { return status_; }

  // Passes the held answer on; returns whether the caller took it.
  asio::awaitable<bool> replay() {
    boost::container::small_vector<scheduler::HeaderField, 24> views;
    for (const auto& [name, value] : fields_) views.push_back({name, value});
    scheduler::ResponseHead head{status_, reason_, views, content_length_, has_body_};
    if (!complete_) head.content_length = body_.size();
    co_return co_await inner_.begin(head, body_, true);
  }

 private:
  asio::awaitable<bool> hold_more() {
    // An error page this large is not worth a retry: stop holding it.
    co_return body_.size() <= kMaxHeldBytes;
  }

  scheduler::ResponseSink& inner_;
  bool may_hold_;
  bool held_ = false;
  bool passed_ = false;
  bool complete_ = false;
  unsigned status_ = 0;
  std::string reason_;
  std::vector<std::pair<std::string, std::string>> fields_;
  std::optional<uint64_t> content_length_;
  bool has_body_ = true;
  std::string body_;
};

// The path of a request target for authorization: without the query, percent-decoded.
std::string path_for_rules(std::string_view target) { return percent_decode(target.substr(0, target.find('?'))); }

Error method_not_allowed(const Request& request, std::string_view allowed) {
  return make_error("method_not_allowed",
                    fmt::format("{} is not allowed on {}; use {}", std::string_view(request.method_string()),
                                std::string_view(request.target()), allowed),
                    405);
}

}  // namespace

class EndpointCore {
 public:
  EndpointCore(NodeEndpoint::Services services, const NodeEndpointOptions& options)
      : executor_(services.executor),
        invoker_(services.invoker),
        events_(services.events),
        options_(options),
        registry_(services.registry),
        state_(services.state, services.executor),
        counters_(std::make_shared<RequestCounters>()),
        access_log_(services.access_log) {
    services.metrics.add_collector([counters = counters_](std::string& out) { counters->render(out); });
  }

  void attach(const std::string& instance_id, const std::string& function, int fd) {
    auto listener = std::make_shared<Listener>(executor_);
    listener->instance_id = instance_id;
    listener->function = function;
    boost::system::error_code ec;
    listener->acceptor.assign(tcp::v4(), fd, ec);
    if (ec) {
      ::close(fd);
      spdlog::error("mesh: cannot serve instance {}: {}", instance_id, ec.message());
      return;
    }
    if (draining_) return;  // closed with the listener
    auto [it, inserted] = listeners_.emplace(instance_id, listener);
    assert(inserted && "an instance is attached once");
    (void)it;
    asio::co_spawn(executor_, accept(std::move(listener)), asio::detached);
  }

  void assign(const std::string& instance_id, const std::string& function) {
    auto it = listeners_.find(instance_id);
    if (it == listeners_.end()) return;
    assert((it->second->function.empty() || it->second->function == function) && "a stem cell serves one function");
    it->second->function = function;
  }

  void detach(const std::string& instance_id) {
    auto it = listeners_.find(instance_id);
    if (it == listeners_.end()) return;
    std::shared_ptr<Listener> listener = std::move(it->second);
    listeners_.erase(it);
    close(*listener);
  }

  asio::awaitable<void> drain(std::chrono::steady_clock::time_point deadline) {
    draining_ = true;
    boost::system::error_code ignored;
    for (auto& [id, listener] : listeners_) {
      listener->acceptor.close(ignored);
      // Idle connections have nothing to finish.
      for (auto& [session_id, session] : listener->sessions) {
        if (!session.busy) session.stream->cancel();
      }
    }
    while (open_connections_ > 0 && std::chrono::steady_clock::now() < deadline) {
      co_await session_closed_.wait_until(deadline);
    }
    for (auto& [id, listener] : listeners_) close(*listener);
    auto grace = std::chrono::steady_clock::now() + 2s;
    while (open_connections_ > 0 && std::chrono::steady_clock::now() < grace)
      co_await session_closed_.wait_until(grace);
  }

  size_t listeners() const { return listeners_.size(); }
  size_t open_connections() const { return open_connections_; }

 private:
  struct Session {
    TimedSocket* stream = nullptr;
    bool busy = false;  // between reading a request head and finishing its answer
  };
  struct Listener {
    explicit Listener(const asio::any_io_executor& executor) : acceptor(executor) {}
    std::string instance_id;
    std::string function;  // empty until a function takes the (stem cell) instance
    tcp::acceptor acceptor;
    std::map<uint64_t, Session> sessions;
    bool closed = false;
  };

  static void close(Listener& listener) {
    listener.closed = true;
    boost::system::error_code ignored;
    listener.acceptor.close(ignored);
    for (auto& [id, session] : listener.sessions) session.stream->close();
  }

  asio::awaitable<void> accept(std::shared_ptr<Listener> listener) {
    std::chrono::milliseconds backoff{0};
    while (!listener->closed && !draining_) {
      auto [ec, socket] = co_await listener->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (listener->closed || draining_ || ec == asio::error::operation_aborted) break;
        // Out of descriptors or memory: the listening socket stays readable, so accepting again
        // at once would fail at once. The connection waits in the backlog meanwhile.
        backoff = std::clamp(backoff * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
        spdlog::warn("mesh: accept in instance {}: {}; pausing its accepts for {} ms", listener->instance_id,
                     ec.message(), backoff.count());
        asio::steady_timer pause(executor_, backoff);
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      backoff = {};
      set_close_on_exec(socket.native_handle());
      if (listener->sessions.size() >= options_.max_connections_per_instance) {
        spdlog::warn("mesh: refused a connection from instance {}: it has {} open (the limit)", listener->instance_id,
                     listener->sessions.size());
        refuse(socket.native_handle(), "too_many_connections",
               fmt::format("this instance already has {} connections open to the mesh endpoint, its limit; reuse "
                           "connections (keep-alive) or retry later",
                           listener->sessions.size()));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(executor_, serve(listener, std::move(socket), next_session_++), asio::detached);
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<Listener> listener, tcp::socket socket, uint64_t id) {
    TimedSocket stream(std::move(socket));
    Session& session = listener->sessions[id];
    session.stream = &stream;
    ++open_connections_;
    beast::flat_buffer buffer;
    bool first_request = true;
    while (!draining_ && !listener->closed && stream.socket().is_open()) {
      session.busy = false;
      http::request_parser<http::string_body> parser;
      parser.header_limit(options_.header_limit);
      // The body limit applies once the head is in; until then the parser's own default (1 MiB)
      // must not judge the Content-Length.
      parser.body_limit(boost::none);
      stream.expires_after(first_request ? options_.header_timeout : options_.idle_timeout);
      auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == http::error::header_limit) {
          co_await write_answer(
              stream,
              error_answer(make_error("headers_too_large",
                                      fmt::format("request headers are larger than {} bytes", options_.header_limit),
                                      431)),
              11, false);
          co_await linger(stream);
        } else if (!caller_went_away(ec)) {
          co_await write_answer(
              stream,
              error_answer(make_error("bad_request", fmt::format("malformed HTTP request: {}", ec.message()), 400)), 11,
              false);
          co_await linger(stream);
        }
        break;
      }
      first_request = false;
      session.busy = true;
      const auto& header = parser.get();
      const unsigned version = header.version();
      bool send_continue = false;
      if (auto expect = header[http::field::expect]; !expect.empty()) {
        if (!equals_ignoring_case(expect, "100-continue")) {
          co_await write_answer(
              stream,
              error_answer(make_error(
                  "expectation_failed",
                  fmt::format("the mesh does not support 'Expect: {}'; only 100-continue is understood", expect), 417)),
              version, false);
          co_await linger(stream);
          break;
        }
        send_continue = version >= 11;
      }
      auto too_large = [&] {
        return error_answer(make_error("body_too_large",
                                       fmt::format("a request body through the mesh may have at most {} "
                                                   "bytes",
                                                   options_.max_body_bytes),
                                       413));
      };
      if (parser.content_length() && *parser.content_length() > options_.max_body_bytes) {
        co_await write_answer(stream, too_large(), version, false);
        co_await linger(stream);
        break;
      }
      parser.body_limit(options_.max_body_bytes);
      boost::system::error_code body_ec;
      if (!parser.is_done()) {
        stream.expires_after(options_.read_timeout);
        if (send_continue) {
          http::response<http::empty_body> proceed(http::status::continue_, version);
          auto [cec, cn] = co_await http::async_write(stream, proceed, asio::as_tuple(asio::use_awaitable));
          if (cec) break;
        }
        std::tie(body_ec, std::ignore) =
            co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      }
      if (body_ec) {
        if (body_ec == http::error::body_limit) {
          co_await write_answer(stream, too_large(), version, false);
          co_await linger(stream);
        } else if (!caller_went_away(body_ec)) {
          co_await write_answer(stream,
                                error_answer(make_error(
                                    "bad_request", fmt::format("malformed request body: {}", body_ec.message()), 400)),
                                version, false);
          co_await linger(stream);
        }
        break;
      }
      stream.expires_never();
      Request request = parser.release();
      // The caller is read per request: a stem cell's first connection may predate its function.
      const std::string caller = listener->function;
      const bool keep_alive = co_await handle(caller, request, stream);
      if (!keep_alive) break;
    }
    stream.close();
    listener->sessions.erase(id);
    --open_connections_;
    session_closed_.notify_all();
  }

  asio::awaitable<bool> handle(const std::string& caller, Request& request, TimedSocket& stream) {
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    if (caller.empty()) {
      counters_->count("-", "-", 503);
      Error e = make_error(std::string(kInstanceNotAssigned),
                           "this instance is a stem cell that no function has taken yet; the mesh serves it once it "
                           "runs a function",
                           503);
      e.retry_after_seconds = 1;
      co_return co_await write_answer(stream, error_answer(e), version, keep_alive);
    }
    MeshRoute route = route_request(request.target(), request[http::field::host]);
    if (request.method() == http::verb::connect) {
      route.kind = RouteKind::bad_request;
      route.message = "the mesh does not tunnel (CONNECT): call functions with plain http:// URLs";
    }
    // Proxy mode names a function or, when no function has that name, a registered service.
    if (route.kind == RouteKind::function && registry_ != nullptr && !registry_->has_function(route.name) &&
        registry_->has_service(route.name)) {
      route.kind = RouteKind::service;
    }
    std::string target_label = "-";
    Answer answer;
    switch (route.kind) {
      case RouteKind::function:
        if (registry_ != nullptr) {
          if (Status allowed =
                  registry_->authorize(caller, route.name, request.method_string(), path_for_rules(route.target));
              !allowed) {
            counters_->count(caller, route.name, 403);
            co_return co_await write_answer(stream, error_answer(allowed.error()), version, keep_alive);
          }
        }
        co_return co_await call_function(caller, route, request, stream);
      case RouteKind::state_key:
      case RouteKind::state_list:
        target_label = "state";
        answer = co_await state_.handle(request, route, caller);
        break;
      case RouteKind::events:
        target_label = "events:" + route.name;
        answer = co_await publish(request, route.name);
        break;
      case RouteKind::service:
        if (registry_ == nullptr) {
          answer = error_answer(make_error(std::string(kNoServiceRegistry),
                                           fmt::format("this fnd has no service registry: the mesh cannot reach "
                                                       "service '{}'; call functions with /fn/NAME/...",
                                                       route.name),
                                           404));
        } else if (!registry_->has_service(route.name)) {
          answer = error_answer(make_error(std::string(kServiceNotFound),
                                           route.name.empty()
                                               ? std::string("name a service: /svc/NAME/...; fnctl service list "
                                                             "shows the registered ones")
                                               : fmt::format("no service named '{}' is registered; register it with "
                                                             "fnctl service register {} --url URL",
                                                             route.name, route.name),
                                           404));
        } else {
          target_label = "svc:" + route.name;
          answer = co_await call_service(caller, route, request);
        }
        break;
      case RouteKind::not_found:
        answer = error_answer(make_error(std::string(kMeshRouteNotFound), route.message, 404));
        break;
      case RouteKind::bad_request:
        answer = error_answer(make_error("bad_request", route.message, 400));
        break;
    }
    counters_->count(caller, target_label, answer.status);
    co_return co_await write_answer(stream, std::move(answer), version, keep_alive);
  }

  asio::awaitable<bool> call_function(const std::string& caller, const MeshRoute& route, Request& request,
                                      TimedSocket& stream) {
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    const auto received = std::chrono::steady_clock::now();
    std::optional<TraceContext> incoming;
    boost::container::small_vector<scheduler::HeaderField, 24> fields;
    for (const auto& field : request) {
      // Identity is the connection's, and Host names the target, not the endpoint.
      if (is_identity_header(field.name_string()) || field.name() == http::field::host) continue;
      if (boost::beast::iequals(field.name_string(), kTraceParent)) {
        incoming = TraceContext::parse(field.value());
        continue;
      }
      fields.push_back({field.name_string(), field.value()});
    }
    // This hop's span: a function that passed on the traceparent it got keeps its trace.
    const TraceContext trace = TraceContext::hop(incoming, random_);
    fields.push_back({kTraceParent, trace.field()});
    fields.push_back({"Host", route.name});
    scheduler::InvocationRequest call{request.method_string(),
                                      route.target,
                                      fields,
                                      request.body(),
                                      {},
                                      caller,
                                      [&stream]() { return watch_for_hangup(stream); },
                                      route.revision};
    CallerSink sink(stream, version, keep_alive, options_.write_timeout);
    std::optional<CallPolicy> policy;
    if (registry_ != nullptr) {
      policy = registry_->effective_policy(route.name);
      registry_->record_function_request(route.name);
      call.timeout = policy->timeout.value;
    }
    scheduler::InvocationOutcome outcome;
    for (uint32_t attempt = 0;; ++attempt) {
      // Only an answer that could be retried is worth holding back.
      const bool may_hold = policy && may_retry(*policy, request.method_string(), 503, attempt);
      RetryingSink holder(sink, may_hold);
      const auto started = std::chrono::steady_clock::now();
      outcome = co_await invoker_.invoke(route.name, call, holder);
      std::optional<int> status;
      if (holder.held()) {
        status = static_cast<int>(holder.held_status());
      } else if (outcome.error) {
        status = outcome.error->http_status;
      }
      if (policy && outcome.answered && !holder.held()) {
        registry_->observe_duration(route.name, std::chrono::steady_clock::now() - started);
      }
      // A held 502/503/504, or no answer at all for such a reason (a crashed instance, no capacity).
      const bool retryable =
          status && is_retryable_status(*status) && (holder.held() || (outcome.error && !outcome.answered));
      if (policy && retryable && may_retry(*policy, request.method_string(), status, attempt) &&
          registry_->try_retry(route.name)) {
        continue;
      }
      if (holder.held()) {
        outcome.complete = co_await holder.replay();
      }
      break;
    }
    const unsigned code = outcome.answered ? outcome.status
                          : outcome.error  ? static_cast<unsigned>(outcome.error->http_status)
                                           : 499;
    const bool unknown = outcome.error && outcome.error->code == scheduler::kFunctionNotFound;
    counters_->count(caller, unknown ? std::string_view("-") : std::string_view(route.name), code);
    if (access_log_ && access_log_->enabled()) {
      access_log_->write({"mesh", request.method_string(), request.target(), route.name, caller, code,
                          std::chrono::steady_clock::now() - received, trace.trace_id(), trace.span_id()});
    }
    if (outcome.error) co_return co_await write_answer(stream, error_answer(*outcome.error), version, keep_alive);
    if (!outcome.answered) co_return false;  // the caller hung up while it waited
    // Cut short (the function or the caller failed mid-answer): close, so the caller sees it.
    co_return outcome.complete&& sink.keep_alive();
  }

  asio::awaitable<Answer> call_service(const std::string& caller, const MeshRoute& route, Request& request) {
    if (Status allowed =
            registry_->authorize(caller, route.name, request.method_string(), path_for_rules(route.target));
        !allowed) {
      co_return error_answer(allowed.error());
    }
    ServiceCall call;
    call.caller = caller;
    call.method = request.method_string();
    call.target = route.target;
    call.body = request.body();
    for (const auto& field : request) {
      if (is_identity_header(field.name_string()) || field.name() == http::field::host) continue;
      call.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    ServiceAnswer answer = co_await registry_->call_service(route.name, call);
    if (answer.error) co_return error_answer(*answer.error);
    Answer out;
    out.status = answer.status;
    out.body = std::move(answer.body);
    out.content_type.clear();
    out.headers = std::move(answer.headers);
    co_return out;
  }

  asio::awaitable<Answer> publish(Request& request, const std::string& broker) {
    if (request.method() != http::verb::post)
      co_return error_answer(method_not_allowed(request, "POST with a CloudEvent"));
    eventing::HttpHeaderFields headers;
    for (const auto& field : request) {
      if (is_identity_header(field.name_string())) continue;
      headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    auto events = eventing::from_http(headers, request.body());
    if (!events) co_return error_answer(events.error());
    // The publishing function's trace goes with its events (the CloudEvents distributed tracing
    // extension) unless an event carries one of its own.
    if (auto trace = TraceContext::parse(request[kTraceParent])) {
      for (auto& event : *events) {
        if (!event.attribute(kTraceParent)) event.set_attribute(std::string(kTraceParent), std::string(trace->field()));
      }
    }
    const size_t count = events->size();
    auto appended = co_await events_.publish(broker, std::move(*events));
    if (!appended) co_return error_answer(appended.error());
    size_t duplicates = 0;
    for (const auto& outcome : *appended) duplicates += outcome.duplicate ? 1 : 0;
    co_return json_answer(202, boost::json::object{{"accepted", count}, {"duplicates", duplicates}});
  }

  asio::any_io_executor executor_;
  scheduler::Invoker& invoker_;
  eventing::EventRouter& events_;
  NodeEndpointOptions options_;
  ServiceRegistry* registry_;
  StateApi state_;
  std::shared_ptr<RequestCounters> counters_;  // shared with the metrics collector, which may outlive us
  AccessLog* access_log_;
  std::mt19937_64 random_{std::random_device{}()};  // span and trace ids
  std::map<std::string, std::shared_ptr<Listener>> listeners_;  // by instance id
  uint64_t next_session_ = 0;
  size_t open_connections_ = 0;
  bool draining_ = false;
  Notifier session_closed_;
};

}  // namespace internal

NodeEndpoint::NodeEndpoint(Services services, NodeEndpointOptions options)
    : options_(std::move(options)), core_(std::make_unique<internal::EndpointCore>(services, options_)) {}

NodeEndpoint::~NodeEndpoint() = default;

void NodeEndpoint::attach(const std::string& instance_id, const std::string& function, int listener) {
  core_->attach(instance_id, function, listener);
}

void NodeEndpoint::assign(const std::string& instance_id, const std::string& function) {
  core_->assign(instance_id, function);
}

void NodeEndpoint::detach(const std::string& instance_id) { core_->detach(instance_id); }

asio::awaitable<void> NodeEndpoint::drain(std::chrono::steady_clock::time_point deadline) {
  co_await core_->drain(deadline);
}

size_t NodeEndpoint::listeners() const { return core_->listeners(); }

size_t NodeEndpoint::open_connections() const { return core_->open_connections(); }

}  // namespace fnd::mesh
