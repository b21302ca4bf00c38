// Forwards an invocation to an instance of the function's latest revision over a pooled
// keep-alive connection and streams the answer back; turns crashes, OOM kills and timeouts into
// clear 502/504 errors.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string_view>
#include <vector>

#include "core/metrics.hpp"
#include "gateway/function_directory.hpp"
#include "gateway/http_server.hpp"
#include "scheduler/scheduler.hpp"

namespace fnd::gateway {

struct InvokeOptions {
  std::chrono::milliseconds start_timeout = std::chrono::seconds(10);  // added to the queue deadline
};

class InvokeProxy {
 public:
  InvokeProxy(FunctionDirectory& directory, scheduler::Scheduler& scheduler, MetricsRegistry& metrics, InvokeOptions options)
      : directory_(directory), scheduler_(scheduler), metrics_(metrics), options_(options) {}

  // `name` is the function, `target` what the function sees ("/a/b?x=1").
  boost::asio::awaitable<bool> invoke(Request& request, std::string_view name, std::string target,
                                      boost::beast::tcp_stream& client, std::string_view client_address);

 private:
  // Relay buffers and upstream streams (a beast::tcp_stream allocates its state when built) are
  // reused across invocations, a bounded number of each, rather than allocated per request.
  std::unique_ptr<char[]> take_relay_buffer();
  void return_relay_buffer(std::unique_ptr<char[]> buffer);
  std::unique_ptr<boost::beast::tcp_stream> take_stream(boost::asio::ip::tcp::socket socket);
  void return_stream(std::unique_ptr<boost::beast::tcp_stream> stream);
  FunctionMetrics& metrics_for(std::string_view function);
  // The cold path: waits for a slot while watching the client. Errors as Scheduler::acquire;
  // caller_gone when the client hung up. Updates `revision` when a newer one replaced it.
  boost::asio::awaitable<Result<scheduler::Lease>> wait_for_lease(std::shared_ptr<const store::Revision>& revision,
                                                                 std::string_view name,
                                                                 boost::beast::tcp_stream& client);
  // Resolves when the client closes or resets its connection (or when cancelled).
  static boost::asio::awaitable<void> watch_for_hangup(boost::beast::tcp_stream& client);

  FunctionDirectory& directory_;
  scheduler::Scheduler& scheduler_;
  MetricsRegistry& metrics_;
  InvokeOptions options_;
  std::vector<std::unique_ptr<char[]>> spare_relay_buffers_;
  std::vector<std::unique_ptr<boost::beast::tcp_stream>> spare_streams_;
  // Each function's metrics, looked up in the registry (under its lock) once per function only.
  std::map<std::string, FunctionMetrics*, std::less<>> metrics_of_;
};

}  // namespace fnd::gateway
