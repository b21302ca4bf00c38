#include "instance_invoker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <fmt/format.h>

#include "core/units.hpp"
#include "core/timed_socket.hpp"
#include "response_reader.hpp"
#include "runtime/instance.hpp"

namespace fnd::scheduler {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;

namespace {

constexpr size_t kRelayBufferBytes = 64 * 1024;
constexpr size_t kReadBytes = 16 * 1024;
constexpr uint32_t kHeaderLimit = 64 * 1024;  // of a function's answer
constexpr size_t kMaxSpares = 256;

bool is_head_method(std::string_view method) { return method == "HEAD"; }

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

Error timed_out(std::string_view function, std::chrono::milliseconds timeout, bool during_answer, bool callers) {
  if (callers) {
    return make_error(std::string(kFunctionTimeout),
                      fmt::format("function '{}' did not {} within {} (the timeout of calls to it through the mesh); "
                                  "the instance was recycled. fnctl policy get {} shows where the timeout comes from",
                                  function, during_answer ? "finish its answer" : "answer", format_duration(timeout),
                                  function), 504);
  }
  return make_error(std::string(kFunctionTimeout),
                    during_answer ? fmt::format("function '{}' did not finish its answer within {} (its timeout); the "
                                                "instance was recycled", function, format_duration(timeout))
                                  : fmt::format("function '{}' did not answer within {} (its timeout); the instance was "
                                                "recycled. Raise 'timeout' in the spec if it needs longer",
                                                function, format_duration(timeout)), 504);
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_caller_header(std::string_view name) { return equals_ignoring_case(name, kCallerHeader); }

// The revision the caller asked for: the path's selector, else its Fn-Revision field.
std::string_view revision_selector(const InvocationRequest& request) {
  if (!request.revision.empty()) return request.revision;
  for (const auto& field : request.headers) {
    if (equals_ignoring_case(field.name, kRevisionHeader)) return field.value;
  }
  return {};
}

// The request as the function gets it: the caller's end-to-end fields (never a caller identity
// of its own making), the calling function as fnd knows it, X-Forwarded-For, and a
// Content-Length for the (whole) body. Written into `out`, whose capacity is reused.
void serialize_request_head(const InvocationRequest& request, std::string& out) {
  out.clear();
  out.append(request.method).append(" ").append(request.target).append(" HTTP/1.1\r\n");
  for (const auto& field : request.headers) {
    if (is_hop_by_hop(field.name) || is_caller_header(field.name)) continue;
    out.append(field.name).append(": ").append(field.value).append("\r\n");
  }
  if (!request.caller.empty()) out.append(kCallerHeader).append(": ").append(request.caller).append("\r\n");
  if (!request.client_address.empty()) out.append("X-Forwarded-For: ").append(request.client_address).append("\r\n");
  fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n\r\n", request.body.size());
}

}  // namespace

bool is_capacity_error(const Error& error) { return error.retry_after_seconds > 0; }

FunctionSelector split_function_selector(std::string_view name_and_revision) {
  const size_t at = name_and_revision.find('@');
  if (at == std::string_view::npos) return {name_and_revision, {}};
  return {name_and_revision.substr(0, at), name_and_revision.substr(at + 1)};
}

struct InstanceInvoker::Exchange {
  explicit Exchange(const asio::any_io_executor& executor) : upstream(executor) {}
  TimedSocket upstream;
  beast::flat_buffer buffer;  // read from the instance, not parsed yet
  std::string request_head;
  ResponseHeadStorage response_head;
  std::unique_ptr<char[]> relay = std::make_unique<char[]>(kRelayBufferBytes);  // body on its way to the sink
};

InstanceInvoker::InstanceInvoker(const FunctionDirectory& directory, Scheduler& scheduler, MetricsRegistry& metrics,
                                 std::chrono::milliseconds start_timeout)
    : directory_(directory), scheduler_(scheduler), metrics_(metrics), start_timeout_(start_timeout) {}

InstanceInvoker::~InstanceInvoker() = default;

std::unique_ptr<InstanceInvoker::Exchange> InstanceInvoker::take_exchange() {
  if (spare_exchanges_.empty()) return std::make_unique<Exchange>(scheduler_.executor());
  auto exchange = std::move(spare_exchanges_.back());
  spare_exchanges_.pop_back();
  return exchange;
}

void InstanceInvoker::return_exchange(std::unique_ptr<Exchange> exchange) {
  // Only exchanges that finished come back: no operation pending, the socket closed or given away.
  if (spare_exchanges_.size() < kMaxSpares) spare_exchanges_.push_back(std::move(exchange));
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
    auto routed = directory_.route(name, revision_selector(request), random_);
    if (!routed) co_return routed.error();
    revision = std::move(*routed);
  }
  co_return make_error("function_changing", fmt::format("function '{}' changed several times while this request waited; "
                                                        "retry", name), 503);
}

asio::awaitable<InvocationOutcome> InstanceInvoker::invoke(std::string_view name, const InvocationRequest& request,
                                                           ResponseSink& sink) {
  InvocationOutcome outcome;
  auto routed = directory_.route(name, revision_selector(request), random_);
  if (!routed) {
    outcome.error = routed.error();
    co_return outcome;
  }
  auto revision = std::move(*routed);
  const bool callers_timeout = request.timeout && *request.timeout < revision->spec.timeout;
  const auto timeout = callers_timeout ? *request.timeout : revision->spec.timeout;
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

  auto exchange = take_exchange();
  Exchange& x = *exchange;
  serialize_request_head(request, x.request_head);
  const std::array<asio::const_buffer, 2> request_buffers{asio::buffer(x.request_head), asio::buffer(request.body)};

  const bool head_request = is_head_method(request.method);
  std::optional<ResponseReader> reader;
  auto new_reader = [&] {
    reader.emplace(x.response_head);
    reader->eager(true);
    reader->body_limit(boost::none);
    reader->header_limit(kHeaderLimit);
    if (head_request) reader->skip(true);
    reader->set_output(x.relay.get(), kRelayBufferBytes);
  };
  // One retry, only on a reused pooled connection the instance had closed while idle, and only
  // before any byte of the answer came back.
  boost::system::error_code ec;
  for (int attempt = 0; attempt < 2; ++attempt) {
    // No co_await inside ?: here: GCC 12 mishandles the temporaries of a conditional co_await.
    Result<asio::ip::tcp::socket> socket = make_error("connect_failed", "not connected");
    std::optional<asio::ip::tcp::socket> idle;
    if (attempt == 0) idle = instance.take_idle_connection();
    if (idle) socket = std::move(*idle);
    else socket = co_await instance.connect();
    if (!socket) {
      lease->recycle();
      co_await instance.wait_for_exit(300ms);
      outcome.error = exchange_failure(instance, name, asio::error::connection_refused);
      co_return outcome;
    }
    x.upstream.reset(std::move(*socket));
    x.upstream.expires_at(deadline);
    x.buffer.clear();
    new_reader();
    ec = co_await write_all(x.upstream, request_buffers);
    // The head, parsed as it arrives (with the start of the body, when it came along). Interim
    // answers (100 Continue, 103 Early Hints) are dropped: only the final one is relayed.
    while (!ec) {
      if (x.buffer.size() > 0) {
        size_t used = reader->put(x.buffer.data(), ec);
        x.buffer.consume(used);
        if (ec == http::error::need_more || ec == http::error::need_buffer) ec = {};
        if (ec) break;
        if (reader->is_header_done()) {
          if (reader->status() >= 200 || reader->status() == 101) break;
          new_reader();
          continue;
        }
      }
      auto [read_ec, n] = co_await x.upstream.async_read_some(x.buffer.prepare(kReadBytes), asio::as_tuple(asio::use_awaitable));
      x.buffer.commit(n);
      if (read_ec == asio::error::eof) ec = reader->got_some() ? http::error::partial_message : http::error::end_of_stream;
      else ec = read_ec;
    }
    if (!ec || x.upstream.expired()) break;
    bool instance_alive = !co_await instance.wait_for_exit(attempt == 0 ? 20ms : 300ms);
    if (!instance_alive || attempt == 1) break;
  }
  if (x.upstream.expired()) {
    lease->recycle();
    outcome.error = timed_out(name, timeout, false, callers_timeout);
    co_return outcome;
  }
  if (ec) {
    lease->recycle();
    co_await instance.wait_for_exit(300ms);
    outcome.error = exchange_failure(instance, name, ec);
    co_return outcome;
  }
  const unsigned status = reader->status();
  if (status == 101) {
    // Nothing asked for an upgrade (Upgrade is not forwarded), and what follows is not HTTP.
    outcome.error = make_error(std::string(kFunctionBadAnswer),
        fmt::format("function '{}' answered 101 Switching Protocols, which fnd does not relay; see fnctl logs {}", name, name), 502);
    co_return outcome;
  }
  std::optional<uint64_t> content_length;
  if (auto length = reader->content_length()) content_length = *length;
  const ResponseHead response_head{status, reader->reason(), reader->fields(), content_length,
                                   !head_request && status != 204 && status != 304};

  // Each round parses what the function sent into the relay buffer and hands it on; the first
  // hand-over carries the head too, so a small answer leaves in one send.
  bool upstream_failed = false;
  bool first = true;
  while (true) {
    while (!reader->is_done() && x.buffer.size() > 0 && !reader->output_full()) {
      size_t used = reader->put(x.buffer.data(), ec);
      x.buffer.consume(used);
      if (ec == http::error::need_more || ec == http::error::need_buffer) {
        ec = {};
        break;
      }
      if (ec) break;
    }
    if (ec) {
      upstream_failed = true;
      break;
    }
    const bool last = reader->is_done();
    if (!last && reader->body_size() == 0) {
      auto [read_ec, n] = co_await x.upstream.async_read_some(x.buffer.prepare(kReadBytes), asio::as_tuple(asio::use_awaitable));
      x.buffer.commit(n);
      if (read_ec == asio::error::eof) {
        reader->put_eof(ec);  // the end of a body that runs to the end of the connection, else cut short
      } else {
        ec = read_ec;
      }
      if (ec) {
        upstream_failed = true;
        break;
      }
      continue;
    }
    std::string_view piece(x.relay.get(), reader->body_size());
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
    // dropped (closed with the exchange) instead of pooled; the instance itself is fine.
    if (!delivered) co_return outcome;
    if (last) break;
    reader->set_output(x.relay.get(), kRelayBufferBytes);
  }
  if (upstream_failed) {
    const bool expired = x.upstream.expired();
    if (expired) lease->recycle();
    if (!outcome.answered) {
      co_await instance.wait_for_exit(300ms);
      outcome.error = expired ? timed_out(name, timeout, true, callers_timeout) : exchange_failure(instance, name, ec);
    }
    co_return outcome;  // answered: too late for an error; the sink's receiver sees a cut answer
  }
  outcome.complete = true;
  // Reused only when the exchange ended exactly at a message boundary: any byte past the answer
  // would otherwise be read as the start of the next caller's answer.
  x.upstream.expires_never();
  if (reader->keep_alive() && x.buffer.size() == 0) instance.keep_idle_connection(x.upstream.release_socket());
  else x.upstream.close();
  return_exchange(std::move(exchange));
  co_return outcome;
}

}  // namespace fnd::scheduler
