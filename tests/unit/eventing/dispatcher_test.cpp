#include "eventing/dispatcher.hpp"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "eventing/cloud_event.hpp"
#include "eventing/delivery.hpp"
#include "eventing/event_format.hpp"
#include "eventing/sleeper.hpp"
#include "eventing/trigger.hpp"
#include "store/event_log.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using fnd::SteadyTime;
using fnd::SystemTime;
using fnd::eventing::AttemptResult;
using fnd::eventing::CloudEvent;
using fnd::eventing::Destination;
using fnd::eventing::DestinationKind;
using fnd::eventing::DispatcherOptions;
using fnd::eventing::DispatcherState;
using fnd::eventing::DispatcherStats;
using fnd::eventing::OrderingMode;
using fnd::eventing::TriggerDispatcher;
using fnd::eventing::TriggerSpec;

namespace {

const SteadyTime kSteadyStart = SteadyTime(std::chrono::seconds(1000));
// The wall time kSteadyStart stands for: 2026-01-01T00:00:00Z.
const SystemTime kWallStart = SystemTime(std::chrono::seconds(1767225600));

SystemTime wall_of(SteadyTime at) {
  return kWallStart + std::chrono::duration_cast<SystemTime::duration>(at - kSteadyStart);
}

// Time moves only when a test says so; a sleep ends when the test moves the clock to its deadline.
// The event log reads the clock from its writer thread, hence the atomic.
class ManualTime final : public fnd::Clock, public fnd::eventing::Sleeper {
 public:
  SteadyTime now() const override { return SteadyTime(std::chrono::nanoseconds(nanos_.load())); }

  asio::awaitable<void> sleep_until(SteadyTime deadline) override {
    if (now() >= deadline) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor, SteadyTime::max());
    const auto sleep = sleeps_.insert(sleeps_.end(), Sleep{deadline, &timer, false});
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    sleeps_.erase(sleep);
  }

  void wake_all() override {
    for (Sleep& sleep : sleeps_) wake(sleep);
  }

  void advance(std::chrono::nanoseconds by) {
    nanos_ += by.count();
    for (Sleep& sleep : sleeps_) {
      if (sleep.deadline <= now()) wake(sleep);
    }
  }

  // Sleeps under way and not woken yet.
  size_t sleeping() const {
    return static_cast<size_t>(std::count_if(sleeps_.begin(), sleeps_.end(), [](const Sleep& s) { return !s.woken; }));
  }

  // How long until the earliest sleep under way ends.
  std::optional<std::chrono::nanoseconds> next_wait() const {
    std::optional<SteadyTime> earliest;
    for (const Sleep& sleep : sleeps_) {
      if (!sleep.woken && (!earliest || sleep.deadline < *earliest)) earliest = sleep.deadline;
    }
    if (!earliest) return std::nullopt;
    return *earliest - now();
  }

 private:
  struct Sleep {
    SteadyTime deadline;
    asio::steady_timer* timer;
    bool woken;
  };
  void wake(Sleep& sleep) {
    if (sleep.woken) return;
    sleep.woken = true;
    sleep.timer->cancel();
  }

  std::atomic<int64_t> nanos_{
      std::chrono::duration_cast<std::chrono::nanoseconds>(kSteadyStart.time_since_epoch()).count()};
  std::list<Sleep> sleeps_;
};

AttemptResult answer(int status, std::string body = {}) {
  AttemptResult result;
  result.status = status;
  result.body = std::move(body);
  return result;
}

struct Call {
  Destination destination;
  CloudEvent event;
  SteadyTime at;
  std::chrono::milliseconds timeout;
};

// Answers at once with what `respond` says; nullopt parks the call until release().
class FakeSubscriber final : public fnd::eventing::Subscriber {
 public:
  explicit FakeSubscriber(const ManualTime& time) : time_(time) {}

  std::function<std::optional<AttemptResult>(const Destination&, const CloudEvent&)> respond =
      [](const Destination&, const CloudEvent&) { return std::optional<AttemptResult>(answer(200)); };
  std::vector<Call> calls;
  size_t most_parked = 0;

  asio::awaitable<AttemptResult> deliver(const Destination& destination, const CloudEvent& event,
                                         std::chrono::milliseconds timeout) override {
    calls.push_back({destination, event, time_.now(), timeout});
    std::optional<AttemptResult> result = respond(destination, event);
    if (result) co_return std::move(*result);
    asio::steady_timer timer(co_await asio::this_coro::executor, SteadyTime::max());
    const auto parked = parked_.insert(parked_.end(), Parked{std::string(event.id()), &timer, std::nullopt});
    most_parked = std::max(most_parked, parked_.size());
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    AttemptResult released = std::move(*parked->result);
    parked_.erase(parked);
    co_return released;
  }

  // The ids of the parked calls not released yet, in the order they came.
  std::vector<std::string> parked() const {
    std::vector<std::string> ids;
    for (const Parked& call : parked_) {
      if (!call.result) ids.push_back(call.id);
    }
    return ids;
  }

  bool release(std::string_view id, AttemptResult result) {
    for (Parked& call : parked_) {
      if (call.id == id && !call.result) {
        call.result = std::move(result);
        call.timer->cancel();
        return true;
      }
    }
    return false;
  }

  void release_all(const AttemptResult& result) {
    for (Parked& call : parked_) {
      if (!call.result) {
        call.result = result;
        call.timer->cancel();
      }
    }
  }

  // The ids of the events delivered to `destination`, in call order.
  std::vector<std::string> ids(std::string_view destination = "function:billing") const {
    std::vector<std::string> out;
    for (const Call& call : calls) {
      if (fnd::eventing::to_string(call.destination) == destination) out.emplace_back(call.event.id());
    }
    return out;
  }

 private:
  struct Parked {
    std::string id;
    asio::steady_timer* timer;
    std::optional<AttemptResult> result;
  };
  const ManualTime& time_;
  std::list<Parked> parked_;
};

class FakeReplies final : public fnd::eventing::ReplyPublisher {
 public:
  std::function<fnd::Status(const CloudEvent&)> respond = [](const CloudEvent&) { return fnd::Status{}; };
  std::vector<std::pair<std::string, CloudEvent>> published;

  asio::awaitable<fnd::Status> publish(const std::string& broker, const CloudEvent& reply) override {
    fnd::Status outcome = respond(reply);
    if (outcome) published.emplace_back(broker, reply);
    co_return outcome;
  }
};

CloudEvent event(std::string id, std::string type = "com.shop.order.created") {
  CloudEvent e;
  e.set_attribute("specversion", std::string("1.0"));
  e.set_attribute("id", std::move(id));
  e.set_attribute("source", std::string("/shop"));
  e.set_attribute("type", std::move(type));
  return e;
}

CloudEvent keyed(std::string id, std::string key) {
  CloudEvent e = event(std::move(id));
  e.set_attribute("partitionkey", std::move(key));
  return e;
}

TriggerSpec trigger(uint32_t retries = 3, std::chrono::milliseconds base = 200ms) {
  TriggerSpec spec;
  spec.name = "bill-orders";
  spec.broker = "shop";
  spec.subscriber = {DestinationKind::function, "billing"};
  spec.delivery.retries = retries;
  spec.delivery.backoff = {fnd::eventing::BackoffKind::exponential, base};
  spec.delivery.jitter = 0;
  REQUIRE(fnd::eventing::validate(spec).ok());
  return spec;
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "fnd-dispatcher-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { fs::remove_all(path); }
};

// A real event log in a temp directory, a dispatcher on an io_context the test drives, fakes for
// the subscriber and the reply publisher, and manual time.
class Harness {
 public:
  TempDir dir;
  ManualTime time;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  asio::thread_pool blocking{1};
  std::unique_ptr<fnd::store::EventLog> log;
  FakeSubscriber subscriber{time};
  FakeReplies replies;
  std::unique_ptr<TriggerDispatcher> dispatcher;

  Harness() { open_log(); }
  ~Harness() {
    stop();
    blocking.join();
  }

  void open_log() {
    auto opened = fnd::store::EventLog::open((dir.path / "events.db").string(), {}, time, wall_of(time.now()));
    REQUIRE(opened.ok());
    log = std::move(opened).value();
  }

  void start(TriggerSpec spec, DispatcherOptions options = {}) {
    fnd::eventing::DispatcherServices services{
        *log, io.get_executor(), blocking.get_executor(), subscriber, replies, time, time, wall_of(time.now()), 42};
    dispatcher = std::make_unique<TriggerDispatcher>(std::move(spec), services, options);
    dispatcher->start();
    REQUIRE(run_until([&] { return stats().state == DispatcherState::running; }));
  }

  // Stops the dispatcher (parked subscriber calls are answered 503 so that stop can complete).
  void stop() {
    if (!dispatcher) return;
    bool stopped = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await dispatcher->stop();
          stopped = true;
        },
        asio::detached);
    subscriber.release_all(answer(503));
    run_until([&] { return stopped; });
    dispatcher.reset();
  }

  // Stops everything and starts again on the same files: a restart of fnd.
  void restart(TriggerSpec spec, DispatcherOptions options = {}) {
    stop();
    log.reset();
    open_log();
    start(std::move(spec), options);
  }

  uint64_t append(const CloudEvent& e, std::string_view broker = "shop") {
    std::vector<fnd::store::NewEvent> events;
    events.push_back({std::string(e.id()), std::string(e.source()), fnd::eventing::to_json(e)});
    auto appended = log->append(broker, std::move(events));
    REQUIRE(appended.ok());
    if (dispatcher) dispatcher->notify_new_events();
    return appended->front().offset;
  }

  DispatcherStats stats() const { return dispatcher->stats(); }

  // Runs the io_context until `done` holds; false after 10 s of real time (a hung test fails
  // instead of hanging). Waits only for handlers, never sleeps.
  template <typename Condition>
  bool run_until(Condition done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.run_one_for(5ms);
    }
    return true;
  }

  // Runs until `count` sleeps are under way (a retry is being waited for).
  void until_sleeping(size_t count = 1) {
    REQUIRE(run_until([&] { return time.sleeping() == count; }));
  }

  std::vector<fnd::store::PendingDelivery> unfinished() {
    auto pending = log->unfinished(fnd::eventing::consumer_name("bill-orders"), 100);
    REQUIRE(pending.ok());
    return pending.value();
  }

  fnd::store::ConsumerCounters counters() {
    auto found = log->counters(fnd::eventing::consumer_name("bill-orders"));
    REQUIRE(found.ok());
    REQUIRE(found->has_value());
    return **found;
  }
};

}  // namespace

TEST_CASE("dispatcher delivers a new event once and moves the cursor", "[unit][dispatch]") {
  Harness h;
  h.start(trigger());
  CHECK(fnd::eventing::consumer_name("bill-orders") == "trigger:bill-orders");
  CHECK(h.time.sleeping() == 0);  // idle: nothing waits on time
  const uint64_t offset = h.append(event("e1"));
  REQUIRE(h.run_until([&] { return h.stats().cursor == offset; }));
  CHECK(h.subscriber.ids() == std::vector<std::string>{"e1"});
  CHECK(h.subscriber.calls[0].timeout == 30s);
  const DispatcherStats stats = h.stats();
  CHECK(stats.delivered == 1);
  CHECK(stats.attempts == 1);
  CHECK(stats.in_flight == 0);
  CHECK(stats.last_error.empty());
  const auto counters = h.counters();
  CHECK(counters.cursor == offset);
  CHECK(counters.delivered == 1);
  CHECK(h.time.sleeping() == 0);
}

TEST_CASE("a new trigger starts at the broker's head unless told otherwise", "[unit][dispatch]") {
  SECTION("new events only") {
    Harness h;
    h.append(event("old"));
    h.start(trigger());
    const uint64_t offset = h.append(event("new"));
    REQUIRE(h.run_until([&] { return h.stats().cursor == offset; }));
    CHECK(h.subscriber.ids() == std::vector<std::string>{"new"});
  }
  SECTION("existing events too") {
    Harness h;
    h.append(event("old"));
    DispatcherOptions options;
    options.deliver_existing_events = true;
    h.start(trigger(), options);
    const uint64_t offset = h.append(event("new"));
    REQUIRE(h.run_until([&] { return h.stats().cursor == offset; }));
    CHECK(h.subscriber.ids() == std::vector<std::string>{"old", "new"});
  }
}

TEST_CASE("filtered events are not delivered and the cursor moves over them", "[unit][dispatch]") {
  Harness h;
  TriggerSpec spec = trigger();
  auto filters = fnd::eventing::parse_filters(boost::json::parse(R"([{"exact": {"type": "keep"}}])"));
  REQUIRE(filters.ok());
  spec.filters = *filters;
  h.start(spec);
  h.subscriber.respond = [](const Destination&, const CloudEvent&) { return std::optional<AttemptResult>(); };

  for (int i = 0; i < 5; ++i) h.append(event("skip" + std::to_string(i), "skip"));
  REQUIRE(h.run_until([&] { return h.stats().cursor == 5; }));
  CHECK(h.stats().filtered == 5);
  CHECK(h.subscriber.calls.empty());
  CHECK(h.counters().delivered == 0);  // filtered events are not counted as delivered

  // A filtered event behind one under way waits for it before the cursor passes.
  h.append(event("keep1", "keep"));
  h.append(event("skip5", "skip"));
  REQUIRE(h.run_until([&] { return h.stats().filtered == 6 && h.subscriber.parked().size() == 1; }));
  CHECK(h.stats().cursor == 5);
  CHECK(h.counters().cursor == 5);
  REQUIRE(h.subscriber.release("keep1", answer(200)));
  REQUIRE(h.run_until([&] { return h.stats().cursor == 7; }));
  CHECK(h.counters().cursor == 7);
  CHECK(h.stats().delivered == 1);
}

TEST_CASE("backoff waits exactly base, 2 base, 4 base, capped", "[unit][dispatch]") {
  Harness h;
  TriggerSpec spec = trigger(4, 200ms);
  spec.delivery.cap = 1s;
  h.start(spec);
  h.subscriber.respond = [](const Destination&, const CloudEvent&) {
    return std::optional<AttemptResult>(answer(503, "busy"));
  };
  const uint64_t offset = h.append(event("e1"));

  const std::vector<std::chrono::milliseconds> waits = {200ms, 400ms, 800ms, 1000ms};
  for (size_t retry = 0; retry < waits.size(); ++retry) {
    h.until_sleeping();
    INFO("retry " << retry + 1);
    CHECK(h.subscriber.calls.size() == retry + 1);
    CHECK(h.time.next_wait() == std::optional<std::chrono::nanoseconds>(waits[retry]));
    // The failed attempt is recorded before the wait, with its due time.
    const auto pending = h.unfinished();
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].offset == offset);
    CHECK(pending[0].attempts == retry + 1);
    CHECK(pending[0].next_attempt_at == wall_of(h.time.now() + waits[retry]));
    CHECK(pending[0].last_error == "503 from function:billing: busy");
    CHECK(h.stats().retrying == 1);
    CHECK(h.stats().in_flight == 1);
    h.time.advance(waits[retry]);
  }
  REQUIRE(h.run_until([&] { return h.stats().dead_lettered == 1; }));
  REQUIRE(h.subscriber.calls.size() == 5);  // the first attempt and exactly 4 retries
  for (size_t i = 1; i < 5; ++i) CHECK(h.subscriber.calls[i].at - h.subscriber.calls[i - 1].at == waits[i - 1]);
  REQUIRE(h.run_until([&] { return h.stats().cursor == offset; }));
  const auto counters = h.counters();
  CHECK(counters.dead_lettered == 1);
  CHECK(counters.last_error == "503 from function:billing: busy");
  CHECK(h.stats().failed_attempts == 5);
  CHECK(h.stats().retrying == 0);
  CHECK(h.stats().last_error == "503 from function:billing: busy");
}

TEST_CASE("a subscriber that always fails is dead-lettered after exactly N retries with the extensions",
          "[unit][dispatch]") {
  Harness h;
  TriggerSpec spec = trigger(2, 100ms);
  spec.dead_letter = Destination{DestinationKind::function, "dead"};
  h.start(spec);
  const std::string long_body(2000, 'x');
  h.subscriber.respond = [&](const Destination& to, const CloudEvent&) {
    if (to.target == "dead") return std::optional<AttemptResult>(answer(202));
    return std::optional<AttemptResult>(answer(500, long_body));
  };
  CloudEvent original = event("e1");
  original.data = R"({"total":900})";  // compact: the log keeps JSON data as serialized JSON
  const uint64_t offset = h.append(original);
  h.until_sleeping();
  h.time.advance(100ms);
  h.until_sleeping();
  h.time.advance(200ms);
  REQUIRE(h.run_until([&] { return h.stats().dead_lettered == 1 && h.stats().cursor == offset; }));

  CHECK(h.subscriber.ids() == std::vector<std::string>{"e1", "e1", "e1"});
  const auto letters = h.subscriber.ids("function:dead");
  REQUIRE(letters == std::vector<std::string>{"e1"});
  const CloudEvent& letter = h.subscriber.calls.back().event;
  CHECK(letter.string_attribute("fnderrordest") == "function:billing");
  CHECK(letter.string_attribute("fnderrorcode") == "500");
  const auto data = letter.string_attribute("fnderrordata");
  REQUIRE(data.has_value());
  CHECK(data->size() == 1368);  // base64 of the first 1 KiB of the body
  CHECK(data->substr(0, 8) == "eHh4eHh4");
  CHECK(letter.data == original.data);
  CHECK(letter.type() == original.type());
  const DispatcherStats stats = h.stats();
  CHECK(stats.dead_letter_attempts == 1);
  CHECK(stats.dead_letter_failed == 0);
  CHECK(stats.delivered == 0);
  CHECK(h.counters().dead_lettered == 1);
}

TEST_CASE("a 400 goes to the dead-letter sink at once, without fnderrordata when the body is empty",
          "[unit][dispatch]") {
  Harness h;
  TriggerSpec spec = trigger(5);
  spec.dead_letter = Destination{DestinationKind::url, "https://ops.example.com/dead"};
  h.start(spec);
  h.subscriber.respond = [](const Destination& to, const CloudEvent&) {
    return std::optional<AttemptResult>(answer(to.kind == DestinationKind::url ? 200 : 400));
  };
  const uint64_t offset = h.append(event("e1"));
  REQUIRE(h.run_until([&] { return h.stats().cursor == offset; }));
  CHECK(h.subscriber.ids() == std::vector<std::string>{"e1"});
  REQUIRE(h.subscriber.ids("url:https://ops.example.com/dead") == std::vector<std::string>{"e1"});
  const CloudEvent& letter = h.subscriber.calls.back().event;
  CHECK(letter.string_attribute("fnderrorcode") == "400");
  CHECK(letter.attribute("fnderrordata") == nullptr);
  CHECK(h.stats().dead_lettered == 1);
  CHECK(h.time.sleeping() == 0);
}

TEST_CASE("without a dead-letter sink a refused event is recorded as dead-lettered", "[unit][dispatch]") {
  Harness h;
  h.start(trigger());
  h.subscriber.respond = [](const Destination&, const CloudEvent&) {
    return std::optional<AttemptResult>(answer(422, "total missing"));
  };
  const uint64_t offset = h.append(event("e1"));
  REQUIRE(h.run_until([&] { return h.stats().cursor == offset; }));
  CHECK(h.subscriber.calls.size() == 1);
  CHECK(h.counters().dead_lettered == 1);
  CHECK(h.counters().last_error == "422 from function:billing: total missing");
}

TEST_CASE("a dead-letter sink that fails too is retried, then the event is recorded", "[unit][dispatch]") {
  Harness h;
  TriggerSpec spec = trigger(1, 100ms);
  spec.dead_letter = Destination{DestinationKind::kafka, "dead"};
  h.start(spec);
  h.subscriber.respond = [](const Destination&, const CloudEvent&) {
    AttemptResult timeout;
    timeout.error = std::string(fnd::eventing::kAttemptTimeout);
    return std::optional<AttemptResult>(timeout);
  };
  const uint64_t offset = h.append(event("e1"));
  h.until_sleeping();
  h.time.advance(100ms);  // the subscriber's retry
  h.until_sleeping();
  CHECK(h.subscriber.ids("kafka:dead").size() == 1);
  CHECK(h.unfinished().at(0).attempts == 3);  // two subscriber attempts, then the sink's first
  h.time.advance(100ms);                      // the sink's retry
  REQUIRE(h.run_until([&] { return h.stats().cursor == offset; }));
  CHECK(h.subscriber.ids().size() == 2);
  CHECK(h.subscriber.ids("kafka:dead").size() == 2);
  CHECK(h.subscriber.calls.back().event.string_attribute("fnderrorcode") == "timeout");
  CHECK(h.stats().dead_letter_failed == 1);
  CHECK(h.counters().last_error ==
        "timeout from function:billing; the dead-letter sink failed too: timeout from kafka:dead");
}

TEST_CASE("429 with Retry-After is honoured", "[unit][dispatch]") {
  Harness h;
  h.start(trigger(3, 200ms));
  int calls = 0;
  h.subscriber.respond = [&](const Destination&, const CloudEvent&) {
    if (++calls > 1) return std::optional<AttemptResult>(answer(200));
    AttemptResult throttled = answer(429);
    throttled.retry_after = 7s;
    return std::optional<AttemptResult>(throttled);
  };
  const uint64_t offset = h.append(event("e1"));
  h.until_sleeping();
  CHECK(h.time.next_wait() == std::optional<std::chrono::nanoseconds>(7s));
  h.time.advance(6999ms);
  CHECK(h.subscriber.calls.size() == 1);
  h.time.advance(1ms);
  REQUIRE(h.run_until([&] { return h.stats().cursor == offset; }));
  CHECK(h.subscriber.calls.size() == 2);
  CHECK(h.subscriber.calls[1].at - h.subscriber.calls[0].at == 7s);
  CHECK(h.stats().delivered == 1);
}

TEST_CASE("a Retry-After longer than the cap waits the cap", "[unit][dispatch]") {
  Harness h;
  TriggerSpec spec = trigger(1, 200ms);
  spec.delivery.cap = 3s;
  h.start(spec);
  int calls = 0;
  h.subscriber.respond = [&](const Destination&, const CloudEvent&) {
    if (++calls > 1) return std::optional<AttemptResult>(answer(200));
    AttemptResult unavailable = answer(503);
    unavailable.retry_after = 1h;
    return std::optional<AttemptResult>(unavailable);
  };
  const uint64_t offset = h.append(event("e1"));
  h.until_sleeping();
  CHECK(h.time.next_wait() == std::optional<std::chrono::nanoseconds>(3s));
  CHECK(h.unfinished().at(0).next_attempt_at == wall_of(h.time.now() + 3s));
  h.time.advance(3s);
  REQUIRE(h.run_until([&] { return h.stats().cursor == offset; }));
  CHECK(h.subscriber.calls.size() == 2);
  CHECK(h.subscriber.calls[1].at - h.subscriber.calls[0].at == 3s);
}

TEST_CASE("a restart in the dead-letter phase retries the sink, not the subscriber", "[unit][dispatch]") {
  Harness h;
  TriggerSpec spec = trigger(1, 100ms);
  spec.dead_letter = Destination{DestinationKind::function, "dead"};
  h.start(spec);
  h.subscriber.respond = [](const Destination& to, const CloudEvent&) {
    return std::optional<AttemptResult>(answer(to.target == "dead" ? 503 : 500, "boom"));
  };
  const uint64_t offset = h.append(event("e1"));
  h.until_sleeping();
  h.time.advance(100ms);  // the subscriber's only retry fails too; the sink's first attempt fails
  h.until_sleeping();
  CHECK(h.subscriber.ids() == std::vector<std::string>{"e1", "e1"});
  CHECK(h.subscriber.ids("function:dead") == std::vector<std::string>{"e1"});
  const auto pending = h.unfinished();
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].attempts == 3);                                    // 2 to the subscriber, 1 to the sink
  CHECK(pending[0].last_error == "500 from function:billing: boom");  // the subscriber's failure stays

  h.subscriber.respond = [](const Destination&, const CloudEvent&) {
    return std::optional<AttemptResult>(answer(200));
  };
  h.restart(spec);
  h.until_sleeping();
  CHECK(h.time.next_wait() == std::optional<std::chrono::nanoseconds>(100ms));
  h.time.advance(100ms);
  REQUIRE(h.run_until([&] { return h.stats().cursor == offset; }));
  CHECK(h.subscriber.ids() == std::vector<std::string>{"e1", "e1"});  // not sent to the subscriber again
  CHECK(h.subscriber.ids("function:dead") == std::vector<std::string>{"e1", "e1"});
  const CloudEvent& letter = h.subscriber.calls.back().event;
  CHECK(letter.string_attribute("fnderrordest") == "function:billing");
  CHECK(letter.string_attribute("fnderrorcode") == "500");  // from the recorded error text
  CHECK(letter.attribute("fnderrordata") == nullptr);       // the body did not survive the restart
  CHECK(h.counters().dead_lettered == 1);
  CHECK(h.stats().dead_letter_failed == 0);
}

TEST_CASE("a trigger whose consumer is removed under it fails and winds down", "[unit][dispatch]") {
  Harness h;
  h.start(trigger());
  h.subscriber.respond = [](const Destination&, const CloudEvent&) { return std::optional<AttemptResult>(); };
  h.append(event("e1"));
  REQUIRE(h.run_until([&] { return h.subscriber.parked().size() == 1; }));
  auto removed = h.log->remove_consumer(fnd::eventing::consumer_name("bill-orders"));
  REQUIRE(removed.ok());
  REQUIRE(*removed);
  REQUIRE(h.subscriber.release("e1", answer(200)));
  REQUIRE(h.run_until([&] { return h.stats().state == DispatcherState::failed; }));
  CHECK(h.stats().delivered == 0);
  CHECK_FALSE(h.stats().last_error.empty());
  h.append(event("e2"));
  h.stop();  // completes: nothing of the dispatcher runs any more
  CHECK(h.subscriber.ids() == std::vector<std::string>{"e1"});
}

TEST_CASE("a restart resumes a retry with its attempt count and redelivers nothing finished", "[unit][dispatch]") {
  Harness h;
  const TriggerSpec spec = trigger(3, 1s);
  h.start(spec);
  h.subscriber.respond = [](const Destination&, const CloudEvent& e) {
    return std::optional<AttemptResult>(answer(e.id() == "e2" ? 200 : 503));
  };
  const uint64_t first = h.append(event("e1"));
  const uint64_t second = h.append(event("e2"));
  h.until_sleeping();
  REQUIRE(h.run_until([&] { return h.stats().delivered == 1; }));
  h.time.advance(1s);
  REQUIRE(h.run_until([&] { return h.subscriber.calls.size() == 3; }));
  h.until_sleeping();                    // attempt 2 failed; attempt 3 is due in 2 s
  CHECK(h.stats().cursor == first - 1);  // e1 is unfinished: the cursor waits for it

  h.time.advance(500ms);  // fnd goes down halfway through the wait
  h.restart(spec);
  h.until_sleeping();
  CHECK(h.time.next_wait() == std::optional<std::chrono::nanoseconds>(1500ms));  // the recorded due time
  CHECK(h.subscriber.ids() == std::vector<std::string>{"e1", "e2", "e1"});       // e2 is not delivered again
  h.time.advance(1500ms);
  h.until_sleeping();  // attempt 3 failed, attempt 4 (the last retry) in 4 s
  CHECK(h.time.next_wait() == std::optional<std::chrono::nanoseconds>(4s));
  CHECK(h.unfinished().at(0).attempts == 3);
  h.time.advance(4s);
  REQUIRE(h.run_until([&] { return h.stats().cursor == second; }));
  // 1 + 3 attempts in all, across the restart.
  CHECK(h.subscriber.ids() == std::vector<std::string>{"e1", "e2", "e1", "e1", "e1"});
  CHECK(h.counters().dead_lettered == 1);
  CHECK(h.counters().delivered == 1);
}

TEST_CASE("a restart after everything finished redelivers nothing", "[unit][dispatch]") {
  Harness h;
  const TriggerSpec spec = trigger();
  h.start(spec);
  h.append(event("e1"));
  const uint64_t last = h.append(event("e2"));
  REQUIRE(h.run_until([&] { return h.stats().cursor == last; }));
  h.restart(spec);
  const uint64_t next = h.append(event("e3"));
  REQUIRE(h.run_until([&] { return h.stats().cursor == next; }));
  CHECK(h.subscriber.ids() == std::vector<std::string>{"e1", "e2", "e3"});
}

TEST_CASE("stop abandons a delivery under way, a restart delivers it again", "[unit][dispatch]") {
  Harness h;
  const TriggerSpec spec = trigger();
  h.start(spec);
  h.subscriber.respond = [](const Destination&, const CloudEvent&) { return std::optional<AttemptResult>(); };
  const uint64_t offset = h.append(event("e1"));
  REQUIRE(h.run_until([&] { return h.subscriber.parked().size() == 1; }));
  h.subscriber.respond = [](const Destination&, const CloudEvent&) {
    return std::optional<AttemptResult>(answer(200));
  };
  h.restart(spec);  // stop() answers the parked call 503: abandoned, not recorded
  REQUIRE(h.run_until([&] { return h.stats().cursor == offset; }));
  CHECK(h.subscriber.ids() == std::vector<std::string>{"e1", "e1"});
  CHECK(h.counters().delivered == 1);
}

TEST_CASE("unordered delivery keeps at most max in flight", "[unit][dispatch]") {
  Harness h;
  TriggerSpec spec = trigger();
  spec.ordering.max_in_flight = 3;
  h.start(spec);
  h.subscriber.respond = [](const Destination&, const CloudEvent&) { return std::optional<AttemptResult>(); };
  for (int i = 1; i <= 10; ++i) h.append(event("e" + std::to_string(i)));
  REQUIRE(h.run_until([&] { return h.subscriber.parked().size() == 3; }));
  CHECK(h.stats().in_flight == 3);
  CHECK(h.subscriber.calls.size() == 3);
  // Releasing in any order frees one place at a time.
  size_t delivered = 0;
  while (delivered < 10) {
    const auto parked = h.subscriber.parked();
    REQUIRE_FALSE(parked.empty());
    REQUIRE(h.subscriber.release(parked.back(), answer(200)));
    ++delivered;
    REQUIRE(h.run_until([&] {
      return h.stats().delivered == delivered && h.subscriber.parked().size() == std::min<size_t>(3, 10 - delivered);
    }));
  }
  CHECK(h.subscriber.most_parked == 3);
  CHECK(h.subscriber.calls.size() == 10);
  REQUIRE(h.run_until([&] { return h.stats().cursor == 10; }));
}

TEST_CASE("a retry waiting counts as in flight", "[unit][dispatch]") {
  Harness h;
  TriggerSpec spec = trigger(3, 1s);
  spec.ordering.max_in_flight = 1;
  h.start(spec);
  int calls = 0;
  h.subscriber.respond = [&](const Destination&, const CloudEvent&) {
    return std::optional<AttemptResult>(answer(++calls == 1 ? 503 : 200));
  };
  h.append(event("e1"));
  const uint64_t last = h.append(event("e2"));
  h.until_sleeping();
  CHECK(h.subscriber.ids() == std::vector<std::string>{"e1"});  // e2 waits for e1's retry
  h.time.advance(1s);
  REQUIRE(h.run_until([&] { return h.stats().cursor == last; }));
  CHECK(h.subscriber.ids() == std::vector<std::string>{"e1", "e1", "e2"});
}

TEST_CASE("ordered delivery keeps per-key order while another key proceeds", "[unit][dispatch]") {
  Harness h;
  TriggerSpec spec = trigger(3, 1s);
  spec.ordering.mode = OrderingMode::ordered;
  h.start(spec);
  int a1_calls = 0;
  h.subscriber.respond = [&](const Destination&, const CloudEvent& e) {
    if (e.id() == "a1" && ++a1_calls == 1) return std::optional<AttemptResult>(answer(503));
    return std::optional<AttemptResult>(answer(200));
  };
  h.append(keyed("a1", "A"));
  h.append(keyed("a2", "A"));
  h.append(keyed("b1", "B"));
  h.append(keyed("a3", "A"));
  h.append(keyed("b2", "B"));
  h.append(event("n1"));  // no partitionkey: the key ""
  h.until_sleeping();
  REQUIRE(h.run_until([&] { return h.stats().delivered == 3; }));
  // a1 waits for its retry; a2 and a3 wait behind it; B and "" go on.
  CHECK(h.subscriber.ids() == std::vector<std::string>{"a1", "b1", "n1", "b2"});
  CHECK(h.stats().queued == 2);
  CHECK(h.stats().in_flight == 1);
  CHECK(h.stats().cursor == 0);
  h.time.advance(1s);
  REQUIRE(h.run_until([&] { return h.stats().cursor == 6; }));
  CHECK(h.subscriber.ids() == std::vector<std::string>{"a1", "b1", "n1", "b2", "a1", "a2", "a3"});
  CHECK(h.stats().queued == 0);
  CHECK(h.stats().delivered == 6);
}

TEST_CASE("ordered delivery has one event of a key in flight at a time", "[unit][dispatch]") {
  Harness h;
  TriggerSpec spec = trigger();
  spec.ordering.mode = OrderingMode::ordered;
  h.start(spec);
  h.subscriber.respond = [](const Destination&, const CloudEvent&) { return std::optional<AttemptResult>(); };
  for (int i = 1; i <= 3; ++i) {
    h.append(keyed("a" + std::to_string(i), "A"));
    h.append(keyed("b" + std::to_string(i), "B"));
  }
  for (int i = 1; i <= 3; ++i) {
    REQUIRE(h.run_until([&] { return h.subscriber.parked().size() == 2; }));
    std::vector<std::string> parked = h.subscriber.parked();
    std::sort(parked.begin(), parked.end());
    CHECK(parked == std::vector<std::string>{"a" + std::to_string(i), "b" + std::to_string(i)});
    h.subscriber.release("b" + std::to_string(i), answer(200));
    h.subscriber.release("a" + std::to_string(i), answer(200));
  }
  REQUIRE(h.run_until([&] { return h.stats().cursor == 6; }));
  CHECK(h.subscriber.most_parked == 2);
}

TEST_CASE("replies go to the broker with fndttl decremented, a ttl of 1 is dropped", "[unit][dispatch]") {
  Harness h;
  h.start(trigger());
  uint64_t delivered_when_published = 99;
  h.replies.respond = [&](const CloudEvent&) {
    delivered_when_published = h.counters().delivered;
    return fnd::Status{};
  };
  h.subscriber.respond = [](const Destination&, const CloudEvent& e) {
    AttemptResult ok = answer(200);
    ok.reply = event("reply-to-" + std::string(e.id()), "com.shop.invoice.created");
    return std::optional<AttemptResult>(ok);
  };
  h.append(event("fresh"));
  REQUIRE(h.run_until([&] { return h.stats().delivered == 1; }));
  REQUIRE(h.replies.published.size() == 1);
  CHECK(h.replies.published[0].first == "shop");
  CHECK(h.replies.published[0].second.id() == "reply-to-fresh");
  CHECK(*h.replies.published[0].second.attribute("fndttl") == fnd::eventing::AttributeValue(int64_t{254}));
  CHECK(delivered_when_published == 0);  // published before the original was finished

  CloudEvent hop = event("hop");
  hop.set_attribute("fndttl", std::string("5"));  // as a binary binding gives it
  h.append(hop);
  CloudEvent last_hop = event("last-hop");
  last_hop.set_attribute("fndttl", int64_t{1});
  const uint64_t last = h.append(last_hop);
  REQUIRE(h.run_until([&] { return h.stats().cursor == last; }));
  REQUIRE(h.replies.published.size() == 2);
  CHECK(*h.replies.published[1].second.attribute("fndttl") == fnd::eventing::AttributeValue(int64_t{4}));
  const DispatcherStats stats = h.stats();
  CHECK(stats.replies == 2);
  CHECK(stats.replies_dropped == 1);
  CHECK(stats.delivered == 3);
}

TEST_CASE("a reply the broker cannot take yet makes the attempt fail and retry", "[unit][dispatch]") {
  Harness h;
  h.start(trigger(3, 200ms));
  int publishes = 0;
  h.replies.respond = [&](const CloudEvent&) -> fnd::Status {
    if (++publishes == 1) return fnd::make_error("log_backlog_full", "the event log is busy", 429);
    return {};
  };
  h.subscriber.respond = [](const Destination&, const CloudEvent&) {
    AttemptResult ok = answer(200);
    ok.reply = event("reply");
    return std::optional<AttemptResult>(ok);
  };
  const uint64_t offset = h.append(event("e1"));
  h.until_sleeping();
  CHECK(h.unfinished().at(0).last_error ==
        "log_backlog_full publishing the reply to broker 'shop': the event log is busy");
  h.time.advance(200ms);
  REQUIRE(h.run_until([&] { return h.stats().cursor == offset; }));
  CHECK(h.subscriber.calls.size() == 2);
  CHECK(h.replies.published.size() == 1);
  CHECK(h.stats().delivered == 1);

  // A refusal for good drops the reply and finishes the original.
  h.replies.respond = [](const CloudEvent&) -> fnd::Status {
    return fnd::make_error("invalid_event", "the reply has no type", 400);
  };
  const uint64_t next = h.append(event("e2"));
  REQUIRE(h.run_until([&] { return h.stats().cursor == next; }));
  CHECK(h.stats().replies_failed == 1);
  CHECK(h.stats().delivered == 2);
}

TEST_CASE("a trigger whose consumer follows another broker fails to start", "[unit][dispatch]") {
  Harness h;
  REQUIRE(h.log->set_cursor(fnd::eventing::consumer_name("bill-orders"), "other", 0).ok());
  fnd::eventing::DispatcherServices services{*h.log,
                                             h.io.get_executor(),
                                             h.blocking.get_executor(),
                                             h.subscriber,
                                             h.replies,
                                             h.time,
                                             h.time,
                                             wall_of(h.time.now()),
                                             1};
  h.dispatcher = std::make_unique<TriggerDispatcher>(trigger(), services);
  h.dispatcher->start();
  REQUIRE(h.run_until([&] { return h.stats().state == DispatcherState::failed; }));
  CHECK(h.stats().last_error.find("has been following broker 'other', not 'shop'") != std::string::npos);
}

TEST_CASE("a stored payload that is not an event is dead-lettered", "[unit][dispatch]") {
  Harness h;
  h.start(trigger());
  std::vector<fnd::store::NewEvent> events;
  events.push_back({"bad", "/shop", "not json"});
  REQUIRE(h.log->append("shop", std::move(events)).ok());
  h.dispatcher->notify_new_events();
  REQUIRE(h.run_until([&] { return h.stats().cursor == 1; }));
  CHECK(h.subscriber.calls.empty());
  CHECK(h.counters().dead_lettered == 1);
  CHECK(h.counters().last_error.starts_with("the stored event is not a valid CloudEvent"));
}

TEST_CASE("the window bounds how far the reader runs ahead of the cursor", "[unit][dispatch]") {
  Harness h;
  DispatcherOptions options;
  options.max_window = 3;
  options.read_batch = 2;
  h.start(trigger(), options);
  h.subscriber.respond = [](const Destination&, const CloudEvent&) { return std::optional<AttemptResult>(); };
  for (int i = 1; i <= 6; ++i) h.append(event("e" + std::to_string(i)));
  REQUIRE(h.run_until([&] { return h.subscriber.parked().size() == 3; }));
  CHECK(h.stats().read_through == 3);
  h.subscriber.release("e2", answer(200));
  h.subscriber.release("e3", answer(200));
  REQUIRE(h.run_until([&] { return h.stats().delivered == 2; }));
  CHECK(h.stats().read_through == 3);  // e1 holds the cursor at 0
  h.subscriber.release("e1", answer(200));
  REQUIRE(h.run_until([&] { return h.subscriber.parked().size() == 3; }));
  CHECK(h.subscriber.parked() == std::vector<std::string>{"e4", "e5", "e6"});
  h.subscriber.release_all(answer(200));
  REQUIRE(h.run_until([&] { return h.stats().cursor == 6; }));
}

TEST_CASE("stop completes at once for a dispatcher never started", "[unit][dispatch]") {
  Harness h;
  fnd::eventing::DispatcherServices services{*h.log,
                                             h.io.get_executor(),
                                             h.blocking.get_executor(),
                                             h.subscriber,
                                             h.replies,
                                             h.time,
                                             h.time,
                                             wall_of(h.time.now()),
                                             1};
  h.dispatcher = std::make_unique<TriggerDispatcher>(trigger(), services);
  h.stop();
  CHECK(h.dispatcher == nullptr);
}
