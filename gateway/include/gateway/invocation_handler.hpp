// The gateway's side of an invocation: turns an HTTP request for /function/{name}/... into an
// Invoker call and writes the function's answer back to the client as it streams in (its header
// fields forwarded as they came, framed for the client's HTTP version), or fnd's own error.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <string>
#include <string_view>

#include "gateway/http_server.hpp"
#include "scheduler/invoker.hpp"

namespace fnd::gateway {

class InvocationHandler {
 public:
  explicit InvocationHandler(scheduler::Invoker& invoker) : invoker_(invoker) {}

  // `name` is the function, `target` what the function sees ("/a/b?x=1"). Returns whether the
  // client connection may serve another request.
  boost::asio::awaitable<bool> invoke(Request& request, std::string_view name, std::string_view target,
                                      boost::beast::tcp_stream& client, std::string_view client_address);

 private:
  scheduler::Invoker& invoker_;
};

}  // namespace fnd::gateway
