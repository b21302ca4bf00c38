// Places invocations on instances: picks the least loaded ready instance of a revision with a free
// concurrency slot, starts instances up to scale.max when all are busy, queues requests (bounded)
// until a slot frees, and stops instances idle longer than scale.keepAlive.
//
// Not thread safe: use from the io_context's thread only. Nothing here touches SQLite.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/metrics.hpp"
#include "core/notifier.hpp"
#include "core/time.hpp"
#include "runtime/instance.hpp"
#include "scheduler/autoscaler.hpp"
#include "scheduler/instance_launcher.hpp"
#include "scheduler/keep_alive_policy.hpp"
#include "store/function_repository.hpp"

namespace fnd::scheduler {

namespace internal {
struct RevisionPool;
struct Slot;
}

// Error codes acquire() makes (the gateway and other callers test them with these constants).
inline constexpr std::string_view kRevisionRetired = "revision_retired";  // a newer revision or a delete: look the function up again
inline constexpr std::string_view kCallerGone = "caller_gone";            // acquire was cancelled
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

struct InstanceInfo {
  std::string id;
  uint32_t revision = 0;
  std::string state;  // starting, ready, busy, stopping
  uint32_t in_flight = 0;
  int pid = 0;
  std::string origin;  // "stem cell" or "container": how it started
  SystemTime started_at;
  SystemTime last_used_at;
};

// What describe shows about a function's scale: the latest revision's autoscaler state.
struct ScaleStatus {
  uint32_t current = 0;   // instances ready or busy
  uint32_t starting = 0;
  uint32_t desired = 0;
  std::string mode = "stable";  // stable | panic
  double stable_demand = 0;
  double panic_demand = 0;
  KeepAliveWindows windows;     // keep-alive and pre-warm chosen for the function, and why
  uint64_t cold_starts = 0;     // invocations that waited for an instance to start
  double last_cold_start_ms = 0;
  double mean_cold_start_ms = 0;
};

struct SchedulerOptions {
  size_t max_queued_per_revision = 1000;  // waiting requests per revision before 503
  std::chrono::milliseconds reap_interval = std::chrono::seconds(1);  // also the autoscaler's sample interval
  AutoscalerSettings autoscaler;  // windows, thresholds; per-revision target/min/max come from the spec
  // Sum of resources.memory over all instances (running and starting); 0 = no budget. When a start
  // would pass it, idle instances of other functions are stopped, least recently used first.
  uint64_t memory_budget_bytes = 0;
  MetricsRegistry* metrics = nullptr;  // instance starts are counted here when set
};

class Scheduler {
 public:
  Scheduler(boost::asio::any_io_executor executor, InstanceLauncher& launcher, const Clock& clock,
            SchedulerOptions options = {});
  ~Scheduler();

  // A free slot on a ready instance of `revision` right now, without waiting; nullopt otherwise
  // (then call acquire()). The invocation hot path: no allocation, no suspension.
  std::optional<Lease> try_acquire(const std::shared_ptr<const store::Revision>& revision);
  // A slot on an instance of `revision`, starting one when needed. Errors: the start failure
  // (502), 503 function_at_capacity when the queue is full or `deadline` passes, 503
  // memory_budget_too_small when an instance could never fit, revision_retired (retryable:
  // look the function up again) when the revision was replaced or deleted, caller_gone when the
  // operation was cancelled (its caller went away; nothing more is started or evicted for it).
  boost::asio::awaitable<Result<Lease>> acquire(std::shared_ptr<const store::Revision> revision,
                                                std::chrono::steady_clock::time_point deadline);

  // A newer revision is live: older revisions stop taking requests; their idle instances stop now
  // and busy ones when their last request ends.
  void retire_older_revisions(const std::string& function, uint32_t current);
  // The function was deleted: waiting requests get revision_retired, idle instances stop now,
  // busy ones when their request ends, and those still busy after `drain` are killed. Resolves
  // when every instance has stopped. Returns how many were stopped.
  boost::asio::awaitable<size_t> stop_function(const std::string& function,
                                               std::chrono::milliseconds drain = std::chrono::milliseconds(0));
  // The runtime tells us an instance ended (crash, OOM, or a stop we asked for).
  void instance_exited(const std::shared_ptr<runtime::Instance>& instance);
  // Stops instances idle past their revision's keep-alive; called periodically by run().
  size_t stop_idle_instances();
  // Samples demand, asks each revision's autoscaler for a scale and starts or stops instances
  // toward it; called periodically by run() (tests call it with an injected clock).
  void autoscale();
  // Makes the scheduler manage a revision before its first request (scale.min instances).
  void track(std::shared_ptr<const store::Revision> revision);

  std::vector<InstanceInfo> instances(const std::string& function) const;
  size_t instance_count(const std::string& function) const;
  ScaleStatus scale_status(const std::string& function) const;

  // Runs the keep-alive reaper until shutdown().
  void start();
  boost::asio::awaitable<void> shutdown();

 private:
  friend class Lease;
  void release(Lease& lease);
  Lease take_slot(const std::shared_ptr<internal::RevisionPool>& pool, internal::Slot& slot,
                  std::optional<SteadyTime> waited_since);
  std::shared_ptr<internal::RevisionPool> pool_for(const std::shared_ptr<const store::Revision>& revision);
  void start_instance(std::shared_ptr<internal::RevisionPool> pool, bool prewarm = false);
  void stop_detached(std::shared_ptr<runtime::Instance> instance, bool kill);
  // Room in the memory budget for one more instance of `pool`, evicting idle instances of other
  // revisions (least recently used first) when needed. False: everything else is busy.
  bool make_room_for(const internal::RevisionPool& pool);
  uint64_t reserved_memory() const;
  void wake_all_pools();
  boost::asio::awaitable<void> reap_loop();

  boost::asio::any_io_executor executor_;
  InstanceLauncher& launcher_;
  const Clock& clock_;
  SchedulerOptions options_;
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
  void prewarm_due_functions();

  std::map<std::string, FunctionHistory, std::less<>> history_;
  // function → revision number → pool
  std::map<std::string, std::map<uint32_t, std::shared_ptr<internal::RevisionPool>>, std::less<>> pools_;
  boost::asio::steady_timer reap_timer_;
  bool stopping_ = false;
  size_t pending_stops_ = 0;
  std::map<std::string, size_t, std::less<>> pending_stops_of_;  // per function
  Notifier stop_finished_;
};

}  // namespace fnd::scheduler
