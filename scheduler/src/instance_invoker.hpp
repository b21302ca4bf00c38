// The Invoker over the scheduler's instances (see scheduler/invoker.hpp for the contract):
// routes the call to a revision (FunctionDirectory::route), leases an instance of it, relays the request over a pooled
// keep-alive connection and streams the answer to the sink. Private to the scheduler module.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "scheduler.hpp"
#include "scheduler/function_directory.hpp"
#include "scheduler/invoker.hpp"

namespace fnd::scheduler {

class InstanceInvoker final : public Invoker {
 public:
  // `start_timeout` is how long a new instance may take to accept connections: added to the
  // function's timeout, it bounds how long a request waits for an instance.
  InstanceInvoker(const FunctionDirectory& directory, Scheduler& scheduler, MetricsRegistry& metrics,
                  std::chrono::milliseconds start_timeout);
  ~InstanceInvoker() override;

  boost::asio::awaitable<InvocationOutcome> invoke(std::string_view name, const InvocationRequest& request,
                                                   ResponseSink& sink) override;

 private:
  // The cold path: waits for a slot, watching the caller when it can. Updates `revision` when a
  // newer one replaced it while waiting.
  boost::asio::awaitable<Result<Lease>> wait_for_lease(std::shared_ptr<const store::Revision>& revision,
                                                       std::string_view name, const InvocationRequest& request);
  // What one exchange with an instance needs besides the connection itself (buffers, the parsed
  // head's storage): reused across invocations, a bounded number kept, rather than allocated per
  // request.
  struct Exchange;
  std::unique_ptr<Exchange> take_exchange();
  void return_exchange(std::unique_ptr<Exchange> exchange);
  FunctionMetrics& metrics_for(std::string_view function);

  const FunctionDirectory& directory_;
  Scheduler& scheduler_;
  MetricsRegistry& metrics_;
  std::chrono::milliseconds start_timeout_;
  std::vector<std::unique_ptr<Exchange>> spare_exchanges_;
  // Each function's metrics, looked up in the registry (under its lock) once per function only.
  std::map<std::string, FunctionMetrics*, std::less<>> metrics_of_;
  std::mt19937_64 random_{std::random_device{}()};  // draws revisions by traffic weight
};

}  // namespace fnd::scheduler
