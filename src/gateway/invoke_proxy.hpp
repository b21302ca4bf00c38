// Forwards an invocation to an instance of the function's latest revision over a pooled
// keep-alive connection and streams the answer back; turns crashes, OOM kills and timeouts into
// clear 502/504 errors.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <string_view>

#include "gateway/function_directory.hpp"
#include "gateway/http_server.hpp"
#include "scheduler/scheduler.hpp"

namespace fnd::gateway {

struct InvokeOptions {
  std::chrono::milliseconds start_timeout = std::chrono::seconds(10);  // added to the queue deadline
};

class InvokeProxy {
 public:
  InvokeProxy(FunctionDirectory& directory, scheduler::Scheduler& scheduler, InvokeOptions options)
      : directory_(directory), scheduler_(scheduler), options_(options) {}

  // `name` is the function, `target` what the function sees ("/a/b?x=1").
  boost::asio::awaitable<bool> invoke(Request& request, std::string_view name, std::string target,
                                      boost::beast::tcp_stream& client);

 private:
  FunctionDirectory& directory_;
  scheduler::Scheduler& scheduler_;
  InvokeOptions options_;
};

}  // namespace fnd::gateway
