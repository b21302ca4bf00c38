// Places invocations on instances: picks the least loaded ready instance of a revision with a free
// concurrency slot, starts instances up to scale.max when all are busy (within the memory budget),
// queues requests (bounded) until a slot frees, follows each revision's autoscaler, pre-warms from
// the invocation history, and stops instances idle past their keep-alive. Private to the scheduler
// module: the rest of fnd sees it through Invoker, Deployments (RevisionLifecycle) and
// FunctionStatus.
//
// Not thread safe: use from the io_context's thread only. Nothing here touches SQLite. Time comes
// from the injected clock; waits with a deadline use real timers on that clock's time line.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/metrics.hpp"
#include "core/notifier.hpp"
#include "core/time.hpp"
#include "instance_launcher.hpp"
#include "memory_budget.hpp"
#include "revision_pool.hpp"
#include "runtime/instance.hpp"
#include "scheduler/deployments.hpp"
#include "scheduler/keep_alive_policy.hpp"
#include "scheduler/options.hpp"
#include "scheduler/status.hpp"
#include "store/function_repository.hpp"

namespace fnd::scheduler {

// Error codes acquire() makes (callers test them with these constants).
inline constexpr std::string_view kRevisionRetired = "revision_retired";  // a newer revision or a delete: look the function up again
inline constexpr std::string_view kMemoryBudgetTooSmall = "memory_budget_too_small";

class Scheduler;

// One concurrency slot on one instance, held for the duration of an invocation. Move-only;
// released when destroyed.
class Lease {
 public:
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&&) = delete;
  Lease(const Lease&) = delete;
  ~Lease();

  runtime::Instance& instance() const { return *instance_; }
  // The instance is stopped (killed) once released: after a timeout or a broken exchange.
  void recycle() { recycle_ = true; }
  // True when this invocation had to wait for an instance to start.
  bool cold_start() const { return cold_start_; }

 private:
  friend class Scheduler;
  Lease(Scheduler* scheduler, std::shared_ptr<internal::RevisionPool> pool, std::shared_ptr<runtime::Instance> instance,
        bool cold_start);

  Scheduler* scheduler_;
  std::shared_ptr<internal::RevisionPool> pool_;
  std::shared_ptr<runtime::Instance> instance_;
  bool recycle_ = false;
  bool cold_start_ = false;
};

class Scheduler final : public RevisionLifecycle, public FunctionStatus {
 public:
  // `memory_budget_bytes`: the budget in effect (0 = none); `metrics` counts instance starts.
  Scheduler(boost::asio::any_io_executor executor, internal::InstanceLauncher& launcher, const Clock& clock,
            const SchedulerOptions& options, uint64_t memory_budget_bytes, MetricsRegistry* metrics = nullptr);
  ~Scheduler() override;

  const boost::asio::any_io_executor& executor() const { return executor_; }

  // A free slot on a ready instance of `revision` right now, without waiting; nullopt otherwise
  // (then call acquire()). The invocation hot path: no allocation, no suspension.
  std::optional<Lease> try_acquire(const std::shared_ptr<const store::Revision>& revision);
  // A slot on an instance of `revision`, starting one when needed. Errors: the start failure
  // (502), 503 function_at_capacity when `deadline` passes, 503 queue_full, 503
  // memory_budget_full, 503 memory_budget_too_small when an instance could never fit,
  // revision_retired when the revision was replaced or deleted, caller_gone when the operation
  // was cancelled (its caller went away; nothing more is started or evicted for it).
  boost::asio::awaitable<Result<Lease>> acquire(std::shared_ptr<const store::Revision> revision,
                                                std::chrono::steady_clock::time_point deadline);

  // RevisionLifecycle
  void track(std::shared_ptr<const store::Revision> revision) override;
  void serve_only(const std::string& function, std::span<const uint32_t> served) override;
  boost::asio::awaitable<size_t> stop_function(const std::string& function, std::chrono::milliseconds drain) override;

  // FunctionStatus
  std::vector<InstanceInfo> instances(const std::string& function) const override;
  size_t instance_count(const std::string& function) const override;
  ScaleStatus scale_status(const std::string& function) const override;

  // The runtime tells us an instance ended (crash, OOM, or a stop we asked for).
  void instance_exited(const std::shared_ptr<runtime::Instance>& instance);
  // One tick of the reaper (run() calls it every reap_interval; tests call the parts directly).
  void tick();
  // Stops instances idle past their revision's keep-alive.
  size_t stop_idle_instances();
  // Samples demand, asks each revision's autoscaler for a scale and starts or stops instances
  // toward it.
  void autoscale();
  // Starts instances for functions whose history says a call is due soon.
  void prewarm_due_functions();

  // Runs the reaper until shutdown().
  void start();
  // Refuses new requests and stops every instance; resolves when they are gone.
  boost::asio::awaitable<void> shutdown();
  size_t pending_stops() const { return pending_stops_; }

 private:
  friend class Lease;
  void release(Lease& lease);
  Lease take_slot(const std::shared_ptr<internal::RevisionPool>& pool, internal::Slot& slot,
                  std::optional<SteadyTime> waited_since);
  std::shared_ptr<internal::RevisionPool> pool_for(const std::shared_ptr<const store::Revision>& revision);
  void start_instance(std::shared_ptr<internal::RevisionPool> pool, bool prewarm = false);
  void stop_detached(std::shared_ptr<runtime::Instance> instance, bool kill);
  // Room in the memory budget for one more instance of `pool`, stopping idle instances of other
  // revisions (least recently used first) when that is enough. False: it does not fit.
  bool make_room_for(const internal::RevisionPool& pool);
  void wake_all_pools();
  boost::asio::awaitable<void> reap_loop();

  // Per function, across its revisions: invocation history and cold-start figures.
  struct FunctionHistory {
    explicit FunctionHistory(std::chrono::milliseconds keep_alive) : policy(keep_alive) {}
    KeepAlivePolicy policy;
    uint64_t cold_starts = 0;
    double cold_start_ms_total = 0;
    double last_cold_start_ms = 0;
    std::optional<SteadyTime> prewarmed_after;  // the invocation after which a pre-warm was started
  };
  FunctionHistory& history_of(const store::Revision& revision);

  boost::asio::any_io_executor executor_;
  internal::InstanceLauncher& launcher_;
  const Clock& clock_;
  SchedulerOptions options_;
  internal::MemoryBudget budget_;
  MetricsRegistry* metrics_;
  std::map<std::string, FunctionHistory, std::less<>> history_;
  internal::PoolMap pools_;
  boost::asio::steady_timer reap_timer_;
  bool stopping_ = false;
  size_t pending_stops_ = 0;
  std::map<std::string, size_t, std::less<>> pending_stops_of_;  // per function
  Notifier stop_finished_;
};

}  // namespace fnd::scheduler
