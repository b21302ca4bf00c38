// The gateway's side of an invocation: turns an HTTP request for /function/{name}/... into an
// Invoker call and writes the function's answer back to the client as it streams in (its header
// fields forwarded as they came, framed for the client's HTTP version), or fnd's own error. Each
// invocation is a span of its W3C trace: the function receives a `traceparent` carrying the
// client's trace id (a new trace when the client sent none) and the gateway's span id, and the
// access log (when on) gets a line with both.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <random>
#include <string>
#include <string_view>

#include "core/access_log.hpp"
#include "gateway/access_control.hpp"
#include "gateway/http_server.hpp"
#include "scheduler/function_directory.hpp"
#include "scheduler/invoker.hpp"

namespace fnd::eventing {
class AsyncInvocations;
}

namespace fnd::gateway {

// A function deployed with public: false, called from outside (403).
inline constexpr std::string_view kFunctionNotPublic = "function_not_public";

class InvocationHandler {
 public:
  // `directory` tells which functions take only token holders (access: token); `access` checks them.
  // `async` (may be null: no asynchronous invocation) takes POST /async-function/NAME.
  // `access_log` (may be null: none) gets a line per invocation.
  InvocationHandler(scheduler::Invoker& invoker, const scheduler::FunctionDirectory& directory, AccessControl& access,
                    eventing::AsyncInvocations* async = nullptr, AccessLog* access_log = nullptr)
      : invoker_(invoker), directory_(directory), access_(access), async_(async), access_log_(access_log) {}

  // `function_target` is the request target after /function/: the function's name, then what the
  // function sees ("NAME/a/b?x=1" calls NAME with "/a/b?x=1"). Returns whether the client
  // connection may serve another request.
  boost::asio::awaitable<bool> invoke(Request& request, std::string_view function_target, ClientStream& client,
                                      const Connection& connection);
  // POST /async-function/NAME[/path]: 202 with X-Invocation-Id once the invocation is durable;
  // X-Callback-Url names where the result goes. `function_target` as for invoke().
  boost::asio::awaitable<bool> invoke_async(Request& request, std::string_view function_target, ClientStream& client,
                                            const Connection& connection);

 private:
  scheduler::Invoker& invoker_;
  const scheduler::FunctionDirectory& directory_;
  AccessControl& access_;
  eventing::AsyncInvocations* async_;
  AccessLog* access_log_;
  std::mt19937_64 random_{std::random_device{}()};  // span and trace ids

  // Whether the caller may invoke `name` (access: token functions want a token allowing it; public:
  // false ones refuse everyone here: 403 function_not_public); true when the function takes
  // tokens, so that the Authorization header is not passed on.
  Result<bool> admit(const Request& request, std::string_view name, const Connection& connection);
};

}  // namespace fnd::gateway
