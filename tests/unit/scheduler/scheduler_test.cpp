// The Scheduler against a fake InstanceLauncher and an injected clock: placement, the queue and
// its deadline, the memory budget, scale-down, shutdown. No containers, no sleeps: the io_context
// is polled until the coroutine under test has finished.
#include "scheduler.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <deque>
#include <functional>

#include "core/notifier.hpp"
#include "runtime/instance.hpp"
#include <fmt/format.h>

namespace fnd::scheduler {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class FakeClock final : public Clock {
 public:
  SteadyTime now() const override { return now_; }
  void advance(std::chrono::milliseconds by) { now_ += by; }

 private:
  SteadyTime now_ = std::chrono::steady_clock::now();
};

// Starts instances at once (or holds them until release_starts()), records every stop.
class FakeLauncher final : public internal::InstanceLauncher {
 public:
  asio::awaitable<Result<std::shared_ptr<runtime::Instance>>> start(const store::Revision& revision) override {
    ++starts;
    if (fail_starts) co_return make_error("function_start_failed", "function failed to start: boom", 502);
    while (hold_starts) co_await released_.wait_until(std::chrono::steady_clock::now() + 1h);
    auto instance = std::make_shared<runtime::Instance>(
        fmt::format("{}-{}-{}", revision.function, revision.number, starts), revision.function, revision.number,
        revision.spec.resources.memory_bytes);
    instance->became_ready();
    co_return instance;
  }
  asio::awaitable<void> stop(std::shared_ptr<runtime::Instance> instance, bool kill) override {
    stopped.push_back(instance->id());
    killed += kill ? 1 : 0;
    instance->stopping();
    instance->exited(runtime::InstanceExit{0, 15, true, false, true, true});
    instance->cleaned_up();
    co_return;
  }
  void release_starts() {
    hold_starts = false;
    released_.notify_all();
  }

  int starts = 0;
  bool fail_starts = false;
  bool hold_starts = false;
  std::vector<std::string> stopped;
  int killed = 0;

 private:
  Notifier released_;
};

std::shared_ptr<const store::Revision> revision(std::string function, uint32_t concurrency = 10, uint32_t max = 10,
                                                uint64_t memory = 128ULL << 20, std::chrono::milliseconds keep_alive = 5min) {
  auto r = std::make_shared<store::Revision>();
  r->function = function;
  r->number = 1;
  r->spec.name = function;
  r->spec.scale.concurrency = concurrency;
  r->spec.scale.max = max;
  r->spec.scale.keep_alive = keep_alive;
  r->spec.resources.memory_bytes = memory;
  return r;
}

// co_spawn completes with a default-constructible result: the lease comes wrapped.
asio::awaitable<std::optional<Result<Lease>>> wrapped(Scheduler& scheduler, std::shared_ptr<const store::Revision> r,
                                                      std::chrono::steady_clock::time_point deadline) {
  co_return co_await scheduler.acquire(std::move(r), deadline);
}

struct Fixture {
  explicit Fixture(uint64_t budget = 0, SchedulerOptions options = {})
      : scheduler(io.get_executor(), launcher, clock, options, budget) {}

  // Runs acquire() to completion (or to its first suspension that nothing will end).
  Result<Lease> acquire(const std::shared_ptr<const store::Revision>& r,
                        std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::now() + 10s) {
    std::optional<Result<Lease>> got;
    asio::co_spawn(io, wrapped(scheduler, r, deadline),
                   [&](std::exception_ptr failure, std::optional<Result<Lease>> result) {
                     if (failure) std::rethrow_exception(failure);
                     if (result) got.emplace(std::move(*result));
                   });
    poll_until([&] { return got.has_value(); });
    INFO("starts " << launcher.starts << " stopped " << launcher.stopped.size());
    REQUIRE(got);
    return std::move(*got);
  }
  void poll_until(const std::function<bool()>& done) {
    for (int i = 0; i < 10000 && !done(); ++i) {
      io.restart();
      io.poll();
    }
  }
  void poll() { poll_until([] { return false; }); }

  asio::io_context io;
  FakeClock clock;
  FakeLauncher launcher;
  Scheduler scheduler;
};

uint32_t in_flight_of(const Scheduler& scheduler, const std::string& function, const std::string& id) {
  for (const auto& info : scheduler.instances(function)) {
    if (info.id == id) return info.in_flight;
  }
  return 0;
}

}  // namespace

TEST_CASE("a request takes the least loaded ready instance and a new one starts only when all are full", "[unit]") {
  Fixture f;
  auto hello = revision("hello", /*concurrency=*/2);
  auto first = f.acquire(hello);
  REQUIRE(first);
  CHECK(first->cold_start());
  CHECK(f.launcher.starts == 1);
  auto second = f.acquire(hello);  // the same instance still has a free slot
  REQUIRE(second);
  CHECK_FALSE(second->cold_start());
  CHECK(&second->instance() == &first->instance());
  CHECK(f.launcher.starts == 1);
  auto third = f.acquire(hello);  // full: a second instance starts
  REQUIRE(third);
  CHECK(&third->instance() != &first->instance());
  CHECK(f.launcher.starts == 2);
  const std::string a = first->instance().id();
  const std::string b = third->instance().id();
  { auto done = std::move(*second); }  // a: 1 in flight, b: 1
  { auto done = std::move(*first); }   // a: 0, b: 1
  auto fourth = f.scheduler.try_acquire(hello);
  REQUIRE(fourth);
  CHECK(fourth->instance().id() == a);  // the least loaded
  CHECK(in_flight_of(f.scheduler, "hello", a) == 1);
  CHECK(in_flight_of(f.scheduler, "hello", b) == 1);
}

TEST_CASE("a request that finds every instance busy waits in the queue until its deadline, then gets 503", "[unit]") {
  Fixture f;
  auto busy = revision("busy", 1, 1);
  auto held = f.acquire(busy);
  REQUIRE(held);
  auto late = f.acquire(busy, std::chrono::steady_clock::now());  // a deadline that has passed
  REQUIRE_FALSE(late);
  CHECK(late.error().code == "function_at_capacity");
  CHECK(late.error().http_status == 503);
  CHECK(late.error().retry_after_seconds > 0);
}

TEST_CASE("a waiting request gets the slot its predecessor frees, and the queue's bound answers queue_full", "[unit]") {
  SchedulerOptions options;
  options.max_queued_per_revision = 1;
  Fixture f(0, options);
  auto one = revision("one", 1, 1);
  std::optional<Lease> held;
  {
    auto got = f.acquire(one);
    REQUIRE(got);
    held.emplace(std::move(*got));
  }
  std::optional<Result<Lease>> waiting;
  asio::co_spawn(f.io, wrapped(f.scheduler, one, std::chrono::steady_clock::now() + 1h),
                 [&](std::exception_ptr, std::optional<Result<Lease>> result) { if (result) waiting.emplace(std::move(*result)); });
  f.poll();
  CHECK_FALSE(waiting);  // queued behind the held slot
  auto refused = f.acquire(one);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "queue_full");
  held.reset();  // the slot frees: the waiting request gets it
  f.poll_until([&] { return waiting.has_value(); });
  REQUIRE(waiting);
  CHECK(waiting->ok());
}

TEST_CASE("a full memory budget stops the least recently used idle instance of another function", "[unit]") {
  Fixture f(100ULL << 20);
  auto first = revision("first", 10, 10, 64ULL << 20);
  auto second = revision("second", 10, 10, 64ULL << 20);
  std::string first_id;
  {
    auto lease = f.acquire(first);
    REQUIRE(lease);
    first_id = lease->instance().id();
  }
  auto lease = f.acquire(second);
  REQUIRE(lease);
  f.poll();
  CHECK(f.launcher.stopped == std::vector<std::string>{first_id});
  CHECK(f.scheduler.instance_count("first") == 0);
  CHECK(f.scheduler.instance_count("second") == 1);
}

TEST_CASE("an instance larger than the whole budget is refused at once and evicts nobody", "[unit]") {
  Fixture f(100ULL << 20);
  auto small = revision("small", 10, 10, 64ULL << 20);
  auto huge = revision("huge", 10, 10, 200ULL << 20);
  { auto lease = f.acquire(small); REQUIRE(lease); }
  auto refused = f.acquire(huge);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == kMemoryBudgetTooSmall);
  CHECK(f.launcher.stopped.empty());
  CHECK(f.launcher.starts == 1);
}

TEST_CASE("a failed start is the request's answer", "[unit]") {
  Fixture f;
  f.launcher.fail_starts = true;
  auto got = f.acquire(revision("broken"));
  REQUIRE_FALSE(got);
  CHECK(got.error().code == "function_start_failed");
  CHECK(got.error().http_status == 502);
}

TEST_CASE("an idle instance stops after its keep-alive, measured on the injected clock", "[unit]") {
  Fixture f;
  auto brief = revision("brief", 10, 10, 128ULL << 20, 2s);
  { auto lease = f.acquire(brief); REQUIRE(lease); }
  f.clock.advance(1s);
  CHECK(f.scheduler.stop_idle_instances() == 0);
  f.clock.advance(1500ms);
  CHECK(f.scheduler.stop_idle_instances() == 1);
  f.poll();
  CHECK(f.launcher.stopped.size() == 1);
  CHECK(f.scheduler.instance_count("brief") == 0);
}

TEST_CASE("the autoscaler starts instances for sustained demand and stops the surplus when it ends", "[unit]") {
  Fixture f;
  auto busy = revision("demand", /*concurrency=*/1, /*max=*/5);
  std::vector<Lease> held;
  for (int i = 0; i < 3; ++i) {
    auto lease = f.acquire(busy);
    REQUIRE(lease);
    held.push_back(std::move(*lease));
  }
  CHECK(f.scheduler.instance_count("demand") == 3);
  held.clear();
  // Calm for longer than the stable window: the surplus goes, one warm instance stays.
  for (int i = 0; i < 70; ++i) {
    f.clock.advance(1s);
    f.scheduler.autoscale();
  }
  f.poll();
  CHECK(f.scheduler.instance_count("demand") == 1);
  CHECK(f.launcher.stopped.size() == 2);
}

TEST_CASE("deleting a function drains: requests in flight keep their instance, waiting ones are told, then all stop", "[unit]") {
  Fixture f;
  auto gone = revision("gone", 1, 1);
  std::optional<Lease> held;
  {
    auto got = f.acquire(gone);
    REQUIRE(got);
    held.emplace(std::move(*got));
  }
  std::optional<Result<Lease>> waiting;
  asio::co_spawn(f.io, wrapped(f.scheduler, gone, std::chrono::steady_clock::now() + 1h),
                 [&](std::exception_ptr, std::optional<Result<Lease>> result) { if (result) waiting.emplace(std::move(*result)); });
  f.poll();
  std::optional<size_t> stopped;
  asio::co_spawn(f.io, f.scheduler.stop_function("gone", 1h), [&](std::exception_ptr, size_t n) { stopped = n; });
  f.poll_until([&] { return waiting.has_value(); });
  REQUIRE(waiting);
  REQUIRE_FALSE(*waiting);
  CHECK(waiting->error().code == kRevisionRetired);
  CHECK_FALSE(stopped);  // the request in flight still runs
  CHECK(f.launcher.stopped.empty());
  held.reset();
  f.poll_until([&] { return stopped.has_value(); });
  CHECK(stopped == 1u);
  CHECK(f.launcher.stopped.size() == 1);
}

TEST_CASE("shutdown refuses new requests and stops every instance", "[unit]") {
  Fixture f;
  for (auto name : {"a", "b", "c"}) {
    auto lease = f.acquire(revision(name));
    REQUIRE(lease);
  }
  bool done = false;
  asio::co_spawn(f.io, f.scheduler.shutdown(), [&](std::exception_ptr) { done = true; });
  f.poll_until([&] { return done; });
  CHECK(done);
  CHECK(f.launcher.stopped.size() == 3);
  auto refused = f.acquire(revision("a"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "shutting_down");
}

}  // namespace fnd::scheduler
