#include "scheduler.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/units.hpp"
#include "scheduler/invoker.hpp"

namespace fnd::scheduler {

namespace asio = boost::asio;

namespace {

Error capacity_error(std::string code, std::string message, int retry_after_seconds) {
  Error e = make_error(std::move(code), std::move(message), 503);
  e.retry_after_seconds = retry_after_seconds;
  return e;
}

}  // namespace

Lease::Lease(Scheduler* scheduler, std::shared_ptr<internal::RevisionPool> pool,
             std::shared_ptr<runtime::Instance> instance, bool cold_start)
    : scheduler_(scheduler), pool_(std::move(pool)), instance_(std::move(instance)), cold_start_(cold_start) {}

Lease::Lease(Lease&& other) noexcept
    : scheduler_(std::exchange(other.scheduler_, nullptr)),
      pool_(std::move(other.pool_)),
      instance_(std::move(other.instance_)),
      recycle_(other.recycle_),
      cold_start_(other.cold_start_) {}

Lease::~Lease() {
  if (scheduler_) scheduler_->release(*this);
}

Scheduler::Scheduler(asio::any_io_executor executor, internal::InstanceLauncher& launcher, const Clock& clock,
                     const SchedulerOptions& options, uint64_t memory_budget_bytes, MetricsRegistry* metrics)
    : executor_(executor),
      launcher_(launcher),
      clock_(clock),
      options_(options),
      budget_(memory_budget_bytes),
      metrics_(metrics),
      reap_timer_(executor) {}

Scheduler::~Scheduler() = default;

std::shared_ptr<internal::RevisionPool> Scheduler::pool_for(const std::shared_ptr<const store::Revision>& revision) {
  auto& pool = pools_[revision->function][revision->number];
  if (!pool) pool = std::make_shared<internal::RevisionPool>(revision, options_.autoscaler);
  return pool;
}

Scheduler::FunctionHistory& Scheduler::history_of(const store::Revision& revision) {
  auto it = history_.find(revision.function);
  if (it == history_.end()) it = history_.emplace(revision.function, FunctionHistory(revision.spec.scale.keep_alive)).first;
  return it->second;
}

Lease Scheduler::take_slot(const std::shared_ptr<internal::RevisionPool>& pool, internal::Slot& slot,
                           std::optional<SteadyTime> waited_since) {
  ++slot.in_flight;
  slot.prewarmed = false;
  slot.last_used = clock_.now();
  slot.last_used_wall = std::chrono::system_clock::now();
  if (waited_since) {
    double ms = std::chrono::duration<double, std::milli>(clock_.now() - *waited_since).count();
    FunctionHistory& h = history_of(*pool->revision);
    ++h.cold_starts;
    h.cold_start_ms_total += ms;
    h.last_cold_start_ms = ms;
  }
  return Lease(this, pool, slot.instance, waited_since.has_value());
}

std::optional<Lease> Scheduler::try_acquire(const std::shared_ptr<const store::Revision>& revision) {
  if (stopping_) return std::nullopt;
  auto pool = pool_for(revision);
  if (pool->retired) return std::nullopt;
  internal::Slot* slot = pool->least_loaded_free_slot();
  if (!slot) return std::nullopt;
  history_of(*revision).policy.record_invocation(clock_.now());
  return take_slot(pool, *slot, std::nullopt);
}

asio::awaitable<Result<Lease>> Scheduler::acquire(std::shared_ptr<const store::Revision> revision,
                                                  std::chrono::steady_clock::time_point deadline) {
  auto pool = pool_for(revision);
  const auto& scale = revision->spec.scale;
  const std::string& function = revision->function;
  uint64_t failures_seen = pool->start_failures;
  const SteadyTime asked_at = clock_.now();
  history_of(*revision).policy.record_invocation(asked_at);  // O(1); the windows are computed by the reaper's tick
  bool waited_for_start = false;
  while (true) {
    if (stopping_) co_return capacity_error("shutting_down", "fnd is shutting down; retry on another node or after restart", 5);
    // The caller left (its client hung up): nothing more is started or evicted for it.
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
      co_return make_error(std::string(kCallerGone), fmt::format("the caller of function '{}' went away", function), 499);
    }
    if (pool->retired) {
      Error e = make_error(std::string(kRevisionRetired), fmt::format("revision {} of function '{}' no longer takes requests",
                                                                      revision->number, function), 503);
      e.retryable = true;
      co_return e;
    }
    if (internal::Slot* slot = pool->least_loaded_free_slot()) {
      co_return take_slot(pool, *slot, waited_for_start ? std::optional<SteadyTime>(asked_at) : std::nullopt);
    }
    // An instance that could never fit, not even in an empty budget: say so now, and evict nobody.
    if (!budget_.could_ever_fit(pool->memory_per_instance()) && pool->slots.empty() && pool->starting == 0) {
      co_return make_error(std::string(kMemoryBudgetTooSmall),
                           fmt::format("function '{}' needs {} (resources.memory) but the whole instance memory budget "
                                       "is {}: lower resources.memory or raise scheduler.memory_budget", function,
                                       format_bytes(pool->memory_per_instance()), format_bytes(budget_.bytes())), 503);
    }
    if (pool->start_failures != failures_seen && pool->last_start_error && pool->starting == 0) {
      co_return *pool->last_start_error;
    }
    // Start another instance when the ones starting cannot absorb everyone waiting (us included).
    const size_t waiting = pool->changed.waiting() + 1;
    const size_t total = pool->slots.size() + pool->starting;
    bool memory_full = false;
    if (total < scale.max && static_cast<size_t>(pool->starting) * scale.concurrency < waiting) {
      if (make_room_for(*pool)) {
        start_instance(pool);
        waited_for_start = true;
      } else {
        memory_full = pool->slots.empty() && pool->starting == 0;
      }
    }
    // A start may finish before we wait (a launcher that fails or succeeds without suspending):
    // then there is nothing to wait for.
    if (pool->least_loaded_free_slot() || (pool->start_failures != failures_seen && pool->starting == 0)) continue;
    if (pool->changed.waiting() >= options_.max_queued_per_revision) {
      co_return capacity_error("queue_full", fmt::format("function '{}' already has {} requests waiting for a free "
                                                         "instance, the queue limit; retry later or raise scale.max",
                                                         function, pool->changed.waiting()), 1);
    }
    if (!co_await pool->changed.wait_until(deadline)) {
      if (memory_full) {
        co_return capacity_error("memory_budget_full",
                                 fmt::format("function '{}' could not start: the instance memory budget ({}) is taken "
                                             "by busy instances; retry later or raise scheduler.memory_budget",
                                             function, format_bytes(budget_.bytes())), 1);
      }
      co_return capacity_error("function_at_capacity",
                               fmt::format("function '{}' had no free instance in time: all {} instances (scale.max) are "
                                           "busy with {} requests each (scale.concurrency); raise them or retry later",
                                           function, scale.max, scale.concurrency), 1);
    }
  }
}

void Scheduler::start_instance(std::shared_ptr<internal::RevisionPool> pool, bool prewarm) {
  ++pool->starting;
  asio::co_spawn(executor_, [this, pool, prewarm]() -> asio::awaitable<void> {
    const SteadyTime asked_at = clock_.now();
    auto started = co_await launcher_.start(*pool->revision);
    --pool->starting;
    if (started) {
      auto instance = *started;
      if (metrics_) {
        FunctionMetrics& metrics = metrics_->function(pool->revision->function);
        metrics.cold_starts[static_cast<size_t>(instance->origin())].add();
        metrics.cold_start_duration.observe(clock_.now() - asked_at);
      }
      if (pool->retired || stopping_ || instance->exit()) {
        stop_detached(instance, false);
      } else {
        pool->slots.push_back({instance, 0, clock_.now(), std::chrono::system_clock::now(), false, prewarm});
      }
    } else {
      spdlog::warn("{}", started.error().message);
      pool->last_start_error = started.error();
      ++pool->start_failures;
    }
    pool->changed.notify_all();
  }, asio::detached);
}

bool Scheduler::make_room_for(const internal::RevisionPool& pool) {
  auto evictions = budget_.make_room(pool, pools_);
  if (!evictions) return false;
  for (auto& eviction : *evictions) {
    spdlog::info("memory budget full: stopping idle instance {} to start one of {}", eviction.instance->id(),
                 pool.revision->function);
    eviction.pool->erase(*eviction.instance);
    stop_detached(eviction.instance, false);
  }
  return true;
}

void Scheduler::wake_all_pools() {
  for (auto& [function, revisions] : pools_) {
    for (auto& [number, pool] : revisions) pool->changed.notify_all();
  }
}

void Scheduler::stop_detached(std::shared_ptr<runtime::Instance> instance, bool kill) {
  ++pending_stops_;
  ++pending_stops_of_[instance->function()];
  // Memory was released with the slot: requests waiting on the budget may go on.
  if (budget_.limited()) wake_all_pools();
  asio::co_spawn(executor_, [this, instance, kill]() -> asio::awaitable<void> {
    co_await launcher_.stop(instance, kill);
    --pending_stops_;
    if (auto it = pending_stops_of_.find(instance->function()); it != pending_stops_of_.end() && --it->second == 0) {
      pending_stops_of_.erase(it);
    }
    stop_finished_.notify_all();
  }, asio::detached);
}

void Scheduler::release(Lease& lease) {
  internal::RevisionPool& pool = *lease.pool_;
  internal::Slot* slot = pool.find(*lease.instance_);
  if (!slot) return;  // the instance already ended and left the pool
  --slot->in_flight;
  slot->last_used = clock_.now();
  slot->last_used_wall = std::chrono::system_clock::now();
  if (lease.recycle_) slot->recycle = true;
  if (slot->recycle || (pool.retired && slot->in_flight == 0)) {
    if (slot->in_flight == 0 || lease.recycle_) {
      auto instance = slot->instance;
      pool.erase(*instance);
      stop_detached(instance, true);
    }
  }
  pool.changed.notify_all();
}

void Scheduler::instance_exited(const std::shared_ptr<runtime::Instance>& instance) {
  if (budget_.limited()) wake_all_pools();
  auto fn = pools_.find(instance->function());
  if (fn == pools_.end()) return;
  auto rev = fn->second.find(instance->revision());
  if (rev == fn->second.end()) return;
  rev->second->erase(*instance);
  rev->second->changed.notify_all();
}

void Scheduler::track(std::shared_ptr<const store::Revision> revision) {
  pool_for(revision);
  launcher_.prepare(std::move(revision));
}

void Scheduler::serve_only(const std::string& function, std::span<const uint32_t> served) {
  auto fn = pools_.find(function);
  if (fn == pools_.end()) return;
  for (auto it = fn->second.begin(); it != fn->second.end();) {
    auto& pool = it->second;
    if (std::binary_search(served.begin(), served.end(), it->first)) {
      pool->retired = false;  // named again (a rollback): its instances still running serve at once
      ++it;
      continue;
    }
    pool->retired = true;
    std::vector<std::shared_ptr<runtime::Instance>> idle;
    for (auto& slot : pool->slots) {
      if (slot.in_flight == 0) idle.push_back(slot.instance);
    }
    for (auto& instance : idle) {
      pool->erase(*instance);
      stop_detached(instance, false);
    }
    pool->changed.notify_all();
    if (pool->slots.empty() && pool->starting == 0) it = fn->second.erase(it);
    else ++it;
  }
}

asio::awaitable<size_t> Scheduler::stop_function(const std::string& function, std::chrono::milliseconds drain) {
  if (auto h = history_.find(function); h != history_.end()) history_.erase(h);
  launcher_.forget(function);
  auto fn = pools_.find(function);
  if (fn == pools_.end()) co_return 0;
  std::vector<std::shared_ptr<internal::RevisionPool>> retired;
  size_t stopped = 0;
  for (auto& [number, pool] : fn->second) {
    pool->retired = true;
    // Idle instances stop now; busy ones when their request ends (Lease release stops them).
    std::vector<std::shared_ptr<runtime::Instance>> idle;
    for (auto& slot : pool->slots) {
      if (slot.in_flight == 0) idle.push_back(slot.instance);
    }
    for (auto& instance : idle) {
      pool->erase(*instance);
      stop_detached(instance, false);
      ++stopped;
    }
    pool->changed.notify_all();  // waiting requests see the retirement
    retired.push_back(pool);
  }
  pools_.erase(fn);
  auto busy = [&] {
    size_t n = 0;
    for (const auto& pool : retired) n += pool->slots.size() + pool->starting;
    return n;
  };
  // In-flight requests may finish, up to `drain`.
  const auto drain_deadline = clock_.now() + drain;
  stopped += busy();
  while (busy() > 0 && clock_.now() < drain_deadline) co_await stop_finished_.wait_until(drain_deadline);
  for (const auto& pool : retired) {
    std::vector<std::shared_ptr<runtime::Instance>> left;
    for (auto& slot : pool->slots) left.push_back(slot.instance);
    for (auto& instance : left) {
      pool->erase(*instance);
      stop_detached(instance, true);
    }
  }
  // Every stop finishes before the function counts as gone (a start still in flight stops
  // itself when it completes: its pool is retired).
  const auto stop_deadline = clock_.now() + std::chrono::seconds(30);
  auto still_stopping = [&] {
    auto it = pending_stops_of_.find(function);
    return (it != pending_stops_of_.end() && it->second > 0) || busy() > 0;
  };
  while (still_stopping() && clock_.now() < stop_deadline) co_await stop_finished_.wait_until(stop_deadline);
  co_return stopped;
}

void Scheduler::prewarm_due_functions() {
  const SteadyTime now = clock_.now();
  for (auto& [function, history] : history_) {
    auto last = history.policy.last_invocation();
    if (!last || history.prewarmed_after == last) continue;
    KeepAliveWindows windows = history.policy.windows();
    if (windows.prewarm.count() == 0 || now < *last + windows.prewarm) continue;
    history.prewarmed_after = last;
    auto fn = pools_.find(function);
    if (fn == pools_.end() || fn->second.empty()) continue;
    auto pool = fn->second.rbegin()->second;  // the latest revision
    if (pool->retired || !pool->slots.empty() || pool->starting > 0) continue;
    if (make_room_for(*pool)) start_instance(pool, true);
  }
}

size_t Scheduler::stop_idle_instances() {
  size_t stopped = 0;
  const SteadyTime now = clock_.now();
  for (auto& [function, revisions] : pools_) {
    for (auto& [number, pool] : revisions) {
      auto keep_alive = pool->revision->spec.scale.keep_alive;
      IdleLimits limits{keep_alive, keep_alive};
      if (auto h = history_.find(function); h != history_.end()) limits = idle_limits(h->second.policy.windows(), keep_alive);
      size_t keep = pool->retired ? 0 : pool->revision->spec.scale.min;
      std::vector<std::shared_ptr<runtime::Instance>> idle;
      for (auto& slot : pool->slots) {
        if (pool->slots.size() - idle.size() <= keep) break;
        if (slot.in_flight == 0 && now - slot.last_used >= (slot.prewarmed ? limits.prewarmed : limits.after_use)) {
          idle.push_back(slot.instance);
        }
      }
      for (auto& instance : idle) {
        pool->erase(*instance);
        stop_detached(instance, false);
        ++stopped;
      }
    }
  }
  return stopped;
}

void Scheduler::autoscale() {
  const SteadyTime now = clock_.now();
  for (auto& [function, revisions] : pools_) {
    for (auto& [number, pool] : revisions) {
      if (pool->retired) continue;
      double demand = static_cast<double>(pool->changed.waiting());
      uint32_t ready = 0;
      for (const auto& slot : pool->slots) {
        demand += slot.in_flight;
        if (slot.instance->state() == runtime::InstanceState::ready) ++ready;
      }
      pool->autoscaler.record(now, demand);
      pool->last_decision = pool->autoscaler.decide(now, ready);
      size_t want = pool->last_decision.desired;
      size_t have = pool->slots.size() + pool->starting;
      for (; have < want && make_room_for(*pool); ++have) start_instance(pool);
      // Above the desired scale: stop idle instances, least recently used first. The last one
      // (scale.min = 0) stays until its keep-alive expires, as a warm instance for the next request.
      size_t keep = std::max<size_t>(want, 1);
      while (pool->slots.size() > keep) {
        auto idle = std::min_element(pool->slots.begin(), pool->slots.end(), [](const auto& a, const auto& b) {
          if ((a.in_flight == 0) != (b.in_flight == 0)) return a.in_flight == 0;
          return a.last_used < b.last_used;
        });
        if (idle == pool->slots.end() || idle->in_flight > 0) break;
        auto instance = idle->instance;
        pool->erase(*instance);
        stop_detached(instance, false);
      }
    }
  }
}

void Scheduler::tick() {
  autoscale();
  prewarm_due_functions();
  stop_idle_instances();
}

ScaleStatus Scheduler::scale_status(const std::string& function) const {
  ScaleStatus status;
  auto fn = pools_.find(function);
  if (fn == pools_.end() || fn->second.empty()) return status;
  const auto& pool = *fn->second.rbegin()->second;
  status.current = static_cast<uint32_t>(pool.slots.size());
  status.starting = pool.starting;
  status.desired = pool.last_decision.desired;
  status.mode = std::string(to_string(pool.last_decision.mode));
  status.stable_demand = pool.last_decision.stable_demand;
  status.panic_demand = pool.last_decision.panic_demand;
  if (auto h = history_.find(function); h != history_.end()) {
    status.windows = h->second.policy.windows();
    status.cold_starts = h->second.cold_starts;
    status.last_cold_start_ms = h->second.last_cold_start_ms;
    status.mean_cold_start_ms = h->second.cold_starts ? h->second.cold_start_ms_total / static_cast<double>(h->second.cold_starts) : 0;
  } else {
    status.windows = KeepAlivePolicy(pool.revision->spec.scale.keep_alive).windows();
  }
  return status;
}

std::vector<InstanceInfo> Scheduler::instances(const std::string& function) const {
  std::vector<InstanceInfo> out;
  auto fn = pools_.find(function);
  if (fn == pools_.end()) return out;
  for (const auto& [number, pool] : fn->second) {
    for (const auto& slot : pool->slots) {
      const auto& instance = *slot.instance;
      std::string state(runtime::to_string(instance.state()));
      if (instance.state() == runtime::InstanceState::ready && slot.in_flight > 0) state = "busy";
      out.push_back({instance.id(), number, state, slot.in_flight, instance.pid(),
                     std::string(runtime::to_string(instance.origin())), instance.started_at(), slot.last_used_wall});
    }
    for (uint32_t i = 0; i < pool->starting; ++i) out.push_back({"", number, "starting", 0, 0, {}, {}, {}});
  }
  return out;
}

size_t Scheduler::instance_count(const std::string& function) const {
  auto fn = pools_.find(function);
  if (fn == pools_.end()) return 0;
  size_t n = 0;
  for (const auto& [number, pool] : fn->second) n += pool->slots.size();
  return n;
}

void Scheduler::start() { asio::co_spawn(executor_, reap_loop(), asio::detached); }

asio::awaitable<void> Scheduler::reap_loop() {
  while (!stopping_) {
    reap_timer_.expires_after(options_.reap_interval);
    auto [ec] = co_await reap_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || stopping_) break;
    tick();
  }
}

asio::awaitable<void> Scheduler::shutdown() {
  stopping_ = true;
  reap_timer_.cancel();
  wake_all_pools();
  std::vector<std::string> names;
  for (auto& [function, revisions] : pools_) names.push_back(function);
  for (auto& name : names) co_await stop_function(name, std::chrono::milliseconds(0));
  const auto deadline = clock_.now() + std::chrono::seconds(30);
  while (pending_stops_ > 0 && clock_.now() < deadline) co_await stop_finished_.wait_until(deadline);
}

}  // namespace fnd::scheduler
