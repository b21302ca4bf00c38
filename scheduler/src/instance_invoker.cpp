#include "instance_invoker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <array>
#include <cctype>
#include <fmt/format.h>

#include "core/units.hpp"
#include "runtime/instance.hpp"

namespace fnd::scheduler {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;

namespace {

constexpr size_t kRelayBufferBytes = 64 * 1024;
constexpr size_t kMaxSpares = 256;

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// Fields that describe one connection or the message's framing, never passed on (RFC 9110 7.6.1);
// Expect is answered by whoever read the request.
bool is_hop_by_hop(std::string_view name) {
  constexpr std::string_view kHopByHop[] = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                                            "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
                                            "content-length", "expect"};
  for (auto hop : kHopByHop) {
    if (equals_ignoring_case(name, hop)) return true;
  }
  return false;
}

// Why an exchange with an instance failed before its answer began.
Error exchange_failure(const runtime::Instance& instance, std::string_view function, const boost::system::error_code& ec) {
  if (const auto& exit = instance.exit(); exit && !exit->requested) {
    if (exit->out_of_memory) {
      return make_error(std::string(kFunctionOutOfMemory),
                        fmt::format("function '{}' ran out of memory (limit {}) and was killed; raise resources.memory "
                                    "in its spec", function, format_bytes(instance.memory_limit())), 502);
    }
    return make_error(std::string(kFunctionCrashed),
                      fmt::format("function '{}' crashed while handling the request: its process {}; see fnctl logs {}",
                                  function, exit->describe(), function), 502);
  }
  return make_error(std::string(kFunctionBadAnswer),
                    fmt::format("function '{}' closed the connection without a valid HTTP answer ({}); see fnctl logs {}",
                                function, ec.message(), function), 502);
}

Error timed_out(std::string_view function, std::chrono::milliseconds timeout, bool during_answer) {
  return make_error(std::string(kFunctionTimeout),
                    during_answer ? fmt::format("function '{}' did not finish its answer within {} (its timeout); the "
                                                "instance was recycled", function, format_duration(timeout))
                                  : fmt::format("function '{}' did not answer within {} (its timeout); the instance was "
                                                "recycled. Raise 'timeout' in the spec if it needs longer",
                                                function, format_duration(timeout)), 504);
}

// The request as the function gets it: the caller's end-to-end fields, X-Forwarded-For, and a
// Content-Length for the (whole) body. Written into `out`, whose capacity is reused.
void serialize_request_head(const InvocationRequest& request, std::string& out) {
  out.clear();
  out.append(request.method).append(" ").append(request.target).append(" HTTP/1.1\r\n");
  for (const auto& field : request.headers) {
    if (is_hop_by_hop(field.name)) continue;
    out.append(field.name).append(": ").append(field.value).append("\r\n");
  }
  if (!request.client_address.empty()) out.append("X-Forwarded-For: ").append(request.client_address).append("\r\n");
  fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n\r\n", request.body.size());
}

}  // namespace

bool is_capacity_error(const Error& error) { return error.retry_after_seconds > 0; }

std::unique_ptr<char[]> InstanceInvoker::take_relay_buffer() {
  if (spare_relay_buffers_.empty()) return std::unique_ptr<char[]>(new char[kRelayBufferBytes]);
  auto buffer = std::move(spare_relay_buffers_.back());
  spare_relay_buffers_.pop_back();
  return buffer;
}

void InstanceInvoker::return_relay_buffer(std::unique_ptr<char[]> buffer) {
  if (spare_relay_buffers_.size() < kMaxSpares) spare_relay_buffers_.push_back(std::move(buffer));
}

std::unique_ptr<beast::tcp_stream> InstanceInvoker::take_stream(asio::ip::tcp::socket socket) {
  if (spare_streams_.empty()) return std::make_unique<beast::tcp_stream>(std::move(socket));
  auto stream = std::move(spare_streams_.back());
  spare_streams_.pop_back();
  stream->socket() = std::move(socket);
  return stream;
}

void InstanceInvoker::return_stream(std::unique_ptr<beast::tcp_stream> stream) {
  // Only streams whose exchange finished cleanly come back, without a socket and with no timer set.
  if (spare_streams_.size() < kMaxSpares) spare_streams_.push_back(std::move(stream));
}

FunctionMetrics& InstanceInvoker::metrics_for(std::string_view function) {
  auto it = metrics_of_.find(function);
  if (it == metrics_of_.end()) it = metrics_of_.emplace(std::string(function), &metrics_.function(function)).first;
  return *it->second;
}

asio::awaitable<Result<Lease>> InstanceInvoker::wait_for_lease(std::shared_ptr<const store::Revision>& revision,
                                                               std::string_view name, const InvocationRequest& request) {
  using asio::experimental::awaitable_operators::operator||;
  using Waited = std::optional<Result<Lease>>;
  // A deploy or delete while we wait retires the revision: look the function up again (a delete
  // then answers 404), a bounded number of times.
  for (int lookups = 0; lookups < 3; ++lookups) {
    const auto deadline = std::chrono::steady_clock::now() + start_timeout_ + revision->spec.timeout;
    Waited got;
    if (request.watch_caller) {
      auto acquire = [&]() -> asio::awaitable<Waited> { co_return co_await scheduler_.acquire(revision, deadline); };
      // The caller may hang up while we wait: the wait is then cancelled, so that nothing is
      // started, queued or evicted for nobody.
      auto outcome = co_await (acquire() || request.watch_caller());
      if (outcome.index() == 1) co_return make_error(std::string(kCallerGone), "the caller went away", 499);
      got.emplace(std::move(*std::get<0>(outcome)));
    } else {
      got.emplace(co_await scheduler_.acquire(revision, deadline));
    }
    if (*got || got->error().code != kRevisionRetired) co_return std::move(*got);
    revision = directory_.find(name);
    if (!revision) co_return directory_.unavailable(name);
  }
  co_return make_error("function_changing", fmt::format("function '{}' changed several times while this request waited; "
                                                        "retry", name), 503);
}

asio::awaitable<InvocationOutcome> InstanceInvoker::invoke(std::string_view name, const InvocationRequest& request,
                                                           ResponseSink& sink) {
  InvocationOutcome outcome;
  auto revision = directory_.find(name);
  if (!revision) {
    outcome.error = directory_.unavailable(name);
    co_return outcome;
  }
  const auto timeout = revision->spec.timeout;
  // Counted when this coroutine ends, however it ends; status 0 = nothing was answered.
  struct AnswerRecord {
    FunctionMetrics& metrics;
    const InvocationOutcome& outcome;
    std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
    ~AnswerRecord() {
      unsigned status = outcome.answered ? outcome.status : outcome.error ? static_cast<unsigned>(outcome.error->http_status) : 0;
      metrics.answered(status, std::chrono::steady_clock::now() - received);
    }
  } record{metrics_for(name), outcome};

  // Warm path first: a free slot right now costs no suspension and no allocation.
  std::optional<Lease> lease = scheduler_.try_acquire(revision);
  if (!lease) {
    auto waited = co_await wait_for_lease(revision, name, request);
    if (!waited) {
      if (waited.error().code != kCallerGone) outcome.error = waited.error();
      co_return outcome;
    }
    lease.emplace(std::move(*waited));
  }
  runtime::Instance& instance = lease->instance();
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  std::string head;
  serialize_request_head(request, head);
  const std::array<asio::const_buffer, 2> request_buffers{asio::buffer(head), asio::buffer(request.body)};

  // One retry, only on a reused pooled connection the instance had closed while idle, and only
  // before any byte of the answer came back.
  boost::system::error_code ec;
  beast::flat_buffer upstream_buffer;
  std::unique_ptr<beast::tcp_stream> upstream;
  std::optional<http::response_parser<http::buffer_body>> parser;
  const bool head_request = equals_ignoring_case(request.method, "HEAD");
  for (int attempt = 0; attempt < 2; ++attempt) {
    // No co_await inside ?: here: GCC 12 mishandles the temporaries of a conditional co_await.
    Result<asio::ip::tcp::socket> socket = make_error("connect_failed", "not connected");
    if (attempt == 0) socket = co_await instance.connection();
    else socket = co_await instance.connect();
    if (!socket) {
      lease->recycle();
      co_await instance.wait_for_exit(300ms);
      outcome.error = exchange_failure(instance, name, asio::error::connection_refused);
      co_return outcome;
    }
    upstream = take_stream(std::move(*socket));
    upstream->expires_at(deadline);
    upstream_buffer.clear();
    parser.emplace();
    parser->body_limit(boost::none);
    if (head_request) parser->skip(true);
    std::tie(ec, std::ignore) = co_await asio::async_write(*upstream, request_buffers, asio::as_tuple(asio::use_awaitable));
    // Interim answers (100 Continue, 103 Early Hints) are dropped: only the final one is relayed.
    while (!ec) {
      std::tie(ec, std::ignore) = co_await http::async_read_header(*upstream, upstream_buffer, *parser, asio::as_tuple(asio::use_awaitable));
      if (ec || parser->get().result_int() >= 200 || parser->get().result_int() == 101) break;
      parser.emplace();
      parser->body_limit(boost::none);
      if (head_request) parser->skip(true);
    }
    if (!ec || ec == beast::error::timeout) break;
    bool instance_alive = !co_await instance.wait_for_exit(attempt == 0 ? 20ms : 300ms);
    if (!instance_alive || attempt == 1) break;
  }
  if (ec == beast::error::timeout) {
    lease->recycle();
    outcome.error = timed_out(name, timeout, false);
    co_return outcome;
  }
  if (ec) {
    lease->recycle();
    co_await instance.wait_for_exit(300ms);
    outcome.error = exchange_failure(instance, name, ec);
    co_return outcome;
  }
  auto& upstream_response = parser->get();
  if (upstream_response.result() == http::status::switching_protocols) {
    // Nothing asked for an upgrade (Upgrade is not forwarded), and what follows is not HTTP.
    outcome.error = make_error(std::string(kFunctionBadAnswer),
        fmt::format("function '{}' answered 101 Switching Protocols, which fnd does not relay; see fnctl logs {}", name, name), 502);
    co_return outcome;
  }

  // The head, as views into the parser's fields (valid until the parser goes).
  std::vector<HeaderField> fields;
  fields.reserve(16);
  for (const auto& field : upstream_response) {
    if (!is_hop_by_hop(field.name_string())) fields.push_back({field.name_string(), field.value()});
  }
  const unsigned status = upstream_response.result_int();
  std::optional<uint64_t> content_length;
  if (auto length = parser->content_length()) content_length = *length;
  ResponseHead response_head{status, upstream_response.reason(), fields, content_length,
                             !head_request && status != 204 && status != 304 && status >= 200};

  std::unique_ptr<char[]> chunk = take_relay_buffer();
  struct ReturnBuffer {
    InstanceInvoker* invoker;
    std::unique_ptr<char[]>& buffer;
    ~ReturnBuffer() { invoker->return_relay_buffer(std::move(buffer)); }
  } return_buffer{this, chunk};
  // Each round reads what the function sent and hands it on; the first hand-over carries the head
  // too, so a small answer leaves in one send.
  bool upstream_failed = false;
  bool first = true;
  while (true) {
    size_t got = 0;
    if (!parser->is_done()) {
      parser->get().body().data = chunk.get();
      parser->get().body().size = kRelayBufferBytes;
      std::tie(ec, std::ignore) = co_await http::async_read(*upstream, upstream_buffer, *parser, asio::as_tuple(asio::use_awaitable));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        upstream_failed = true;
        break;
      }
      got = kRelayBufferBytes - parser->get().body().size;
    }
    const bool last = parser->is_done();
    std::string_view piece(chunk.get(), got);
    bool delivered = false;
    if (first) {
      delivered = co_await sink.begin(response_head, piece, last);
      outcome.answered = true;
      outcome.status = status;
      first = false;
    } else {
      delivered = co_await sink.more(piece, last);
    }
    // The receiver went away mid-answer: the upstream connection has unread data, so it is
    // dropped (closed with `upstream`) instead of pooled; the instance itself is fine.
    if (!delivered) co_return outcome;
    if (last) break;
  }
  if (upstream_failed) {
    if (ec == beast::error::timeout) lease->recycle();
    if (!outcome.answered) {
      co_await instance.wait_for_exit(300ms);
      outcome.error = ec == beast::error::timeout ? timed_out(name, timeout, true) : exchange_failure(instance, name, ec);
    }
    co_return outcome;  // answered: too late for an error; the sink's receiver sees a cut answer
  }
  outcome.complete = true;
  // Reused only when the exchange ended exactly at a message boundary: any byte past the answer
  // would otherwise be read as the start of the next caller's answer.
  if (parser->keep_alive() && parser->is_done() && upstream_buffer.size() == 0) {
    upstream->expires_never();
    instance.keep_idle_connection(upstream->release_socket());
    return_stream(std::move(upstream));
  }
  co_return outcome;
}

}  // namespace fnd::scheduler
