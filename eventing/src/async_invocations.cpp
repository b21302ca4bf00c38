#include "eventing/async_invocations.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <random>
#include <stdexcept>
#include <utility>

#include "answer_sink.hpp"
#include "core/base64.hpp"
#include "core/json.hpp"
#include "core/time.hpp"
#include "eventing/trigger.hpp"

namespace fnd::eventing {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view kRecordKind = "invocation";
// The dispatcher's destinations: placeholders that tell an attempt from the final failure.
constexpr std::string_view kRun = "fnd-async-run";
constexpr std::string_view kFailed = "fnd-async-failed";

std::string new_invocation_id() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");  // a broken OpenSSL is a bug
  std::string id;
  for (unsigned char b : bytes) id += fmt::format("{:02x}", b);
  return id;
}

std::string now_text() { return format_rfc3339(std::chrono::system_clock::now()); }

std::string extension(const CloudEvent& event, std::string_view name) {
  return std::string(event.string_attribute(name).value_or(""));
}

}  // namespace

AsyncInvocations::AsyncInvocations(Services services, AsyncInvocationOptions options)
    : services_(services), options_(options), sleeper_(services.clock), running_(std::make_shared<bool>(false)) {
  TriggerSpec spec;
  spec.name = std::string(kAsyncBroker);
  spec.broker = std::string(kAsyncBroker);
  spec.subscriber = Destination{DestinationKind::function, std::string(kRun)};
  spec.dead_letter = Destination{DestinationKind::function, std::string(kFailed)};
  spec.delivery = options_.delivery;
  DispatcherServices dispatch{services_.log, services_.executor, services_.blocking_executor,
                              *this,         services_.router,   services_.clock,
                              sleeper_};
  dispatch.random_seed = std::random_device{}();
  dispatcher_ = std::make_unique<TriggerDispatcher>(spec, dispatch);
}

AsyncInvocations::~AsyncInvocations() = default;

void AsyncInvocations::start() {
  *running_ = true;
  dispatcher_->start();
  asio::co_spawn(services_.executor, prune_periodically(), asio::detached);
}

asio::awaitable<void> AsyncInvocations::stop() {
  *running_ = false;
  co_await dispatcher_->stop();
}

void AsyncInvocations::save(const std::string& id, const json::object& record) {
  if (auto put = services_.records.put(kRecordKind, id, json::serialize(record)); !put) {
    spdlog::warn("async invocation {}: its record could not be kept: {}", id, put.error().message);
  }
}

asio::awaitable<Result<std::string>> AsyncInvocations::submit(AsyncRequest request) {
  const std::string id = new_invocation_id();
  CloudEvent event;
  event.set_attribute("specversion", std::string("1.0"));
  event.set_attribute("id", id);
  event.set_attribute("source", fmt::format("/fnd/async/{}", request.function));
  event.set_attribute("type", std::string(kInvocationType));
  event.set_attribute("fndfunction", request.function);
  event.set_attribute("fndtarget", request.target);
  if (!request.callback_url.empty()) event.set_attribute("fndcallback", request.callback_url);
  // The body travels as bytes (never re-read as JSON): the function gets what the caller sent.
  event.set_attribute("datacontenttype",
                      request.content_type.empty() ? std::string("application/octet-stream") : request.content_type);
  if (!request.body.empty()) event.data = std::move(request.body);
  json::object record{
      {"id", id}, {"function", request.function}, {"status", "queued"}, {"attempts", 0}, {"createdAt", now_text()}};
  save(id, record);
  std::vector<CloudEvent> one;
  one.push_back(std::move(event));
  auto published = co_await services_.router.publish(std::string(kAsyncBroker), std::move(one));
  if (!published) {
    (void)services_.records.remove(kRecordKind, id);
    co_return published.error();
  }
  dispatcher_->notify_new_events();  // the router wakes the triggers it runs; this one is ours
  co_return id;
}

Result<json::object> AsyncInvocations::get(std::string_view id) const {
  auto stored = services_.records.get(kRecordKind, id);
  if (!stored) return stored.error();
  if (!*stored) {
    return make_error(std::string(kInvocationNotFound),
                      fmt::format("no invocation '{}' (records are kept for eventing.invocation_retention)", id), 404);
  }
  auto parsed = parse_json((*stored)->spec);
  if (!parsed || !parsed->is_object())
    return make_error("store_error", fmt::format("invocation {} is damaged", id), 500);
  return std::move(parsed->as_object());
}

Result<std::vector<json::object>> AsyncInvocations::list(std::string_view function, std::size_t limit) const {
  auto stored = services_.records.list(kRecordKind);
  if (!stored) return stored.error();
  std::sort(stored->begin(), stored->end(),
            [](const store::Resource& a, const store::Resource& b) { return a.created_at > b.created_at; });
  std::vector<json::object> out;
  for (const auto& resource : *stored) {
    if (out.size() >= limit) break;
    auto parsed = parse_json(resource.spec);
    if (!parsed || !parsed->is_object()) continue;
    const json::value* owner = parsed->as_object().if_contains("function");
    if (!function.empty() && (owner == nullptr || !owner->is_string() || owner->as_string() != function)) continue;
    out.push_back(std::move(parsed->as_object()));
  }
  return out;
}

asio::awaitable<AttemptResult> AsyncInvocations::deliver(const Destination& destination, const CloudEvent& event,
                                                         std::chrono::milliseconds timeout) {
  (void)timeout;  // the Invoker bounds the call with the function's own timeout
  const std::string id(event.id());
  auto existing = get(id);
  json::object record =
      existing ? std::move(*existing) : json::object{{"id", id}, {"function", extension(event, "fndfunction")}};
  const std::string callback = extension(event, "fndcallback");
  if (destination.target == kFailed) {
    // Every retry failed, or the answer was not one to retry: the invocation failed.
    record["status"] = "failed";
    record["finishedAt"] = now_text();
    const std::string code = extension(event, "fnderrorcode");
    if (!code.empty() && !record.contains("error")) record["error"] = code;
    co_await finish(id, std::move(record), callback);
    AttemptResult done;
    done.status = 200;
    co_return done;
  }
  const std::string function = extension(event, "fndfunction");
  const std::string target = extension(event, "fndtarget");
  const std::string content_type = extension(event, "datacontenttype");
  std::vector<scheduler::HeaderField> headers;
  if (!content_type.empty()) headers.push_back({"Content-Type", content_type});
  headers.push_back({"X-Fnd-Invocation-Id", id});
  scheduler::InvocationRequest call;
  call.method = "POST";
  call.target = target.empty() ? std::string_view("/") : std::string_view(target);
  call.headers = headers;
  call.body = event.data ? std::string_view(*event.data) : std::string_view();
  record["status"] = "running";
  record["attempts"] =
      (record.contains("attempts") && record["attempts"].is_int64() ? record["attempts"].as_int64() : 0) + 1;
  if (!record.contains("startedAt")) record["startedAt"] = now_text();
  save(id, record);
  internal::AnswerSink sink;
  scheduler::InvocationOutcome outcome = co_await services_.invoker.invoke(function, call, sink);
  AttemptResult result;
  if (outcome.error) {
    result.status = outcome.error->http_status;
    result.body = outcome.error->message.substr(0, kMaxResponseBodyKept);
    if (outcome.error->retry_after_seconds > 0)
      result.retry_after = std::chrono::seconds(outcome.error->retry_after_seconds);
    record["error"] = fmt::format("{}: {}", outcome.error->code, outcome.error->message);
  } else if (!outcome.complete) {
    result = internal::failed(kConnectionFailed);
    record["error"] = "the function's answer was cut short";
  } else {
    result = sink.result();
    std::string content;
    for (const auto& [name, value] : sink.headers()) {
      if (internal::iequals(name, "content-type")) content = value;
    }
    const std::string& body = sink.body();
    record["result"] = json::object{{"status", sink.status()},
                                    {"contentType", content},
                                    {"body", base64_encode(std::string_view(body).substr(0, kMaxInvocationResult))},
                                    {"truncated", body.size() > kMaxInvocationResult}};
    record.erase("error");
    result.reply.reset();  // an async answer is a result, not an event for the broker
  }
  if (result.status < 200 || result.status >= 300) {
    save(id, record);  // the dispatcher retries it, or hands it to kFailed
    co_return result;
  }
  record["status"] = "succeeded";
  record["finishedAt"] = now_text();
  co_await finish(id, std::move(record), callback);
  co_return result;
}

asio::awaitable<void> AsyncInvocations::finish(std::string id, json::object record, std::string callback) {
  save(id, record);
  if (callback.empty()) co_return;
  CloudEvent result;
  result.set_attribute("specversion", std::string("1.0"));
  result.set_attribute("id", id + "-result");
  result.set_attribute("source", std::string("/fnd/async"));
  result.set_attribute("type", std::string(kInvocationResultType));
  result.set_attribute("datacontenttype", std::string("application/json"));
  result.data = json::serialize(record);
  Destination to{DestinationKind::url, callback};
  // One try: the record stays for GET /api/v1/invocations/{id} whatever the callback does.
  AttemptResult sent = co_await services_.callbacks.deliver(to, result, std::chrono::seconds(10));
  if (sent.status < 200 || sent.status >= 300) {
    spdlog::warn("async invocation {}: callback {} answered {}{}", id, callback, sent.status,
                 sent.error.empty() ? "" : " (" + sent.error + ")");
  }
}

asio::awaitable<void> AsyncInvocations::prune_periodically() {
  auto running = running_;
  asio::steady_timer timer(services_.executor);
  while (*running) {
    timer.expires_after(std::chrono::minutes(10));
    auto [cancelled] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (cancelled || !*running) co_return;
    auto pruned =
        services_.records.remove_updated_before(kRecordKind, std::chrono::system_clock::now() - options_.retention);
    if (pruned && *pruned > 0) spdlog::info("removed {} async invocation records past their retention", *pruned);
  }
}

}  // namespace fnd::eventing
