#include "store/event_log.hpp"

#include <signal.h>
#include <sqlite3.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using fnd::store::AppendOutcome;
using fnd::store::DeliveryOutcome;
using fnd::store::EventLog;
using fnd::store::EventLogOptions;
using fnd::store::NewEvent;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "fnd-event-log-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const char* name) const { return (path / name).string(); }
};

// Time moves only when a test says so. Read from the writer thread, hence atomic.
class FakeClock final : public fnd::Clock {
 public:
  fnd::SteadyTime now() const override { return fnd::SteadyTime(std::chrono::nanoseconds(nanos_.load())); }
  void advance(std::chrono::nanoseconds d) { nanos_ += d.count(); }

 private:
  std::atomic<int64_t> nanos_{1'000'000'000};
};

// The wall time the fake clock's start stands for: 2026-01-01T00:00:00Z.
const fnd::SystemTime kWallStart = fnd::SystemTime(std::chrono::seconds(1767225600));

NewEvent event(std::string id, std::string source = "/test", std::string payload = "") {
  if (payload.empty())
    payload = R"({"specversion":"1.0","id":")" + id + R"(","source":")" + source + R"(","type":"t"})";
  return NewEvent{std::move(id), std::move(source), std::move(payload)};
}

std::unique_ptr<EventLog> open_log(const std::string& path, const fnd::Clock& clock, EventLogOptions options = {}) {
  auto log = EventLog::open(path, options, clock, kWallStart);
  if (!log) FAIL(log.error().message);
  return std::move(*log);
}

std::vector<uint64_t> offsets_of(const std::vector<AppendOutcome>& outcomes) {
  std::vector<uint64_t> offsets;
  for (const auto& o : outcomes) offsets.push_back(o.offset);
  return offsets;
}

// Holds the writer thread inside a completion callback until release(): whatever is submitted
// meanwhile queues up, and goes in one batch once released.
class WriterGate {
 public:
  explicit WriterGate(EventLog& log) {
    auto released = released_.get_future().share();
    auto st = log.append_async("gate", {event("gate-" + std::to_string(reinterpret_cast<uintptr_t>(this)))},
                               [this, released](auto) {
                                 entered_.set_value();
                                 released.wait();
                               });
    REQUIRE(st.ok());
    entered_.get_future().wait();
  }
  ~WriterGate() { release(); }
  void release() {
    if (!released_done_) released_.set_value();
    released_done_ = true;
  }

 private:
  std::promise<void> entered_;
  std::promise<void> released_;
  bool released_done_ = false;
};

// A SQLite VFS over the default one whose writes fail with SQLITE_FULL while `full` is set: a disk
// that fills up, made on demand. Registered as the default VFS for its lifetime.
class FullDiskVfs {
 public:
  FullDiskVfs() : real_(sqlite3_vfs_find(nullptr)) {
    vfs_ = *real_;
    vfs_.zName = "fnd-full-disk-test";
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.pAppData = this;
    vfs_.xOpen = &FullDiskVfs::open;
    vfs_.pNext = nullptr;
    REQUIRE(sqlite3_vfs_register(&vfs_, 1) == SQLITE_OK);
  }
  ~FullDiskVfs() { sqlite3_vfs_unregister(&vfs_); }
  FullDiskVfs(const FullDiskVfs&) = delete;
  FullDiskVfs& operator=(const FullDiskVfs&) = delete;

  std::atomic<bool> full{false};

 private:
  struct File {
    sqlite3_file base;
    sqlite3_file* real;
    FullDiskVfs* owner;
  };
  static sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

  static int open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
    auto* self = static_cast<FullDiskVfs*>(vfs->pAppData);
    auto* f = reinterpret_cast<File*>(file);
    f->real = reinterpret_cast<sqlite3_file*>(f + 1);
    f->owner = self;
    int rc = self->real_->xOpen(self->real_, name, f->real, flags, out_flags);
    f->base.pMethods = f->real->pMethods != nullptr ? &kMethods : nullptr;
    return rc;
  }

  static int close(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }
  static int read(sqlite3_file* f, void* buf, int n, sqlite3_int64 at) {
    return real(f)->pMethods->xRead(real(f), buf, n, at);
  }
  static int write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 at) {
    if (reinterpret_cast<File*>(f)->owner->full.load()) return SQLITE_FULL;
    return real(f)->pMethods->xWrite(real(f), buf, n, at);
  }
  static int truncate(sqlite3_file* f, sqlite3_int64 size) { return real(f)->pMethods->xTruncate(real(f), size); }
  static int sync(sqlite3_file* f, int flags) { return real(f)->pMethods->xSync(real(f), flags); }
  static int file_size(sqlite3_file* f, sqlite3_int64* size) { return real(f)->pMethods->xFileSize(real(f), size); }
  static int lock(sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); }
  static int unlock(sqlite3_file* f, int level) { return real(f)->pMethods->xUnlock(real(f), level); }
  static int check_reserved(sqlite3_file* f, int* out) { return real(f)->pMethods->xCheckReservedLock(real(f), out); }
  static int file_control(sqlite3_file* f, int op, void* arg) {
    return real(f)->pMethods->xFileControl(real(f), op, arg);
  }
  static int sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
  static int device(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
  static int shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
    return real(f)->pMethods->xShmMap(real(f), region, size, extend, out);
  }
  static int shm_lock(sqlite3_file* f, int offset, int n, int flags) {
    return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
  }
  static void shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
  static int shm_unmap(sqlite3_file* f, int remove) { return real(f)->pMethods->xShmUnmap(real(f), remove); }
  // No memory-mapped reads: every page goes through read().
  static int fetch(sqlite3_file*, sqlite3_int64, int, void** out) {
    *out = nullptr;
    return SQLITE_OK;
  }
  static int unfetch(sqlite3_file*, sqlite3_int64, void*) { return SQLITE_OK; }

  static constexpr sqlite3_io_methods kMethods = {
      3,         &close,       &read,           &write,        &truncate,    &sync,   &file_size,
      &lock,     &unlock,      &check_reserved, &file_control, &sector_size, &device, &shm_map,
      &shm_lock, &shm_barrier, &shm_unmap,      &fetch,        &unfetch};

  sqlite3_vfs* real_;
  sqlite3_vfs vfs_{};
};

}  // namespace

TEST_CASE("appended events read back in offset order, per broker", "[unit]") {
  TempDir dir;
  FakeClock clock;
  auto log = open_log(dir.file("events.db"), clock);

  auto first = log->append("orders", {event("a"), event("b"), event("c")});
  REQUIRE(first.ok());
  CHECK(offsets_of(*first) == std::vector<uint64_t>{1, 2, 3});
  CHECK_FALSE((*first)[0].duplicate);
  clock.advance(1500ms);
  std::string binary("\x00\x01{\xff}", 5);
  auto second = log->append("orders", {event("d"), NewEvent{"e", "/bin", binary}});
  REQUIRE(second.ok());
  CHECK(offsets_of(*second) == std::vector<uint64_t>{4, 5});
  auto other = log->append("payments", {event("a")});
  REQUIRE(other.ok());
  CHECK((*other)[0].offset == 1);

  auto all = log->read("orders", 0, 100);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 5);
  for (size_t i = 0; i < all->size(); ++i) CHECK((*all)[i].offset == i + 1);
  CHECK((*all)[0].id == "a");
  CHECK((*all)[0].source == "/test");
  CHECK((*all)[0].payload == R"({"specversion":"1.0","id":"a","source":"/test","type":"t"})");
  CHECK((*all)[0].received_at == kWallStart);
  CHECK((*all)[3].received_at == kWallStart + 1500ms);
  CHECK((*all)[4].payload == binary);

  auto page = log->read("orders", 2, 2);
  REQUIRE(page.ok());
  REQUIRE(page->size() == 2);
  CHECK((*page)[0].id == "c");
  CHECK((*page)[1].id == "d");

  CHECK(*log->head("orders") == 5);
  CHECK(*log->head("payments") == 1);
  CHECK(*log->head("nobody") == 0);
  CHECK(log->read("nobody", 0, 10)->empty());
  CHECK(log->append("orders", {})->empty());
  CHECK(log->stats().events_stored == 6);
}

TEST_CASE("bad appends are refused before anything is stored", "[unit]") {
  TempDir dir;
  FakeClock clock;
  EventLogOptions options;
  options.max_queued_events = 4;
  auto log = open_log(dir.file("events.db"), clock, options);

  auto no_id = log->append("orders", {event("a"), NewEvent{"", "/s", "{}"}});
  REQUIRE_FALSE(no_id.ok());
  CHECK(no_id.error().code == fnd::store::kInvalidEvent);
  CHECK(no_id.error().http_status == 400);
  auto no_broker = log->append("", {event("a")});
  REQUIRE_FALSE(no_broker.ok());
  CHECK(no_broker.error().code == fnd::store::kInvalidEvent);
  auto too_big = log->append("orders", {event("1"), event("2"), event("3"), event("4"), event("5")});
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.error().code == fnd::store::kEventBatchTooLarge);
  CHECK(too_big.error().http_status == 413);
  CHECK(*log->head("orders") == 0);
}

TEST_CASE("a duplicate within the window reports the earlier offset, after it, the event is new", "[unit]") {
  TempDir dir;
  FakeClock clock;
  auto log = open_log(dir.file("events.db"), clock);  // default window: 10 minutes

  REQUIRE(log->append("orders", {event("a"), event("b")}).ok());
  clock.advance(5min);
  auto again = log->append("orders", {event("a"), event("a", "/other"), event("c"), event("c")});
  REQUIRE(again.ok());
  REQUIRE(again->size() == 4);
  CHECK((*again)[0].offset == 1);
  CHECK((*again)[0].duplicate);
  CHECK((*again)[1].offset == 3);  // another source: another event
  CHECK_FALSE((*again)[1].duplicate);
  CHECK((*again)[2].offset == 4);
  CHECK((*again)[3].offset == 4);  // a duplicate within the same batch
  CHECK((*again)[3].duplicate);
  // Another broker has its own ids.
  auto elsewhere = log->append("payments", {event("a")});
  REQUIRE(elsewhere.ok());
  CHECK_FALSE((*elsewhere)[0].duplicate);

  clock.advance(4min + 59s);  // 9:59 after "a" was accepted
  CHECK((*log->append("orders", {event("a")}))[0].duplicate);
  clock.advance(1s);  // 10:00: the window runs from the first acceptance and is over
  auto after = log->append("orders", {event("a")});
  REQUIRE(after.ok());
  CHECK_FALSE((*after)[0].duplicate);
  CHECK((*after)[0].offset == 5);
  // The new acceptance starts a new window.
  clock.advance(1min);
  CHECK((*log->append("orders", {event("a")}))[0].offset == 5);

  CHECK(*log->head("orders") == 5);
  CHECK(log->read("orders", 0, 100)->size() == 5);
  CHECK(log->stats().duplicates == 4);
  CHECK(log->stats().events_stored == 6);
}

TEST_CASE("a zero dedup window stores every event", "[unit]") {
  TempDir dir;
  FakeClock clock;
  EventLogOptions options;
  options.dedup_window = 0ms;
  auto log = open_log(dir.file("events.db"), clock, options);
  auto r = log->append("orders", {event("a"), event("a")});
  REQUIRE(r.ok());
  CHECK(offsets_of(*r) == std::vector<uint64_t>{1, 2});
}

TEST_CASE("concurrent appends share commits", "[unit]") {
  TempDir dir;
  fnd::SteadyClock clock;
  auto log = open_log(dir.file("events.db"), clock);
  constexpr int kThreads = 8;
  constexpr int kAppends = 500;
  std::vector<std::vector<uint64_t>> offsets(kThreads);
  std::atomic<int> failures{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kAppends; ++i) {
          auto r = log->append("orders", {event("t" + std::to_string(t) + "-" + std::to_string(i))});
          if (!r) {
            ++failures;
            continue;
          }
          offsets[t].push_back((*r)[0].offset);
        }
      });
    }
  }
  REQUIRE(failures == 0);
  std::set<uint64_t> all;
  for (const auto& per_thread : offsets) {
    // One caller's appends are ordered, and every offset is given once.
    CHECK(std::is_sorted(per_thread.begin(), per_thread.end()));
    all.insert(per_thread.begin(), per_thread.end());
  }
  CHECK(all.size() == kThreads * kAppends);
  CHECK(*all.begin() == 1);
  CHECK(*all.rbegin() == kThreads * kAppends);
  const auto stats = log->stats();
  INFO("commits: " << stats.commits);
  CHECK(stats.events_stored == kThreads * kAppends);
  CHECK(stats.commits < kThreads * kAppends / 2);
}

TEST_CASE("what queues while the writer is busy goes in one transaction, in order", "[unit]") {
  TempDir dir;
  FakeClock clock;
  auto log = open_log(dir.file("events.db"), clock);
  constexpr int kAppends = 50;
  std::vector<uint64_t> offsets(kAppends);
  std::latch done(kAppends);
  {
    WriterGate gate(*log);
    REQUIRE(log->stats().commits == 1);
    for (int i = 0; i < kAppends; ++i) {
      auto st = log->append_async("orders", {event("e" + std::to_string(i))},
                                  [&, i](fnd::Result<std::vector<AppendOutcome>> r) {
                                    offsets[i] = r ? (*r)[0].offset : 0;
                                    done.count_down();
                                  });
      REQUIRE(st.ok());
    }
    CHECK(log->stats().queued == kAppends);
  }
  done.wait();
  for (int i = 0; i < kAppends; ++i) CHECK(offsets[i] == static_cast<uint64_t>(i + 1));
  CHECK(log->stats().commits == 2);
  CHECK(log->stats().queued == 0);
}

TEST_CASE("max_batch splits a long queue into several transactions", "[unit]") {
  TempDir dir;
  FakeClock clock;
  EventLogOptions options;
  options.max_batch = 10;
  auto log = open_log(dir.file("events.db"), clock, options);
  std::latch done(30);
  {
    WriterGate gate(*log);
    for (int i = 0; i < 30; ++i) {
      REQUIRE(log->append_async("orders", {event("e" + std::to_string(i))}, [&](auto) { done.count_down(); }).ok());
    }
  }
  done.wait();
  CHECK(log->stats().commits == 1 + 3);
}

TEST_CASE("a full write queue fails fast with a retryable 429", "[unit]") {
  TempDir dir;
  FakeClock clock;
  EventLogOptions options;
  options.max_queued_events = 10;
  auto log = open_log(dir.file("events.db"), clock, options);
  std::atomic<int> committed{0};
  std::latch done(4);
  {
    WriterGate gate(*log);
    for (int i = 0; i < 4; ++i) {
      std::vector<NewEvent> batch;
      for (int j = 0; j < (i == 3 ? 1 : 3); ++j) batch.push_back(event(std::to_string(i) + "-" + std::to_string(j)));
      REQUIRE(log->append_async("orders", std::move(batch),
                                [&](auto r) {
                                  if (r) committed += static_cast<int>(r->size());
                                  done.count_down();
                                })
                  .ok());
    }
    // 10 queued: one more event does not fit, neither through the async call nor the blocking one
    // (which must not wait for room).
    bool called = false;
    auto rejected = log->append_async("orders", {event("x")}, [&](auto) { called = true; });
    REQUIRE_FALSE(rejected.ok());
    CHECK(rejected.error().code == fnd::store::kLogBacklogFull);
    CHECK(rejected.error().http_status == 429);
    CHECK(rejected.error().retryable);
    CHECK(rejected.error().retry_after_seconds > 0);
    CHECK(fnd::store::is_log_backlog_full(rejected.error()));
    auto blocking = log->append("orders", {event("y")});
    REQUIRE_FALSE(blocking.ok());
    CHECK(blocking.error().code == fnd::store::kLogBacklogFull);
    auto bookkeeping = log->set_cursor("trigger", "orders", 0);
    REQUIRE_FALSE(bookkeeping.ok());
    CHECK(bookkeeping.error().code == fnd::store::kLogBacklogFull);
    CHECK(log->stats().rejected_backlog == 3);
    CHECK_FALSE(called);
  }
  done.wait();
  CHECK(committed == 10);
  // Room again once the writer caught up.
  CHECK(log->append("orders", {event("z")}).ok());
  CHECK(*log->head("orders") == 11);
}

TEST_CASE("a reopened log keeps events, cursors and bookkeeping, and offsets continue", "[unit]") {
  TempDir dir;
  FakeClock clock;
  const std::string path = dir.file("events.db");
  {
    auto log = open_log(path, clock);
    REQUIRE(log->append("orders", {event("a"), event("b"), event("c")}).ok());
    REQUIRE(log->set_cursor("trigger", "orders", 1).ok());
    REQUIRE(log->record_attempt("trigger", 2, 1, kWallStart + 30s, "503 from hello").ok());
    REQUIRE(log->finish("trigger", 3, DeliveryOutcome::delivered, "").ok());
  }
  clock.advance(1min);
  auto log = open_log(path, clock);
  auto events = log->read("orders", 0, 10);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 3);
  CHECK((*events)[2].id == "c");
  CHECK(*log->head("orders") == 3);
  // Dedup entries survive too.
  CHECK((*log->append("orders", {event("b")}))[0].duplicate);
  auto next = log->append("orders", {event("d")});
  REQUIRE(next.ok());
  CHECK((*next)[0].offset == 4);
  CHECK(**log->cursor("trigger") == 1);
  auto pending = log->unfinished("trigger", 10);
  REQUIRE(pending.ok());
  REQUIRE(pending->size() == 1);
  CHECK((*pending)[0].offset == 2);
  CHECK((*pending)[0].attempts == 1);
  CHECK((*pending)[0].next_attempt_at == kWallStart + 30s);
  CHECK((*pending)[0].last_error == "503 from hello");
  CHECK(*log->finished_past_cursor("trigger", 10) == std::vector<uint64_t>{3});
  CHECK((*log->counters("trigger"))->delivered == 1);
}

TEST_CASE("cursors, attempts, unfinished deliveries and counters", "[unit]") {
  TempDir dir;
  FakeClock clock;
  auto log = open_log(dir.file("events.db"), clock);
  std::vector<NewEvent> batch;
  for (int i = 1; i <= 6; ++i) batch.push_back(event(std::to_string(i)));
  REQUIRE(log->append("orders", std::move(batch)).ok());

  CHECK_FALSE(log->cursor("trigger")->has_value());
  CHECK_FALSE(log->counters("trigger")->has_value());
  auto unknown = log->record_attempt("trigger", 1, 1, kWallStart, "");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == fnd::store::kConsumerNotFound);
  CHECK(unknown.error().http_status == 404);

  REQUIRE(log->set_cursor("trigger", "orders", 0).ok());
  CHECK(**log->cursor("trigger") == 0);
  CHECK(*log->backlog("orders") == 6);

  // Offset 1 delivered at once; 2 fails twice, then is dead-lettered; 3 fails and waits.
  REQUIRE(log->finish("trigger", 1, DeliveryOutcome::delivered, "202").ok());
  REQUIRE(log->record_attempt("trigger", 2, 1, kWallStart + 1s, "503 Service Unavailable").ok());
  clock.advance(1s);
  REQUIRE(log->record_attempt("trigger", 2, 2, kWallStart + 3s, "504 Gateway Timeout").ok());
  REQUIRE(log->record_attempt("trigger", 3, 1, kWallStart + 2s, "connection refused").ok());
  auto pending = log->unfinished("trigger", 10);
  REQUIRE(pending.ok());
  REQUIRE(pending->size() == 2);
  CHECK((*pending)[0].offset == 2);
  CHECK((*pending)[0].attempts == 2);
  CHECK((*pending)[0].next_attempt_at == kWallStart + 3s);
  CHECK((*pending)[0].last_error == "504 Gateway Timeout");
  CHECK((*pending)[1].offset == 3);
  CHECK(log->unfinished("trigger", 1)->size() == 1);

  auto counters = log->counters("trigger");
  REQUIRE(counters.ok());
  REQUIRE(counters->has_value());
  CHECK((*counters)->broker == "orders");
  CHECK((*counters)->delivered == 1);
  CHECK((*counters)->retrying == 2);
  CHECK((*counters)->dead_lettered == 0);
  CHECK((*counters)->last_error == "connection refused");
  CHECK((*counters)->last_error_at == kWallStart + 1s);

  clock.advance(1s);
  REQUIRE(log->finish("trigger", 2, DeliveryOutcome::dead_lettered, "gave up after 2 attempts: 504").ok());
  // Finishing again counts nothing.
  REQUIRE(log->finish("trigger", 2, DeliveryOutcome::delivered, "").ok());
  auto late = log->record_attempt("trigger", 2, 3, kWallStart, "");
  REQUIRE_FALSE(late.ok());
  CHECK(late.error().code == fnd::store::kDeliveryFinished);
  counters = log->counters("trigger");
  CHECK((*counters)->dead_lettered == 1);
  CHECK((*counters)->delivered == 1);
  CHECK((*counters)->retrying == 1);
  CHECK((*counters)->last_error == "gave up after 2 attempts: 504");
  CHECK((*counters)->last_error_at == kWallStart + 2s);
  CHECK(*log->finished_past_cursor("trigger", 10) == std::vector<uint64_t>{1, 2});

  // The caller advances the cursor over 1 and 2; their bookkeeping goes.
  REQUIRE(log->set_cursor("trigger", "orders", 2).ok());
  CHECK(log->finished_past_cursor("trigger", 10)->empty());
  CHECK(log->unfinished("trigger", 10)->size() == 1);
  CHECK(*log->backlog("orders") == 4);
  // Below the cursor everything is finished.
  REQUIRE(log->finish("trigger", 1, DeliveryOutcome::delivered, "").ok());
  CHECK((*log->counters("trigger"))->delivered == 1);
  CHECK(log->record_attempt("trigger", 1, 2, kWallStart, "").error().code == fnd::store::kDeliveryFinished);

  // Out of range and backwards.
  CHECK(log->record_attempt("trigger", 7, 1, kWallStart, "").error().code == fnd::store::kOffsetOutOfRange);
  CHECK(log->finish("trigger", 0, DeliveryOutcome::delivered, "").error().code == fnd::store::kOffsetOutOfRange);
  CHECK(log->set_cursor("trigger", "orders", 7).error().code == fnd::store::kOffsetOutOfRange);
  CHECK(log->set_cursor("trigger", "orders", 1).error().code == fnd::store::kOffsetOutOfRange);
  auto other = log->set_cursor("trigger", "payments", 0);
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().code == fnd::store::kConsumerOnOtherBroker);
  CHECK(other.error().http_status == 409);

  // A second consumer holds the backlog down to its own cursor.
  REQUIRE(log->set_cursor("sink", "orders", 1).ok());
  CHECK(*log->backlog("orders") == 5);
  CHECK(*log->remove_consumer("sink"));
  CHECK_FALSE(*log->remove_consumer("sink"));
  CHECK(*log->backlog("orders") == 4);
  CHECK(*log->remove_consumer("trigger"));
  CHECK(log->unfinished("trigger", 10)->empty());
  CHECK(*log->backlog("orders") == 6);  // no consumers: the whole log
  CHECK(*log->backlog("nobody") == 0);
}

TEST_CASE("the async bookkeeping calls complete on the writer thread", "[unit]") {
  TempDir dir;
  FakeClock clock;
  auto log = open_log(dir.file("events.db"), clock);
  REQUIRE(log->append("orders", {event("a"), event("b")}).ok());
  std::promise<fnd::Status> cursor_set;
  REQUIRE(log->set_cursor_async("trigger", "orders", 0, [&](fnd::Status st) { cursor_set.set_value(st); }).ok());
  CHECK(cursor_set.get_future().get().ok());
  std::promise<fnd::Status> attempted;
  REQUIRE(
      log->record_attempt_async("trigger", 1, 1, kWallStart, "boom", [&](fnd::Status st) { attempted.set_value(st); })
          .ok());
  CHECK(attempted.get_future().get().ok());
  std::promise<fnd::Status> finished;
  REQUIRE(
      log->finish_async("trigger", 1, DeliveryOutcome::delivered, "", [&](fnd::Status st) { finished.set_value(st); })
          .ok());
  CHECK(finished.get_future().get().ok());
  std::promise<fnd::Status> failed;
  REQUIRE(log->finish_async("ghost", 1, DeliveryOutcome::delivered, "", [&](fnd::Status st) { failed.set_value(st); })
              .ok());
  auto st = failed.get_future().get();
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == fnd::store::kConsumerNotFound);
  CHECK((*log->counters("trigger"))->delivered == 1);
}

TEST_CASE("one failing write in a batch fails alone", "[unit]") {
  TempDir dir;
  FakeClock clock;
  auto log = open_log(dir.file("events.db"), clock);
  std::promise<fnd::Status> bad;
  std::promise<fnd::Result<std::vector<AppendOutcome>>> good;
  {
    WriterGate gate(*log);
    REQUIRE(
        log->finish_async("ghost", 1, DeliveryOutcome::delivered, "", [&](fnd::Status st) { bad.set_value(st); }).ok());
    REQUIRE(log->append_async("orders", {event("a")}, [&](auto r) { good.set_value(std::move(r)); }).ok());
  }
  CHECK_FALSE(bad.get_future().get().ok());
  auto r = good.get_future().get();
  REQUIRE(r.ok());
  CHECK((*r)[0].offset == 1);
  CHECK(log->stats().commits == 2);
  CHECK(*log->head("orders") == 1);
}

TEST_CASE("compaction removes only old events every consumer has finished", "[unit]") {
  TempDir dir;
  FakeClock clock;
  EventLogOptions options;
  options.retention = 1h;
  options.compaction_chunk = 2;  // several steps per broker
  auto log = open_log(dir.file("events.db"), clock, options);
  const std::string big(20000, 'x');  // spills into overflow pages, which vacuum gives back
  std::vector<NewEvent> old_events;
  for (int i = 1; i <= 8; ++i) old_events.push_back(event(std::to_string(i), "/test", big));
  REQUIRE(log->append("orders", std::move(old_events)).ok());
  REQUIRE(log->append("audit", {event("a1"), event("a2")}).ok());  // no consumers
  clock.advance(2h);
  REQUIRE(log->append("orders", {event("9"), event("10")}).ok());  // within retention
  const fnd::SystemTime now = kWallStart + 2h;

  REQUIRE(log->set_cursor("fast", "orders", 10).ok());
  REQUIRE(log->set_cursor("slow", "orders", 3).ok());
  REQUIRE(log->record_attempt("slow", 4, 3, now + 1min, "503").ok());

  auto first = log->compact(now);
  REQUIRE(first.ok());
  CHECK(first->events_removed == 3 + 2);      // orders 1-3 (slow's cursor), audit's two
  CHECK(first->dedup_entries_removed == 10);  // all accepted 2 h ago; the window is 10 min
  CHECK(first->pages_reclaimed > 0);
  auto left = log->read("orders", 0, 100);
  REQUIRE(left.ok());
  REQUIRE(left->size() == 7);
  CHECK(left->front().offset == 4);  // slow's unfinished event stays
  CHECK(log->read("audit", 0, 10)->empty());
  CHECK(*log->head("audit") == 2);

  // Nothing more to do until a cursor moves.
  CHECK(log->compact(now)->events_removed == 0);
  REQUIRE(log->set_cursor("slow", "orders", 6).ok());
  CHECK(log->compact(now)->events_removed == 3);
  CHECK(log->read("orders", 0, 100)->front().offset == 7);
  // Once the slow consumer is gone, the fast one decides; events 9 and 10 are too young.
  REQUIRE(*log->remove_consumer("slow"));
  CHECK(log->compact(now)->events_removed == 2);
  auto young = log->read("orders", 0, 100);
  REQUIRE(young->size() == 2);
  CHECK(young->front().offset == 9);
  CHECK(log->compact(now + 2h)->events_removed == 2);
  CHECK(log->read("orders", 0, 100)->empty());
  // Offsets keep counting after everything was compacted away.
  CHECK((*log->append("orders", {event("11")}))[0].offset == 11);
  CHECK((*log->append("audit", {event("a3")}))[0].offset == 3);
}

TEST_CASE("compaction keeps dedup entries within the window", "[unit]") {
  TempDir dir;
  FakeClock clock;
  auto log = open_log(dir.file("events.db"), clock);
  REQUIRE(log->append("orders", {event("a")}).ok());
  clock.advance(9min);
  REQUIRE(log->append("orders", {event("b")}).ok());
  auto report = log->compact(kWallStart + 11min);
  REQUIRE(report.ok());
  CHECK(report->dedup_entries_removed == 1);
  CHECK(report->events_removed == 0);  // retention is 24 h
  CHECK((*log->append("orders", {event("b")}))[0].duplicate);
}

TEST_CASE("a closed log refuses writes and still reads", "[unit]") {
  TempDir dir;
  FakeClock clock;
  auto log = open_log(dir.file("events.db"), clock);
  REQUIRE(log->append("orders", {event("a")}).ok());
  log->close();
  log->close();
  auto r = log->append("orders", {event("b")});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == fnd::store::kEventLogClosed);
  CHECK(r.error().retryable);
  CHECK(log->compact(kWallStart).error().code == fnd::store::kEventLogClosed);
  CHECK(log->read("orders", 0, 10)->size() == 1);
}

TEST_CASE("a file that is not an event log is refused with recovery steps", "[unit]") {
  TempDir dir;
  FakeClock clock;
  const std::string path = dir.file("events.db");
  {
    std::ofstream garbage(path, std::ios::binary);
    garbage << std::string(8192, 'G');
  }
  auto log = EventLog::open(path, {}, clock, kWallStart);
  REQUIRE_FALSE(log.ok());
  CHECK(log.error().code == fnd::store::kEventLogDamaged);
  CHECK(log.error().message.find(".recover") != std::string::npos);

  EventLogOptions bad;
  bad.max_batch = 0;
  auto refused = EventLog::open(dir.file("other.db"), bad, clock, kWallStart);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == fnd::store::kInvalidEventLogOptions);
}

TEST_CASE("every acknowledged append survives SIGKILL", "[unit]") {
  TempDir dir;
  const std::string path = dir.file("events.db");
  struct Ack {
    uint64_t offset;
    uint32_t thread;
    uint32_t index;
  };
  constexpr uint32_t kThreads = 4;
  constexpr int kKillAfter = 200;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child: no Catch2 here; it never returns, it is killed.
    ::close(fds[0]);
    fnd::SteadyClock clock;
    auto log = EventLog::open(path, {}, clock);
    if (!log) ::_exit(2);
    std::atomic<int> acks{0};
    std::vector<std::thread> threads;
    for (uint32_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (uint32_t i = 0;; ++i) {
          auto r = (*log)->append("orders", {event(std::to_string(t) + "-" + std::to_string(i))});
          if (!r) ::_exit(3);
          Ack ack{(*r)[0].offset, t, i};
          if (::write(fds[1], &ack, sizeof ack) != sizeof ack) ::_exit(4);
          if (++acks >= kKillAfter) ::kill(::getpid(), SIGKILL);
        }
      });
    }
    for (auto& t : threads) t.join();
    ::_exit(5);
  }
  ::close(fds[1]);
  std::vector<Ack> acks;
  Ack ack{};
  while (::read(fds[0], &ack, sizeof ack) == static_cast<ssize_t>(sizeof ack)) acks.push_back(ack);
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  REQUIRE(acks.size() >= static_cast<size_t>(kKillAfter));

  FakeClock clock;
  auto log = open_log(path, clock);
  auto events = log->read("orders", 0, 100000);
  REQUIRE(events.ok());
  const uint64_t head = *log->head("orders");
  REQUIRE(events->size() == head);  // no gaps
  for (const Ack& a : acks) {
    REQUIRE(a.offset >= 1);
    REQUIRE(a.offset <= head);
    CHECK((*events)[a.offset - 1].id == std::to_string(a.thread) + "-" + std::to_string(a.index));
  }
}

TEST_CASE("a full disk fails the whole batch with 507 and leaves nothing half-written", "[unit]") {
  TempDir dir;
  FakeClock clock;
  FullDiskVfs vfs;
  auto log = open_log(dir.file("events.db"), clock);
  REQUIRE(log->append("orders", {event("a")}).ok());
  REQUIRE(log->set_cursor("trigger", "orders", 0).ok());

  vfs.full = true;
  std::promise<fnd::Result<std::vector<AppendOutcome>>> first;
  std::promise<fnd::Status> second;
  {
    WriterGate gate(*log);  // its own commit happened before the disk filled
    REQUIRE(log->append_async("orders", {event("b"), event("c")}, [&](auto r) { first.set_value(std::move(r)); }).ok());
    REQUIRE(
        log->finish_async("trigger", 1, DeliveryOutcome::delivered, "", [&](fnd::Status st) { second.set_value(st); })
            .ok());
  }
  auto r = first.get_future().get();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == fnd::store::kInsufficientStorage);
  CHECK(r.error().http_status == 507);
  CHECK(fnd::store::is_insufficient_storage(r.error()));
  auto st = second.get_future().get();
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == fnd::store::kInsufficientStorage);

  vfs.full = false;
  CHECK(*log->head("orders") == 1);
  CHECK((*log->counters("trigger"))->delivered == 0);
  auto retried = log->append("orders", {event("b"), event("c")});
  REQUIRE(retried.ok());
  CHECK(offsets_of(*retried) == std::vector<uint64_t>{2, 3});
  CHECK_FALSE((*retried)[0].duplicate);  // the failed attempt left no dedup entry behind
  log.reset();
  auto reopened = open_log(dir.file("events.db"), clock);
  CHECK(reopened->read("orders", 0, 10)->size() == 3);
}

TEST_CASE("a blocking write from a completion callback is a bug and aborts", "[unit]") {
  TempDir dir;
  const std::string path = dir.file("events.db");
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(STDERR_FILENO);      // keep the test output clean
    ::signal(SIGABRT, SIG_DFL);  // Catch2's handler would report the expected abort
    FakeClock clock;
    auto log = EventLog::open(path, {}, clock, kWallStart);
    if (!log) ::_exit(2);
    std::promise<void> never;
    EventLog* raw = log->get();
    (void)raw->append_async("orders", {event("a")}, [raw](auto) { (void)raw->append("orders", {event("b")}); });
    never.get_future().wait();
    ::_exit(3);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}

TEST_CASE("event log throughput", "[.bench]") {
  const std::string payload =
      R"({"specversion":"1.0","type":"com.example.order.created","source":"/shop/orders","id":"ID",)"
      R"("time":"2026-01-01T00:00:00Z","datacontenttype":"application/json",)"
      R"("data":{"order":12345,"customer":"c-678","items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"total":"42.00"}})";
  std::printf("payload %zu bytes; durable appends (synchronous=FULL), 3 s per row\n", payload.size());
  std::printf("%10s %6s %14s %10s %16s %14s\n", "appenders", "batch", "events/s", "commits", "events/commit",
              "appends/s");
  for (int appenders : {1, 8, 64}) {
    for (int batch : {1, 100}) {
      TempDir dir;
      fnd::SteadyClock clock;
      EventLogOptions options;
      options.max_queued_events = 100000;
      auto log = open_log(dir.file("events.db"), clock, options);
      std::atomic<uint64_t> events{0};
      std::atomic<uint64_t> appends{0};
      std::atomic<bool> stop{false};
      const auto start = std::chrono::steady_clock::now();
      {
        std::vector<std::jthread> threads;
        for (int t = 0; t < appenders; ++t) {
          threads.emplace_back([&, t] {
            for (uint64_t i = 0; !stop.load(); ++i) {
              std::vector<NewEvent> b;
              for (int j = 0; j < batch; ++j) {
                b.push_back(
                    NewEvent{std::to_string(t) + "-" + std::to_string(i) + "-" + std::to_string(j), "/shop", payload});
              }
              auto r = log->append("orders", std::move(b));
              if (!r) continue;
              events += static_cast<uint64_t>(batch);
              ++appends;
            }
          });
        }
        std::this_thread::sleep_for(3s);
        stop = true;
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const auto stats = log->stats();
      std::printf("%10d %6d %14.0f %10llu %16.1f %14.0f\n", appenders, batch, events / seconds,
                  static_cast<unsigned long long>(stats.commits),
                  static_cast<double>(stats.events_stored) / static_cast<double>(std::max<uint64_t>(1, stats.commits)),
                  appends / seconds);
      CHECK(stats.events_stored == events.load());
    }
  }
}
