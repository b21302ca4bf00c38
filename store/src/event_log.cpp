#include "store/event_log.hpp"

#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connection.hpp"
#include "group_commit_writer.hpp"
#include "prepared_statement.hpp"

namespace fnd::store {

bool is_log_backlog_full(const Error& error) { return error.code == kLogBacklogFull; }
bool is_insufficient_storage(const Error& error) { return error.code == kInsufficientStorage; }

namespace {

using internal::Connection;
using internal::PreparedStatement;

// Schema migrations, applied in order; version N is the state after kMigrations[N-1].
// Never edit a shipped migration: append a new one.
//
// Offsets are per broker, so events are keyed (broker, event_offset); the payload is the last
// column so that scans over offsets and times never read its overflow pages. brokers.head
// outlives the events it counted, so offsets continue after compaction.
constexpr std::string_view kMigrations[] = {
    R"sql(
      CREATE TABLE brokers (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        head INTEGER NOT NULL);
      CREATE TABLE events (
        broker INTEGER NOT NULL,
        event_offset INTEGER NOT NULL,
        id TEXT NOT NULL,
        source TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        payload BLOB NOT NULL,
        PRIMARY KEY (broker, event_offset));
      CREATE TABLE accepted_ids (
        broker INTEGER NOT NULL,
        source TEXT NOT NULL,
        id TEXT NOT NULL,
        event_offset INTEGER NOT NULL,
        accepted_at INTEGER NOT NULL,
        PRIMARY KEY (broker, source, id)) WITHOUT ROWID;
      CREATE INDEX accepted_ids_by_time ON accepted_ids (accepted_at);
      CREATE TABLE consumers (
        name TEXT PRIMARY KEY,
        broker INTEGER NOT NULL,
        cursor_offset INTEGER NOT NULL,
        delivered INTEGER NOT NULL DEFAULT 0,
        dead_lettered INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        last_error_at INTEGER) WITHOUT ROWID;
      CREATE INDEX consumers_by_broker ON consumers (broker, cursor_offset);
      CREATE TABLE deliveries (
        consumer TEXT NOT NULL,
        event_offset INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at INTEGER,
        last_error TEXT NOT NULL DEFAULT '',
        outcome INTEGER NOT NULL DEFAULT 0,
        detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (consumer, event_offset)) WITHOUT ROWID;
    )sql",
};

// deliveries.outcome
constexpr int64_t kPending = 0;
constexpr int64_t kDelivered = 1;
constexpr int64_t kDeadLettered = 2;

// Pages given back per incremental_vacuum step (4 MiB of 4 KiB pages).
constexpr int64_t kVacuumPagesPerStep = 1024;

int64_t to_millis(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

SystemTime from_millis(int64_t ms) {
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(std::chrono::milliseconds(ms)));
}

int64_t as_sql(uint64_t n) {
  return n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                        : static_cast<int64_t>(n);
}

std::string recovery_steps(const std::string& path) {
  return fmt::format(
      "Stop fnd and keep a copy of {0}. Then either salvage what is readable: `sqlite3 {0} .recover | "
      "sqlite3 {0}.recovered` and move {0}.recovered to {0}; or move {0}, {0}-wal and {0}-shm away, and "
      "fnd starts an empty event log (events not yet delivered are lost)",
      path);
}

Error damaged(const std::string& path, std::string_view what) {
  return make_error(
      std::string(kEventLogDamaged),
      fmt::format("the event log {} is damaged or not an event log ({}). {}", path, what, recovery_steps(path)), 500);
}

Error consumer_not_found(std::string_view consumer) {
  return make_error(
      std::string(kConsumerNotFound),
      fmt::format("no event consumer named '{}': set its cursor first to subscribe it to a broker", consumer), 404);
}

Error offset_out_of_range(std::string_view consumer, uint64_t offset, uint64_t head) {
  return make_error(std::string(kOffsetOutOfRange),
                    fmt::format("offset {} is not an event of the broker of consumer '{}' (its offsets run 1 to {})",
                                offset, consumer, head),
                    400);
}

// Sync calls wait for the writer thread; made from the writer thread itself they would wait
// forever. That is a bug in the caller, so fail loudly rather than hang.
void check_not_writer(const internal::GroupCommitWriter& writer, const char* call) {
  if (writer.on_writer_thread()) {
    std::fprintf(stderr,
                 "fnd: EventLog::%s called from an event log completion callback (the writer thread); "
                 "use the _async call or post to another executor\n",
                 call);
    std::abort();
  }
}

// A job whose body runs inside the batch's transaction and whose result goes to `done` once the
// batch committed (or with the error that stopped it).
template <typename R>
class CallJob final : public internal::WriteJob {
 public:
  CallJob(std::function<R()> body, std::function<void(R)> done) : body_(std::move(body)), done_(std::move(done)) {}

  Status apply() override {
    result_.emplace(body_());
    if (!*result_) return result_->error();
    return {};
  }

  void complete(Status outcome) override {
    if (!outcome) {
      done_(R(outcome.error()));
    } else {
      done_(std::move(*result_));
    }
  }

 private:
  std::function<R()> body_;
  std::function<void(R)> done_;
  std::optional<R> result_;
};

Status validate(const EventLogOptions& o) {
  auto bad = [](std::string what) {
    return make_error(std::string(kInvalidEventLogOptions), "event log options: " + what, 500);
  };
  if (o.max_batch == 0) return bad("max_batch must be at least 1");
  if (o.max_queued_events == 0) return bad("max_queued_events must be at least 1");
  if (o.compaction_chunk == 0) return bad("compaction_chunk must be at least 1");
  if (o.dedup_window.count() < 0) return bad("dedup_window must not be negative");
  if (o.retention.count() < 0) return bad("retention must not be negative");
  return {};
}

Result<std::unique_ptr<Connection>> open_connection(const std::string& path) {
  auto conn = std::make_unique<Connection>();
  conn->path = path;
  sqlite3* raw = nullptr;
  // Each connection is used by one thread at a time (the writer's, or readers under its mutex).
  int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  conn->db.reset(raw);
  if (rc != SQLITE_OK) {
    if (raw == nullptr) return make_error("store_error", fmt::format("open event log {}: out of memory", path));
    return conn->error("open event log");
  }
  sqlite3_busy_timeout(raw, 5000);
  return conn;
}

Result<std::string> pragma_text(Connection& conn, std::string_view sql) {
  auto stmt = PreparedStatement::prepare(conn, sql, false);
  if (!stmt) return stmt.error();
  auto use = stmt->use();
  auto row = use.step();
  if (!row) return row.error();
  return *row ? use.text_at(0) : std::string();
}

bool is_damage(sqlite3* db) {
  int code = sqlite3_errcode(db);
  return code == SQLITE_NOTADB || code == SQLITE_CORRUPT;
}

Status migrate(Connection& conn) {
  const std::string& path = conn.path;
  auto tables = PreparedStatement::prepare(conn, "SELECT name FROM sqlite_master WHERE type = 'table';", false);
  if (!tables) return is_damage(conn.db.get()) ? damaged(path, tables.error().message) : tables.error();
  bool any = false;
  bool ours = false;
  {
    auto use = tables->use();
    while (true) {
      auto row = use.step();
      if (!row) return is_damage(conn.db.get()) ? damaged(path, row.error().message) : row.error();
      if (!*row) break;
      any = true;
      if (use.text_at(0) == "schema_version") ours = true;
    }
  }
  if (any && !ours) return damaged(path, "it holds tables but no schema_version");
  if (Status st = conn.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"); !st) return st;
  auto version_text = pragma_text(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_version;");
  if (!version_text) return version_text.error();
  const int64_t version = std::stoll(*version_text);
  constexpr int64_t kLatest = static_cast<int64_t>(std::size(kMigrations));
  if (version > kLatest) {
    return make_error(std::string(kEventLogTooNew),
                      fmt::format("the event log {} has schema version {} but this fnd knows up to {}: run a newer fnd "
                                  "or use another --state-dir",
                                  path, version, kLatest));
  }
  for (int64_t v = version; v < kLatest; ++v) {
    std::string sql = fmt::format(
        "BEGIN; {} DELETE FROM schema_version; INSERT INTO schema_version VALUES ({}); COMMIT;", kMigrations[v], v + 1);
    if (Status st = conn.exec(sql); !st) {
      (void)conn.exec("ROLLBACK;");
      return make_error("store_migration_failed", fmt::format("migrating the event log {} to schema version {}: {}",
                                                              path, v + 1, st.error().message));
    }
  }
  return {};
}

}  // namespace

namespace internal {

// Statements the writer thread runs; prepared once on the write connection.
struct WriterStatements {
  PreparedStatement find_broker;
  PreparedStatement insert_broker;
  PreparedStatement set_head;
  PreparedStatement find_accepted;
  PreparedStatement insert_event;
  PreparedStatement put_accepted;
  PreparedStatement find_consumer;
  PreparedStatement head_by_id;
  PreparedStatement upsert_consumer;
  PreparedStatement drop_deliveries_through;
  PreparedStatement find_delivery;
  PreparedStatement put_attempt;
  PreparedStatement set_consumer_error;
  PreparedStatement put_outcome;
  PreparedStatement count_delivered;
  PreparedStatement count_dead_lettered;
  PreparedStatement drop_deliveries;
  PreparedStatement drop_consumer;
};

class EventLogCore {
 public:
  EventLogCore(EventLogOptions options, const Clock& clock, SystemTime wall_at_start, std::string path)
      : options_(options),
        clock_(clock),
        steady_at_start_(clock.now()),
        wall_at_start_(wall_at_start),
        path_(std::move(path)) {}
  ~EventLogCore() {
    // The writer goes first: it may still run jobs that use the statements and the connection.
    if (writer_) writer_->close();
    writer_.reset();
    statements_.reset();
  }

  Status start(std::unique_ptr<Connection> write, std::unique_ptr<Connection> read);

  SystemTime wall_now() const {
    return wall_at_start_ + std::chrono::duration_cast<SystemTime::duration>(clock_.now() - steady_at_start_);
  }

  // --- bodies run on the writer thread, inside a transaction ---
  struct Broker {
    int64_t id = 0;
    uint64_t head = 0;
  };
  struct Consumer {
    int64_t broker = 0;
    uint64_t cursor = 0;
  };
  Result<Broker> ensure_broker(std::string_view name);
  Result<std::optional<Consumer>> find_consumer(std::string_view name);
  Result<uint64_t> head_of(int64_t broker);
  Result<std::vector<AppendOutcome>> apply_append(const std::string& broker, const std::vector<NewEvent>& events);
  Status apply_set_cursor(const std::string& consumer, const std::string& broker, uint64_t offset);
  Status apply_record_attempt(const std::string& consumer, uint64_t offset, uint32_t attempt, SystemTime next_at,
                              const std::string& last_error);
  Status apply_finish(const std::string& consumer, uint64_t offset, DeliveryOutcome outcome, const std::string& detail);
  Result<bool> apply_remove_consumer(const std::string& consumer);

  template <typename R>
  Status submit(size_t weight, std::function<R()> body, std::function<void(R)> done) {
    return writer_->submit(std::make_unique<CallJob<R>>(std::move(body), std::move(done)), weight);
  }
  // Submits and waits for the commit.
  template <typename R>
  R call(const char* name, size_t weight, std::function<R()> body) {
    check_not_writer(*writer_, name);
    auto promise = std::make_shared<std::promise<R>>();
    auto future = promise->get_future();
    if (Status st = submit<R>(weight, std::move(body), [promise](R r) { promise->set_value(std::move(r)); }); !st)
      return st.error();
    return future.get();
  }

  const EventLogOptions options_;
  const Clock& clock_;
  const SteadyTime steady_at_start_;
  const SystemTime wall_at_start_;
  const std::string path_;

  std::atomic<uint64_t> events_stored_{0};
  std::atomic<uint64_t> duplicates_{0};

  std::unique_ptr<Connection> read_;   // guarded by read_->mutex
  std::unique_ptr<Connection> write_;  // the writer thread's alone once it runs
  std::unique_ptr<WriterStatements> statements_;
  std::unique_ptr<GroupCommitWriter> writer_;
};

}  // namespace internal

namespace {

using internal::EventLogCore;

Result<internal::WriterStatements> prepare_writer_statements(Connection& c) {
  std::vector<Result<PreparedStatement>> s;
  for (std::string_view sql : {
           "SELECT id, head FROM brokers WHERE name = ?1;",
           "INSERT INTO brokers (name, head) VALUES (?1, 0);",
           "UPDATE brokers SET head = ?2 WHERE id = ?1;",
           "SELECT event_offset, accepted_at FROM accepted_ids WHERE broker = ?1 AND source = ?2 AND id = ?3;",
           "INSERT INTO events (broker, event_offset, id, source, received_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, "
           "?6);",
           "INSERT OR REPLACE INTO accepted_ids (broker, source, id, event_offset, accepted_at) "
           "VALUES (?1, ?2, ?3, ?4, ?5);",
           "SELECT broker, cursor_offset FROM consumers WHERE name = ?1;",
           "SELECT head FROM brokers WHERE id = ?1;",
           "INSERT INTO consumers (name, broker, cursor_offset) VALUES (?1, ?2, ?3) "
           "ON CONFLICT (name) DO UPDATE SET cursor_offset = excluded.cursor_offset;",
           "DELETE FROM deliveries WHERE consumer = ?1 AND event_offset <= ?2;",
           "SELECT outcome FROM deliveries WHERE consumer = ?1 AND event_offset = ?2;",
           "INSERT INTO deliveries (consumer, event_offset, attempts, next_attempt_at, last_error) "
           "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (consumer, event_offset) DO UPDATE SET "
           "attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at, "
           "last_error = excluded.last_error;",
           "UPDATE consumers SET last_error = ?2, last_error_at = ?3 WHERE name = ?1;",
           "INSERT INTO deliveries (consumer, event_offset, attempts, outcome, detail) VALUES (?1, ?2, 0, ?3, ?4) "
           "ON CONFLICT (consumer, event_offset) DO UPDATE SET outcome = excluded.outcome, detail = excluded.detail;",
           "UPDATE consumers SET delivered = delivered + 1 WHERE name = ?1;",
           "UPDATE consumers SET dead_lettered = dead_lettered + 1, last_error = ?2, last_error_at = ?3 "
           "WHERE name = ?1;",
           "DELETE FROM deliveries WHERE consumer = ?1;",
           "DELETE FROM consumers WHERE name = ?1;",
       }) {
    s.push_back(PreparedStatement::prepare(c, sql));
    if (!s.back()) return s.back().error();
  }
  size_t i = 0;
  auto next = [&]() { return std::move(*s[i++]); };
  return internal::WriterStatements{next(), next(), next(), next(), next(), next(), next(), next(), next(),
                                    next(), next(), next(), next(), next(), next(), next(), next(), next()};
}

}  // namespace

namespace internal {

Status EventLogCore::start(std::unique_ptr<Connection> write, std::unique_ptr<Connection> read) {
  write_ = std::move(write);
  read_ = std::move(read);
  auto statements = prepare_writer_statements(*write_);
  if (!statements) return statements.error();
  statements_ = std::make_unique<WriterStatements>(std::move(*statements));
  auto writer = GroupCommitWriter::create(*write_, {options_.max_batch, options_.max_queued_events});
  if (!writer) return writer.error();
  writer_ = std::move(*writer);
  writer_->start();
  return {};
}

Result<EventLogCore::Broker> EventLogCore::ensure_broker(std::string_view name) {
  {
    auto find = statements_->find_broker.use();
    find.bind(1, name);
    auto row = find.step();
    if (!row) return row.error();
    if (*row) return Broker{find.int_at(0), static_cast<uint64_t>(find.int_at(1))};
  }
  auto insert = statements_->insert_broker.use();
  if (Status st = insert.bind(1, name).run(); !st) return st.error();
  return Broker{sqlite3_last_insert_rowid(write_->db.get()), 0};
}

Result<std::optional<EventLogCore::Consumer>> EventLogCore::find_consumer(std::string_view name) {
  auto find = statements_->find_consumer.use();
  find.bind(1, name);
  auto row = find.step();
  if (!row) return row.error();
  if (!*row) return std::optional<Consumer>();
  return std::optional<Consumer>(Consumer{find.int_at(0), static_cast<uint64_t>(find.int_at(1))});
}

Result<uint64_t> EventLogCore::head_of(int64_t broker) {
  auto find = statements_->head_by_id.use();
  find.bind(1, broker);
  auto row = find.step();
  if (!row) return row.error();
  return *row ? static_cast<uint64_t>(find.int_at(0)) : 0;
}

Result<std::vector<AppendOutcome>> EventLogCore::apply_append(const std::string& broker_name,
                                                              const std::vector<NewEvent>& events) {
  const int64_t now = to_millis(wall_now());
  const int64_t window = options_.dedup_window.count();
  auto broker = ensure_broker(broker_name);
  if (!broker) return broker.error();
  uint64_t head = broker->head;
  std::vector<AppendOutcome> outcomes;
  outcomes.reserve(events.size());
  for (const NewEvent& event : events) {
    {
      auto find = statements_->find_accepted.use();
      find.bind(1, broker->id).bind(2, event.source).bind(3, event.id);
      auto row = find.step();
      if (!row) return row.error();
      if (*row && now - find.int_at(1) < window) {
        outcomes.push_back({static_cast<uint64_t>(find.int_at(0)), true});
        continue;
      }
    }
    const uint64_t offset = ++head;
    auto insert = statements_->insert_event.use();
    insert.bind(1, broker->id).bind(2, as_sql(offset)).bind(3, event.id).bind(4, event.source).bind(5, now);
    insert.bind_blob(6, event.payload);
    if (Status st = insert.run(); !st) return st.error();
    auto accepted = statements_->put_accepted.use();
    accepted.bind(1, broker->id).bind(2, event.source).bind(3, event.id).bind(4, as_sql(offset)).bind(5, now);
    if (Status st = accepted.run(); !st) return st.error();
    outcomes.push_back({offset, false});
  }
  if (head != broker->head) {
    auto set = statements_->set_head.use();
    if (Status st = set.bind(1, broker->id).bind(2, as_sql(head)).run(); !st) return st.error();
  }
  return outcomes;
}

Status EventLogCore::apply_set_cursor(const std::string& consumer_name, const std::string& broker_name,
                                      uint64_t offset) {
  auto broker = ensure_broker(broker_name);
  if (!broker) return broker.error();
  auto consumer = find_consumer(consumer_name);
  if (!consumer) return consumer.error();
  if (*consumer && (*consumer)->broker != broker->id) {
    return make_error(std::string(kConsumerOnOtherBroker),
                      fmt::format("the event consumer '{}' follows another broker than '{}': remove it first to "
                                  "subscribe it anew",
                                  consumer_name, broker_name),
                      409);
  }
  if (offset > broker->head) {
    return make_error(std::string(kOffsetOutOfRange),
                      fmt::format("cannot move the cursor of '{}' to {}: broker '{}' has events up to {} only",
                                  consumer_name, offset, broker_name, broker->head),
                      400);
  }
  if (*consumer && offset < (*consumer)->cursor) {
    return make_error(std::string(kOffsetOutOfRange),
                      fmt::format("cannot move the cursor of '{}' back from {} to {}: a cursor only moves forward",
                                  consumer_name, (*consumer)->cursor, offset),
                      400);
  }
  {
    auto upsert = statements_->upsert_consumer.use();
    if (Status st = upsert.bind(1, consumer_name).bind(2, broker->id).bind(3, as_sql(offset)).run(); !st) return st;
  }
  auto drop = statements_->drop_deliveries_through.use();
  return drop.bind(1, consumer_name).bind(2, as_sql(offset)).run();
}

Status EventLogCore::apply_record_attempt(const std::string& consumer_name, uint64_t offset, uint32_t attempt,
                                          SystemTime next_at, const std::string& last_error) {
  auto consumer = find_consumer(consumer_name);
  if (!consumer) return consumer.error();
  if (!*consumer) return consumer_not_found(consumer_name);
  auto head = head_of((*consumer)->broker);
  if (!head) return head.error();
  if (offset == 0 || offset > *head) return offset_out_of_range(consumer_name, offset, *head);
  auto finished = [&] {
    return make_error(
        std::string(kDeliveryFinished),
        fmt::format("offset {} of consumer '{}' is finished already: it is not delivered again", offset, consumer_name),
        409);
  };
  if (offset <= (*consumer)->cursor) return finished();
  {
    auto find = statements_->find_delivery.use();
    find.bind(1, consumer_name).bind(2, as_sql(offset));
    auto row = find.step();
    if (!row) return row.error();
    if (*row && find.int_at(0) != kPending) return finished();
  }
  {
    auto put = statements_->put_attempt.use();
    put.bind(1, consumer_name).bind(2, as_sql(offset)).bind(3, static_cast<int64_t>(attempt));
    put.bind(4, to_millis(next_at)).bind(5, last_error);
    if (Status st = put.run(); !st) return st;
  }
  if (last_error.empty()) return {};
  auto set_error = statements_->set_consumer_error.use();
  return set_error.bind(1, consumer_name).bind(2, last_error).bind(3, to_millis(wall_now())).run();
}

Status EventLogCore::apply_finish(const std::string& consumer_name, uint64_t offset, DeliveryOutcome outcome,
                                  const std::string& detail) {
  auto consumer = find_consumer(consumer_name);
  if (!consumer) return consumer.error();
  if (!*consumer) return consumer_not_found(consumer_name);
  auto head = head_of((*consumer)->broker);
  if (!head) return head.error();
  if (offset == 0 || offset > *head) return offset_out_of_range(consumer_name, offset, *head);
  if (offset <= (*consumer)->cursor) return {};
  {
    auto find = statements_->find_delivery.use();
    find.bind(1, consumer_name).bind(2, as_sql(offset));
    auto row = find.step();
    if (!row) return row.error();
    if (*row && find.int_at(0) != kPending) return {};
  }
  const bool delivered = outcome == DeliveryOutcome::delivered;
  {
    auto put = statements_->put_outcome.use();
    put.bind(1, consumer_name).bind(2, as_sql(offset)).bind(3, delivered ? kDelivered : kDeadLettered).bind(4, detail);
    if (Status st = put.run(); !st) return st;
  }
  if (delivered) return statements_->count_delivered.use().bind(1, consumer_name).run();
  auto count = statements_->count_dead_lettered.use();
  return count.bind(1, consumer_name).bind(2, detail).bind(3, to_millis(wall_now())).run();
}

Result<bool> EventLogCore::apply_remove_consumer(const std::string& consumer_name) {
  if (Status st = statements_->drop_deliveries.use().bind(1, consumer_name).run(); !st) return st.error();
  if (Status st = statements_->drop_consumer.use().bind(1, consumer_name).run(); !st) return st.error();
  return sqlite3_changes(write_->db.get()) > 0;
}

// Compaction in steps, each in a transaction of its own: events broker by broker, then expired
// dedup entries, then free pages back to the file system.
class CompactionTask final : public MaintenanceTask {
 public:
  CompactionTask(EventLogCore& core, SystemTime now, std::function<void(Result<CompactionReport>)> done)
      : core_(core),
        events_before_(to_millis(now - core.options_.retention)),
        accepted_before_(to_millis(now - core.options_.dedup_window)),
        chunk_(as_sql(core.options_.compaction_chunk)),
        done_(std::move(done)) {}

  Result<bool> step() override {
    switch (phase_) {
      case Phase::list_brokers:
        return list_brokers();
      case Phase::events:
        return remove_events();
      case Phase::accepted_ids:
        return remove_accepted_ids();
      case Phase::vacuum:
        return vacuum();
    }
    return true;
  }

  void complete(Status outcome) override {
    if (!outcome) {
      done_(outcome.error());
    } else {
      done_(report_);
    }
  }

 private:
  enum class Phase { list_brokers, events, accepted_ids, vacuum };

  Connection& conn() { return *core_.write_; }

  Result<bool> list_brokers() {
    auto list = PreparedStatement::prepare(conn(), "SELECT id FROM brokers ORDER BY id;", false);
    if (!list) return list.error();
    auto use = list->use();
    while (true) {
      auto row = use.step();
      if (!row) return row.error();
      if (!*row) break;
      brokers_.push_back(use.int_at(0));
    }
    phase_ = Phase::events;
    return false;
  }

  // Within a transaction, so that no cursor moves back in between: the floor is what every
  // consumer has finished, and events are removed from the oldest up to the first one that is
  // still within retention (received_at can step back when the wall clock does; stopping there
  // only keeps events longer).
  Result<bool> remove_events() {
    if (next_broker_ >= brokers_.size()) {
      phase_ = Phase::accepted_ids;
      return false;
    }
    const int64_t broker = brokers_[next_broker_];
    auto removed = in_transaction([&]() -> Result<int64_t> {
      auto floor_stmt =
          PreparedStatement::prepare(conn(),
                                     "SELECT COALESCE((SELECT MIN(cursor_offset) FROM consumers WHERE broker = ?1), "
                                     "(SELECT head FROM brokers WHERE id = ?1));",
                                     false);
      if (!floor_stmt) return floor_stmt.error();
      int64_t floor = 0;
      {
        auto use = floor_stmt->use();
        auto row = use.bind(1, broker).step();
        if (!row) return row.error();
        floor = *row ? use.int_at(0) : 0;
      }
      auto scan = PreparedStatement::prepare(conn(),
                                             "SELECT event_offset, received_at FROM events WHERE broker = ?1 AND "
                                             "event_offset <= ?2 ORDER BY event_offset LIMIT ?3;",
                                             false);
      if (!scan) return scan.error();
      int64_t last = 0;
      int64_t count = 0;
      {
        auto use = scan->use();
        use.bind(1, broker).bind(2, floor).bind(3, chunk_);
        while (true) {
          auto row = use.step();
          if (!row) return row.error();
          if (!*row || use.int_at(1) >= events_before_) break;
          last = use.int_at(0);
          ++count;
        }
      }
      if (count == 0) return int64_t{0};
      auto remove =
          PreparedStatement::prepare(conn(), "DELETE FROM events WHERE broker = ?1 AND event_offset <= ?2;", false);
      if (!remove) return remove.error();
      if (Status st = remove->use().bind(1, broker).bind(2, last).run(); !st) return st.error();
      return static_cast<int64_t>(sqlite3_changes(conn().db.get()));
    });
    if (!removed) return removed.error();
    report_.events_removed += static_cast<uint64_t>(*removed);
    if (*removed < chunk_) ++next_broker_;
    return false;
  }

  Result<bool> remove_accepted_ids() {
    struct Chunk {
      int64_t removed = 0;
      bool last = true;
    };
    auto chunk = in_transaction([&]() -> Result<Chunk> {
      // The chunk's newest time bounds the delete: entries of equal time go together, so each
      // step removes at least one and the task always ends.
      auto bound_stmt = PreparedStatement::prepare(conn(),
                                                   "SELECT accepted_at FROM accepted_ids WHERE accepted_at < ?1 "
                                                   "ORDER BY accepted_at LIMIT 1 OFFSET ?2;",
                                                   false);
      if (!bound_stmt) return bound_stmt.error();
      Chunk c;
      int64_t bound = accepted_before_;
      {
        auto use = bound_stmt->use();
        auto row = use.bind(1, accepted_before_).bind(2, chunk_ - 1).step();
        if (!row) return row.error();
        if (*row) {
          bound = std::min(use.int_at(0) + 1, accepted_before_);
          c.last = false;
        }
      }
      auto remove = PreparedStatement::prepare(conn(), "DELETE FROM accepted_ids WHERE accepted_at < ?1;", false);
      if (!remove) return remove.error();
      if (Status st = remove->use().bind(1, bound).run(); !st) return st.error();
      c.removed = sqlite3_changes(conn().db.get());
      return c;
    });
    if (!chunk) return chunk.error();
    report_.dedup_entries_removed += static_cast<uint64_t>(chunk->removed);
    if (chunk->last) phase_ = Phase::vacuum;
    return false;
  }

  Result<bool> vacuum() {
    auto before = pragma_text(conn(), "PRAGMA freelist_count;");
    if (!before) return before.error();
    const int64_t free_before = std::stoll(*before);
    if (free_before == 0) return true;
    if (Status st = conn().exec(fmt::format("PRAGMA incremental_vacuum({});", kVacuumPagesPerStep)); !st)
      return st.error();
    auto after = pragma_text(conn(), "PRAGMA freelist_count;");
    if (!after) return after.error();
    const int64_t free_after = std::stoll(*after);
    report_.pages_reclaimed += static_cast<uint64_t>(std::max<int64_t>(0, free_before - free_after));
    // With auto_vacuum off (a file made by other means) nothing is freed: stop rather than spin.
    return free_after == 0 || free_after >= free_before;
  }

  template <typename F>
  auto in_transaction(F body) -> decltype(body()) {
    if (Status st = conn().exec("BEGIN IMMEDIATE;"); !st) return st.error();
    auto result = body();
    Status committed = result ? conn().exec("COMMIT;") : Status(result.error());
    if (!committed) {
      if (sqlite3_get_autocommit(conn().db.get()) == 0) (void)conn().exec("ROLLBACK;");
      return committed.error();
    }
    return result;
  }

  EventLogCore& core_;
  const int64_t events_before_;
  const int64_t accepted_before_;
  const int64_t chunk_;
  std::function<void(Result<CompactionReport>)> done_;
  Phase phase_ = Phase::list_brokers;
  std::vector<int64_t> brokers_;
  size_t next_broker_ = 0;
  CompactionReport report_;
};

}  // namespace internal

// ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<EventLog>> EventLog::open(const std::string& path, const EventLogOptions& options,
                                                 const Clock& clock, SystemTime wall_at_start) {
  if (Status st = validate(options); !st) return st.error();
  auto write = open_connection(path);
  if (!write) return write.error();
  Connection& w = **write;
  // auto_vacuum takes effect only before the first table exists, i.e. on a new file; it must
  // precede the switch to WAL.
  if (Status st = w.exec("PRAGMA auto_vacuum=INCREMENTAL;"); !st) {
    return is_damage(w.db.get()) ? damaged(path, st.error().message) : st.error();
  }
  auto mode = pragma_text(w, "PRAGMA journal_mode=WAL;");
  if (!mode) return is_damage(w.db.get()) ? damaged(path, mode.error().message) : mode.error();
  if (*mode != "wal") {
    return make_error("store_error", fmt::format("the event log {} cannot use write-ahead logging (journal mode "
                                                 "stays '{}'): put the state dir on a local file system",
                                                 path, *mode));
  }
  // FULL: a commit is on disk (the WAL fsynced) before any caller hears it succeeded. The size
  // limit keeps the WAL from staying huge after a burst.
  for (auto pragma : {"PRAGMA synchronous=FULL;", "PRAGMA journal_size_limit=67108864;"}) {
    if (Status st = w.exec(pragma); !st) return st.error();
  }
  if (Status st = migrate(w); !st) return st.error();
  ::chmod(path.c_str(), 0600);  // events carry user data

  auto read = open_connection(path);
  if (!read) return read.error();
  if (Status st = (*read)->exec("PRAGMA query_only=1;"); !st) return st.error();

  auto core = std::make_unique<internal::EventLogCore>(options, clock, wall_at_start, path);
  if (Status st = core->start(std::move(*write), std::move(*read)); !st) return st.error();
  return std::unique_ptr<EventLog>(new EventLog(std::move(core)));
}

EventLog::EventLog(std::unique_ptr<internal::EventLogCore> core) : core_(std::move(core)) {}

EventLog::~EventLog() { close(); }

void EventLog::close() {
  check_not_writer(*core_->writer_, "close");
  core_->writer_->close();
}

const std::string& EventLog::path() const { return core_->path_; }

EventLogStats EventLog::stats() const {
  EventLogStats s;
  s.commits = core_->writer_->commits();
  s.events_stored = core_->events_stored_.load(std::memory_order_relaxed);
  s.duplicates = core_->duplicates_.load(std::memory_order_relaxed);
  s.rejected_backlog = core_->writer_->rejected();
  s.queued = core_->writer_->queued();
  return s;
}

namespace {

Status validate_append(std::string_view broker, const std::vector<NewEvent>& events, const EventLogOptions& options) {
  if (broker.empty()) return make_error(std::string(kInvalidEvent), "an event needs a broker name", 400);
  if (events.size() > options.max_queued_events) {
    return make_error(std::string(kEventBatchTooLarge),
                      fmt::format("{} events in one append is more than the event log queues at once ({}): send "
                                  "them in smaller batches",
                                  events.size(), options.max_queued_events),
                      413);
  }
  for (const NewEvent& e : events) {
    if (e.id.empty() || e.source.empty()) {
      return make_error(std::string(kInvalidEvent),
                        fmt::format("every event for broker '{}' needs a non-empty id and source", broker), 400);
    }
  }
  return {};
}

}  // namespace

Status EventLog::append_async(std::string_view broker, std::vector<NewEvent> events, AppendCallback done) {
  if (Status st = validate_append(broker, events, core_->options_); !st) return st;
  const size_t weight = events.size();
  if (weight == 0) {
    done(std::vector<AppendOutcome>{});
    return {};
  }
  using R = Result<std::vector<AppendOutcome>>;
  internal::EventLogCore* core = core_.get();
  auto shared = std::make_shared<std::vector<NewEvent>>(std::move(events));
  return core->submit<R>(
      weight, [core, name = std::string(broker), shared]() { return core->apply_append(name, *shared); },
      [core, done = std::move(done)](R r) {
        if (r) {
          uint64_t dups = 0;
          for (const auto& o : *r) dups += o.duplicate ? 1 : 0;
          core->duplicates_.fetch_add(dups, std::memory_order_relaxed);
          core->events_stored_.fetch_add(r->size() - dups, std::memory_order_relaxed);
        }
        done(std::move(r));
      });
}

Result<std::vector<AppendOutcome>> EventLog::append(std::string_view broker, std::vector<NewEvent> events) {
  check_not_writer(*core_->writer_, "append");
  if (Status st = validate_append(broker, events, core_->options_); !st) return st.error();
  if (events.empty()) return std::vector<AppendOutcome>{};
  using R = Result<std::vector<AppendOutcome>>;
  auto promise = std::make_shared<std::promise<R>>();
  auto future = promise->get_future();
  if (Status st = append_async(broker, std::move(events), [promise](R r) { promise->set_value(std::move(r)); }); !st)
    return st.error();
  return future.get();
}

Status EventLog::set_cursor(std::string_view consumer, std::string_view broker, uint64_t offset) {
  internal::EventLogCore* core = core_.get();
  return core->call<Status>("set_cursor", 1, [core, c = std::string(consumer), b = std::string(broker), offset] {
    return core->apply_set_cursor(c, b, offset);
  });
}

Status EventLog::set_cursor_async(std::string_view consumer, std::string_view broker, uint64_t offset,
                                  StatusCallback done) {
  internal::EventLogCore* core = core_.get();
  return core->submit<Status>(
      1,
      [core, c = std::string(consumer), b = std::string(broker), offset] {
        return core->apply_set_cursor(c, b, offset);
      },
      std::move(done));
}

Status EventLog::record_attempt(std::string_view consumer, uint64_t offset, uint32_t attempt_number,
                                SystemTime next_attempt_at, std::string_view last_error) {
  internal::EventLogCore* core = core_.get();
  return core->call<Status>(
      "record_attempt", 1,
      [core, c = std::string(consumer), offset, attempt_number, next_attempt_at, e = std::string(last_error)] {
        return core->apply_record_attempt(c, offset, attempt_number, next_attempt_at, e);
      });
}

Status EventLog::record_attempt_async(std::string_view consumer, uint64_t offset, uint32_t attempt_number,
                                      SystemTime next_attempt_at, std::string_view last_error, StatusCallback done) {
  internal::EventLogCore* core = core_.get();
  return core->submit<Status>(
      1,
      [core, c = std::string(consumer), offset, attempt_number, next_attempt_at, e = std::string(last_error)] {
        return core->apply_record_attempt(c, offset, attempt_number, next_attempt_at, e);
      },
      std::move(done));
}

Status EventLog::finish(std::string_view consumer, uint64_t offset, DeliveryOutcome outcome, std::string_view detail) {
  internal::EventLogCore* core = core_.get();
  return core->call<Status>("finish", 1, [core, c = std::string(consumer), offset, outcome, d = std::string(detail)] {
    return core->apply_finish(c, offset, outcome, d);
  });
}

Status EventLog::finish_async(std::string_view consumer, uint64_t offset, DeliveryOutcome outcome,
                              std::string_view detail, StatusCallback done) {
  internal::EventLogCore* core = core_.get();
  return core->submit<Status>(
      1,
      [core, c = std::string(consumer), offset, outcome, d = std::string(detail)] {
        return core->apply_finish(c, offset, outcome, d);
      },
      std::move(done));
}

Result<bool> EventLog::remove_consumer(std::string_view consumer) {
  internal::EventLogCore* core = core_.get();
  return core->call<Result<bool>>("remove_consumer", 1,
                                  [core, c = std::string(consumer)] { return core->apply_remove_consumer(c); });
}

Result<CompactionReport> EventLog::compact(SystemTime now) {
  check_not_writer(*core_->writer_, "compact");
  using R = Result<CompactionReport>;
  auto promise = std::make_shared<std::promise<R>>();
  auto future = promise->get_future();
  auto task =
      std::make_unique<internal::CompactionTask>(*core_, now, [promise](R r) { promise->set_value(std::move(r)); });
  if (Status st = core_->writer_->submit(std::move(task)); !st) return st.error();
  return future.get();
}

// --- reads ---------------------------------------------------------------------------------

Result<std::vector<LoggedEvent>> EventLog::read(std::string_view broker, uint64_t after_offset, size_t limit) {
  Connection& conn = *core_->read_;
  std::lock_guard lock(conn.mutex);
  auto stmt =
      PreparedStatement::prepare(conn,
                                 "SELECT e.event_offset, e.id, e.source, e.received_at, e.payload FROM events e "
                                 "WHERE e.broker = (SELECT id FROM brokers WHERE name = ?1) "
                                 "AND e.event_offset > ?2 ORDER BY e.event_offset LIMIT ?3;",
                                 false);
  if (!stmt) return stmt.error();
  auto use = stmt->use();
  use.bind(1, broker).bind(2, as_sql(after_offset)).bind(3, as_sql(limit));
  std::vector<LoggedEvent> events;
  while (true) {
    auto row = use.step();
    if (!row) return row.error();
    if (!*row) break;
    events.push_back({static_cast<uint64_t>(use.int_at(0)), use.text_at(1), use.text_at(2), use.blob_at(4),
                      from_millis(use.int_at(3))});
  }
  return events;
}

namespace {

// One number from the read connection; `fallback` when there is no row.
Result<uint64_t> read_number(Connection& conn, std::string_view sql, std::string_view key, uint64_t fallback) {
  std::lock_guard lock(conn.mutex);
  auto stmt = PreparedStatement::prepare(conn, sql, false);
  if (!stmt) return stmt.error();
  auto use = stmt->use();
  auto row = use.bind(1, key).step();
  if (!row) return row.error();
  return *row ? static_cast<uint64_t>(use.int_at(0)) : fallback;
}

}  // namespace

Result<uint64_t> EventLog::head(std::string_view broker) {
  return read_number(*core_->read_, "SELECT head FROM brokers WHERE name = ?1;", broker, 0);
}

Result<uint64_t> EventLog::backlog(std::string_view broker) {
  return read_number(
      *core_->read_,
      "SELECT b.head - COALESCE((SELECT MIN(c.cursor_offset) FROM consumers c WHERE c.broker = b.id), 0) "
      "FROM brokers b WHERE b.name = ?1;",
      broker, 0);
}

Result<std::optional<uint64_t>> EventLog::cursor(std::string_view consumer) {
  Connection& conn = *core_->read_;
  std::lock_guard lock(conn.mutex);
  auto stmt = PreparedStatement::prepare(conn, "SELECT cursor_offset FROM consumers WHERE name = ?1;", false);
  if (!stmt) return stmt.error();
  auto use = stmt->use();
  auto row = use.bind(1, consumer).step();
  if (!row) return row.error();
  if (!*row) return std::optional<uint64_t>();
  return std::optional<uint64_t>(static_cast<uint64_t>(use.int_at(0)));
}

Result<std::vector<PendingDelivery>> EventLog::unfinished(std::string_view consumer, size_t limit) {
  Connection& conn = *core_->read_;
  std::lock_guard lock(conn.mutex);
  auto stmt = PreparedStatement::prepare(conn,
                                         "SELECT d.event_offset, d.attempts, d.next_attempt_at, d.last_error "
                                         "FROM deliveries d JOIN consumers c ON c.name = d.consumer "
                                         "WHERE d.consumer = ?1 AND d.outcome = 0 AND d.event_offset > c.cursor_offset "
                                         "ORDER BY d.event_offset LIMIT ?2;",
                                         false);
  if (!stmt) return stmt.error();
  auto use = stmt->use();
  use.bind(1, consumer).bind(2, as_sql(limit));
  std::vector<PendingDelivery> pending;
  while (true) {
    auto row = use.step();
    if (!row) return row.error();
    if (!*row) break;
    pending.push_back({static_cast<uint64_t>(use.int_at(0)), static_cast<uint32_t>(use.int_at(1)),
                       from_millis(use.int_at(2)), use.text_at(3)});
  }
  return pending;
}

Result<std::vector<uint64_t>> EventLog::finished_past_cursor(std::string_view consumer, size_t limit) {
  Connection& conn = *core_->read_;
  std::lock_guard lock(conn.mutex);
  auto stmt =
      PreparedStatement::prepare(conn,
                                 "SELECT d.event_offset FROM deliveries d JOIN consumers c ON c.name = d.consumer "
                                 "WHERE d.consumer = ?1 AND d.outcome <> 0 AND d.event_offset > c.cursor_offset "
                                 "ORDER BY d.event_offset LIMIT ?2;",
                                 false);
  if (!stmt) return stmt.error();
  auto use = stmt->use();
  use.bind(1, consumer).bind(2, as_sql(limit));
  std::vector<uint64_t> offsets;
  while (true) {
    auto row = use.step();
    if (!row) return row.error();
    if (!*row) break;
    offsets.push_back(static_cast<uint64_t>(use.int_at(0)));
  }
  return offsets;
}

Result<std::optional<ConsumerCounters>> EventLog::counters(std::string_view consumer) {
  Connection& conn = *core_->read_;
  std::lock_guard lock(conn.mutex);
  auto stmt = PreparedStatement::prepare(
      conn,
      "SELECT b.name, c.cursor_offset, c.delivered, c.dead_lettered, c.last_error, c.last_error_at, "
      "(SELECT COUNT(*) FROM deliveries d WHERE d.consumer = c.name AND d.outcome = 0 "
      "AND d.event_offset > c.cursor_offset) "
      "FROM consumers c JOIN brokers b ON b.id = c.broker WHERE c.name = ?1;",
      false);
  if (!stmt) return stmt.error();
  auto use = stmt->use();
  auto row = use.bind(1, consumer).step();
  if (!row) return row.error();
  if (!*row) return std::optional<ConsumerCounters>();
  ConsumerCounters c;
  c.broker = use.text_at(0);
  c.cursor = static_cast<uint64_t>(use.int_at(1));
  c.delivered = static_cast<uint64_t>(use.int_at(2));
  c.dead_lettered = static_cast<uint64_t>(use.int_at(3));
  c.last_error = use.text_at(4);
  if (!use.is_null(5)) c.last_error_at = from_millis(use.int_at(5));
  c.retrying = static_cast<uint64_t>(use.int_at(6));
  return std::optional<ConsumerCounters>(std::move(c));
}

}  // namespace fnd::store
