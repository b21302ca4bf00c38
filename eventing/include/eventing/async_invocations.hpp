// Asynchronous invocation (POST /async-function/{name}): the request becomes an event in fnd's
// own broker kAsyncBroker, durable before the caller gets 202 and an invocation id; a dispatcher
// over that broker calls the function through the Invoker with the trigger delivery policy
// (retries, backoff, Retry-After), and the outcome is kept as an invocation record (status,
// attempts, the answer or the error, timings) for options.retention, and POSTed as a CloudEvent
// (type kInvocationResultType, the record as JSON data) to the request's callback URL if any.
//
// Record statuses: queued (accepted, not tried yet), running (attempts made, more may come),
// succeeded (a 2xx answer), failed (no 2xx after the retries, or an answer that is not retried).
//
// Threads: the io thread only; load() before it runs.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "eventing/delivery.hpp"
#include "eventing/dispatcher.hpp"
#include "eventing/event_router.hpp"
#include "eventing/sleeper.hpp"
#include "scheduler/invoker.hpp"
#include "store/resource_repository.hpp"

namespace fnd::eventing {

inline constexpr std::string_view kInvocationType = "dev.fnd.invocation";
inline constexpr std::string_view kInvocationResultType = "dev.fnd.invocation.result";
inline constexpr std::string_view kInvocationNotFound = "invocation_not_found";  // 404
// The most of a function's answer an invocation record keeps.
inline constexpr std::size_t kMaxInvocationResult = 1u << 20;

struct AsyncInvocationOptions {
  DeliveryPolicy delivery;                                       // the triggers' defaults
  std::chrono::milliseconds retention = std::chrono::hours(24);  // eventing.invocation_retention
};

struct AsyncRequest {
  std::string function;
  std::string target = "/";  // what the function sees: path and query
  std::string content_type;  // empty: none
  std::string body;
  std::string callback_url;  // empty: none
};

class AsyncInvocations final : public Subscriber {
 public:
  struct Services {
    EventRouter& router;  // must have loaded: it makes kAsyncBroker
    store::EventLog& log;
    store::ResourceRepository& records;
    scheduler::Invoker& invoker;
    Subscriber& callbacks;  // delivers the result to callback URLs
    boost::asio::any_io_executor executor;
    boost::asio::any_io_executor blocking_executor;
    const Clock& clock;
  };
  AsyncInvocations(Services services, AsyncInvocationOptions options);
  ~AsyncInvocations() override;

  void start();
  boost::asio::awaitable<void> stop();

  // Makes the invocation durable and returns its id. Errors: the broker's (429, 507, 503).
  boost::asio::awaitable<Result<std::string>> submit(AsyncRequest request);
  // The record as JSON: {"id","function","status","attempts","createdAt","startedAt","finishedAt",
  // "result":{"status","contentType","body"(base64),"truncated"},"error"}.
  Result<boost::json::object> get(std::string_view id) const;
  // The newest records first, at most `limit`; only `function`'s when it is not empty.
  Result<std::vector<boost::json::object>> list(std::string_view function, std::size_t limit) const;

  // Subscriber: runs one attempt of an invocation (the dispatcher's destination is a placeholder;
  // the function is in the event).
  boost::asio::awaitable<AttemptResult> deliver(const Destination& destination, const CloudEvent& event,
                                                std::chrono::milliseconds timeout) override;

 private:
  void save(const std::string& id, const boost::json::object& record);
  boost::asio::awaitable<void> finish(std::string id, boost::json::object record, std::string callback);
  boost::asio::awaitable<void> prune_periodically();

  Services services_;
  AsyncInvocationOptions options_;
  TimerSleeper sleeper_;
  std::unique_ptr<TriggerDispatcher> dispatcher_;
  std::shared_ptr<bool> running_;
};

}  // namespace fnd::eventing
