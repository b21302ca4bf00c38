// The one way anything calls a function: the gateway for HTTP clients, the mesh for
// function-to-function calls and eventing for deliveries. The Invoker resolves the function to
// a revision (drawn by its traffic split, or the one a tag or the Fn-Revision field names), leases an instance
// (starting one when needed, queueing when all are busy), connects, retries a connection to an instance that died
// before reading the request, relays the request and streams the answer to the caller's ResponseSink, and reports
// failures as typed errors. It counts every invocation in the function's metrics.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fnd::scheduler {

// Error codes of an invocation that got no answer from the function (the caller answers with
// the error itself). The function's own answers, whatever their status, are not errors.
inline constexpr std::string_view kFunctionNotFound = "function_not_found";    // 404
inline constexpr std::string_view kFunctionBroken = "function_broken";         // 500: its stored spec is unreadable
inline constexpr std::string_view kFunctionCrashed = "function_crashed";       // 502
inline constexpr std::string_view kFunctionOutOfMemory = "function_out_of_memory";  // 502
inline constexpr std::string_view kFunctionBadAnswer = "function_bad_answer";  // 502
inline constexpr std::string_view kFunctionTimeout = "function_timeout";       // 504
inline constexpr std::string_view kCallerGone = "caller_gone";                 // the caller hung up while it waited

// True for the errors after which the instance itself is healthy and a later call may succeed
// (queue full, capacity, memory budget, shutting down): the error says when (Retry-After).
bool is_capacity_error(const Error& error);

// The header that tells a function which function called it (through the mesh). Only fnd
// writes it: one a caller sends among its headers is dropped on every path.
inline constexpr std::string_view kCallerHeader = "X-Fnd-Caller";

// The field that picks a revision by tag or number ("canary", "r4", "4"), as NAME@SELECTOR does
// in a path; the path's selector wins when both are given.
inline constexpr std::string_view kRevisionHeader = "Fn-Revision";

// "pricing@canary" -> {"pricing", "canary"}; "pricing" -> {"pricing", ""}.
struct FunctionSelector {
  std::string_view name;
  std::string_view revision;
};
FunctionSelector split_function_selector(std::string_view name_and_revision);

struct HeaderField {
  std::string_view name;
  std::string_view value;
};

// A request to a function, as the caller read it. Views: they must stay valid until invoke()
// completes.
struct InvocationRequest {
  std::string_view method;                 // "GET", "POST", ...
  std::string_view target;                 // what the function sees: "/a/b?x=1"
  std::span<const HeaderField> headers;    // as received; hop-by-hop fields and Expect are dropped
  std::string_view body;                   // the whole body
  std::string_view client_address;         // passed on as X-Forwarded-For when not empty
  std::string_view caller;                 // the calling function's name (mesh), empty for outside callers;
                                           // the function sees it as kCallerHeader
  // When set, called only if the request has to wait for an instance: the returned awaitable
  // completes when the caller has gone away, and the wait is then abandoned (nothing is started,
  // queued or evicted for nobody).
  std::function<boost::asio::awaitable<void>()> watch_caller;
  // The revision to call: a tag, "r4" or "4"; empty: the Fn-Revision field when the request has
  // one, else a revision drawn by the function's traffic split.
  std::string_view revision;
  // When set and shorter than the function's own timeout: how long the instance may take over the
  // answer (the mesh's call policy); past it, 504 function_timeout and the instance is recycled,
  // as for the function's timeout.
  std::optional<std::chrono::milliseconds> timeout = std::nullopt;
};

// The head of a function's answer. Views into the Invoker's buffers: valid during begin() only.
struct ResponseHead {
  unsigned status = 0;
  std::string_view reason;
  std::span<const HeaderField> headers;    // end-to-end fields as the function sent them
  std::optional<uint64_t> content_length;  // nullopt: the body's length is not known up front
  bool has_body = true;                    // false for HEAD requests, 1xx, 204 and 304 answers
};

// Where the answer goes. The Invoker calls begin() once (with the first part of the body, or
// all of it when `last`), then more() until `last`. A false return means the receiver is gone:
// the Invoker stops relaying.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual boost::asio::awaitable<bool> begin(const ResponseHead& head, std::string_view body, bool last) = 0;
  virtual boost::asio::awaitable<bool> more(std::string_view body, bool last) = 0;
};

struct InvocationOutcome {
  // Set when the function gave no answer (nothing reached the sink): the caller answers with it.
  std::optional<Error> error;
  unsigned status = 0;        // the function's status, when it answered
  bool answered = false;      // begin() was called; the answer may still have been cut short
  bool complete = false;      // the whole answer reached the sink
};

class Invoker {
 public:
  virtual ~Invoker() = default;
  // Calls function `name` (the revision request.revision or Fn-Revision names, else one drawn by
  // its traffic split; 404 revision_not_found when the named one is not served). Never throws
  // for a function's failure.
  virtual boost::asio::awaitable<InvocationOutcome> invoke(std::string_view name, const InvocationRequest& request,
                                                           ResponseSink& sink) = 0;
};

}  // namespace fnd::scheduler
