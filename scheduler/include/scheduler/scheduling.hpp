// The scheduler module as the composition root sees it: built from its options and the runtime,
// it offers the Invoker (calling functions), Deployments (changing them) and FunctionStatus
// (describing them), and runs the reaper, the autoscaler and the warm pools.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>

#include "core/error.hpp"
#include "core/metrics.hpp"
#include "core/time.hpp"
#include "scheduler/deployments.hpp"
#include "scheduler/invoker.hpp"
#include "scheduler/options.hpp"
#include "scheduler/status.hpp"
#include "store/code_store.hpp"
#include "store/disk_reserve.hpp"
#include "store/function_repository.hpp"
#include "store/log_store.hpp"

namespace fnd::runtime {
class ContainerRuntime;
}

namespace fnd::scheduler {

// What the scheduler works with, owned by the composition root and outliving Scheduling.
struct SchedulingContext {
  boost::asio::any_io_executor executor;
  boost::asio::any_io_executor blocking_executor;  // disk work (code garbage collection)
  runtime::ContainerRuntime& runtime;
  store::FunctionRepository& repository;
  store::CodeStore& code;
  store::DiskReserve& disk_reserve;
  store::LogStore& logs;
  MetricsRegistry& metrics;
  const Clock& clock;
  uint64_t host_memory_bytes = 0;  // resources.memory is checked against it at deploy
};

class Scheduling {
 public:
  Scheduling(SchedulingContext context, SchedulerOptions options);
  ~Scheduling();
  Scheduling(const Scheduling&) = delete;
  Scheduling& operator=(const Scheduling&) = delete;

  Invoker& invoker();
  Deployments& deployments();
  const FunctionStatus& status() const;
  // The instance memory budget in effect (options.memory_budget, or 75% of the host's memory).
  uint64_t memory_budget() const;

  // Loads the stored functions and starts the reaper, the autoscaler, the warm pools and the
  // hourly code collection. Errors: the store cannot be read.
  Status start();
  // Stops every instance and warm pool; resolves when they are gone.
  boost::asio::awaitable<void> shutdown();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace fnd::scheduler
