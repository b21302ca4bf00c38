#include "store/state_store.hpp"

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
#include <initializer_list>
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
#include "core/names.hpp"
#include "group_commit_writer.hpp"
#include "prepared_statement.hpp"
#include "private_files.hpp"
#include "wall_clock.hpp"

namespace fnd::store {

bool is_state_key_not_found(const Error& error) { return error.code == kStateKeyNotFound; }
bool is_state_precondition_failed(const Error& error) { return error.code == kStatePreconditionFailed; }
bool is_state_backlog_full(const Error& error) { return error.code == kStateBacklogFull; }

namespace {

constexpr std::string_view kFunctionPrefix = "fn:";
constexpr std::string_view kSharedPrefix = "shared:";
constexpr size_t kMaxKeyBytes = 512;
// Longer TTLs are refused: expiry times must stay far from int64 milliseconds' limits.
constexpr std::chrono::milliseconds kMaxTtl = std::chrono::hours(24 * 365 * 100);

}  // namespace

std::string function_store(std::string_view function) { return std::string(kFunctionPrefix) + std::string(function); }
std::string shared_store(std::string_view name) { return std::string(kSharedPrefix) + std::string(name); }

Status validate_state_store(std::string_view store) {
  std::string_view kind;
  std::string_view name;
  if (store.starts_with(kFunctionPrefix)) {
    kind = "function";
    name = store.substr(kFunctionPrefix.size());
  } else if (store.starts_with(kSharedPrefix)) {
    kind = "shared store";
    name = store.substr(kSharedPrefix.size());
  } else {
    return make_error(std::string(kInvalidStateStore),
                      fmt::format("invalid state store '{}': name it fn:FUNCTION (a function's own store) or "
                                  "shared:NAME (a shared store)",
                                  store),
                      400);
  }
  if (Status st = validate_name(kind, name); !st) {
    return make_error(std::string(kInvalidStateStore),
                      fmt::format("invalid state store '{}': {}", store, st.error().message), 400);
  }
  return {};
}

Status validate_state_key(std::string_view key) {
  auto printable = [](char c) { return c >= 0x21 && c <= 0x7e; };
  if (!key.empty() && key.size() <= kMaxKeyBytes && std::all_of(key.begin(), key.end(), printable)) return {};
  // The key may be anything: show only a printable, bounded rendering of it.
  std::string shown;
  for (char c : key.substr(0, 64)) shown += printable(c) ? c : '?';
  if (key.size() > 64) shown += "...";
  return make_error(std::string(kInvalidStateKey),
                    fmt::format("invalid state key '{}' ({} bytes): use 1-{} bytes of printable ASCII without spaces",
                                shown, key.size(), kMaxKeyBytes),
                    400);
}

StateOp StateOp::put(std::string key, std::string value, PutOptions options) {
  return StateOp{Kind::put, std::move(key), std::move(value), std::move(options)};
}

StateOp StateOp::del(std::string key, Precondition condition) {
  StateOp op{Kind::del, std::move(key), {}, {}};
  op.options.condition = std::move(condition);
  return op;
}

namespace {

using internal::Connection;
using internal::from_millis;
using internal::PreparedStatement;
using internal::to_millis;

// Schema migrations, applied in order; version N is the state after kMigrations[N-1].
// Never edit a shipped migration: append a new one.
//
// stores.id is AUTOINCREMENT so that an id is never reused: ETags ("id-version") of a deleted
// store never match in a store made later under its name, and the entries a deleted store leaves
// for purge_expired() to remove are invisible (every read goes through stores). stores.version
// counts the puts of the store: each put gives its key the next one. stores.keys and .bytes are
// kept in step with entries by every write. The value is the last column of entries so that
// scans over keys never read its overflow pages.
constexpr std::string_view kMigrations[] = {
    R"sql(
      CREATE TABLE stores (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL DEFAULT 0,
        keys INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE grants (
        store INTEGER NOT NULL,
        function TEXT NOT NULL,
        PRIMARY KEY (store, function)) WITHOUT ROWID;
      CREATE INDEX grants_by_function ON grants (function);
      CREATE TABLE entries (
        store INTEGER NOT NULL,
        key TEXT NOT NULL,
        version INTEGER NOT NULL,
        expires_at INTEGER,
        value_bytes INTEGER NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (store, key));
      CREATE INDEX entries_by_expiry ON entries (store, expires_at) WHERE expires_at IS NOT NULL;
      CREATE TABLE deleted_stores (id INTEGER PRIMARY KEY);
    )sql",
};

// Pages given back per incremental_vacuum step (4 MiB of 4 KiB pages).
constexpr int64_t kVacuumPagesPerStep = 1024;

int64_t as_sql(uint64_t n) {
  return n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                        : static_cast<int64_t>(n);
}

std::string human_bytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < (1ULL << 20)) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024.0);
  if (bytes < (1ULL << 30)) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1ULL << 20));
  return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1ULL << 30));
}

std::string render_etag(int64_t store_id, int64_t version) { return fmt::format("\"{}-{}\"", store_id, version); }

std::string recovery_steps(const std::string& path) {
  return fmt::format(
      "Stop fnd and keep a copy of {0}. Then either salvage what is readable: `sqlite3 {0} .recover | "
      "sqlite3 {0}.recovered` and move {0}.recovered to {0}; or move {0}, {0}-wal and {0}-shm away, and "
      "fnd starts with empty function state (every key of every store is lost)",
      path);
}

Error damaged(const std::string& path, std::string_view what) {
  return make_error(
      std::string(kStateStoreDamaged),
      fmt::format("the state store {} is damaged or not a state store ({}). {}", path, what, recovery_steps(path)),
      500);
}

Error state_backlog_full(size_t queued, size_t limit) {
  Error e = make_error(std::string(kStateBacklogFull),
                       fmt::format("the state store's write queue is full ({} of {} queued writes wait for the disk); "
                                   "retry shortly",
                                   queued, limit),
                       429);
  e.retryable = true;
  e.retry_after_seconds = 1;
  return e;
}

Error state_bytes_backlog_full(uint64_t queued, uint64_t limit) {
  Error e = make_error(std::string(kStateBacklogFull),
                       fmt::format("the state store's write queue is full ({} of {} queued wait for the disk); "
                                   "retry shortly",
                                   human_bytes(queued), human_bytes(limit)),
                       429);
  e.retryable = true;
  e.retry_after_seconds = 1;
  return e;
}

Error state_closed() {
  Error e = make_error(std::string(kStateStoreClosed), "the state store is shutting down; retry once fnd is back", 503);
  e.retryable = true;
  e.retry_after_seconds = 1;
  return e;
}

Error store_not_found(std::string_view store) {
  return make_error(std::string(kStateStoreNotFound),
                    fmt::format("no state store '{}': a shared store exists once an operator creates it", store), 404);
}

Error key_not_found(std::string_view store, std::string_view key) {
  return make_error(std::string(kStateKeyNotFound), fmt::format("no key '{}' in state store '{}'", key, store), 404);
}

Error invalid_request(std::string message) {
  return make_error(std::string(kInvalidStateRequest), std::move(message), 400);
}

// Sync calls wait for the writer thread; made from the writer thread itself they would wait
// forever. That is a bug in the caller, so fail loudly rather than hang.
void check_not_writer(const internal::GroupCommitWriter& writer, const char* call) {
  if (writer.on_writer_thread()) {
    std::fprintf(stderr,
                 "fnd: StateStore::%s called from a state store completion callback (the writer thread); "
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

Status validate(const StateStoreOptions& o) {
  auto bad = [](std::string what) {
    return make_error(std::string(kInvalidStateStoreOptions), "state store options: " + what, 500);
  };
  if (o.max_value_bytes == 0) return bad("max_value_bytes must be at least 1");
  if (o.max_store_bytes == 0) return bad("max_store_bytes must be at least 1");
  if (o.max_keys_per_request == 0) return bad("max_keys_per_request must be at least 1");
  if (o.max_list_limit == 0) return bad("max_list_limit must be at least 1");
  if (o.max_batch == 0) return bad("max_batch must be at least 1");
  if (o.max_queued_writes < o.max_keys_per_request)
    return bad("max_queued_writes must be at least max_keys_per_request");
  if (o.max_queued_bytes < o.max_value_bytes + kMaxKeyBytes)
    return bad("max_queued_bytes must be at least max_value_bytes + 512 (one largest write)");
  if (o.purge_chunk == 0) return bad("purge_chunk must be at least 1");
  if (o.read_connections == 0) return bad("read_connections must be at least 1");
  return {};
}

Result<std::unique_ptr<Connection>> open_connection(const std::string& path) {
  auto conn = std::make_unique<Connection>();
  conn->path = path;
  sqlite3* raw = nullptr;
  // Each connection is used by one thread at a time (the writer's, or a reader under its mutex).
  int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  conn->db.reset(raw);
  if (rc != SQLITE_OK) {
    if (raw == nullptr) return make_error("store_error", fmt::format("open state store {}: out of memory", path));
    return conn->error("open state store");
  }
  sqlite3_busy_timeout(raw, 5000);
  return conn;
}

Result<std::string> query_text(Connection& conn, std::string_view sql) {
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
      if (use.text_at(0) == "state_schema_version") ours = true;
    }
  }
  if (any && !ours) return damaged(path, "it holds tables but no state_schema_version");
  if (Status st = conn.exec("CREATE TABLE IF NOT EXISTS state_schema_version (version INTEGER NOT NULL);"); !st)
    return st;
  auto version_text = query_text(conn, "SELECT COALESCE(MAX(version), 0) FROM state_schema_version;");
  if (!version_text) return version_text.error();
  const int64_t version = std::stoll(*version_text);
  constexpr int64_t kLatest = static_cast<int64_t>(std::size(kMigrations));
  if (version > kLatest) {
    return make_error(std::string(kStateStoreTooNew),
                      fmt::format("the state store {} has schema version {} but this fnd knows up to {}: run a newer "
                                  "fnd or use another --state-dir",
                                  path, version, kLatest));
  }
  for (int64_t v = version; v < kLatest; ++v) {
    std::string sql =
        fmt::format("BEGIN; {} DELETE FROM state_schema_version; INSERT INTO state_schema_version VALUES ({}); COMMIT;",
                    kMigrations[v], v + 1);
    if (Status st = conn.exec(sql); !st) {
      (void)conn.exec("ROLLBACK;");
      return make_error("store_migration_failed", fmt::format("migrating the state store {} to schema version {}: {}",
                                                              path, v + 1, st.error().message));
    }
  }
  return {};
}

Result<std::vector<PreparedStatement>> prepare_all(Connection& c, std::initializer_list<std::string_view> sqls) {
  std::vector<PreparedStatement> out;
  for (std::string_view sql : sqls) {
    auto s = PreparedStatement::prepare(c, sql);
    if (!s) return s.error();
    out.push_back(std::move(*s));
  }
  return out;
}

}  // namespace

namespace internal {

// Statements the writer thread runs; prepared once on the write connection.
struct StateWriterStatements {
  PreparedStatement find_store;
  PreparedStatement insert_store;
  PreparedStatement update_store;
  PreparedStatement find_entry;
  PreparedStatement upsert_entry;
  PreparedStatement delete_entry;
  PreparedStatement expired_of_store;
  PreparedStatement delete_by_rowid;
  PreparedStatement add_counts;
};

// A read connection and its statements; used under conn->mutex.
struct StateReader {
  std::unique_ptr<Connection> conn;
  PreparedStatement get;
  PreparedStatement find_store;
  PreparedStatement find_entry;
  PreparedStatement list;
  PreparedStatement granted;
  PreparedStatement begin;
  PreparedStatement commit;
  PreparedStatement rollback;
};

class StateStoreCore {
 public:
  StateStoreCore(StateStoreOptions options, const Clock& clock, SystemTime wall_at_start, std::string path)
      : options_(options),
        clock_(clock),
        steady_at_start_(clock.now()),
        wall_at_start_(wall_at_start),
        path_(std::move(path)) {}
  ~StateStoreCore() {
    // The writer goes first: it may still run jobs that use the statements and the connection.
    if (writer_) writer_->close();
    writer_.reset();
    statements_.reset();
  }

  Status start(std::unique_ptr<Connection> write, std::vector<std::unique_ptr<StateReader>> readers);

  int64_t now_ms() const { return to_millis(wall_now(clock_, steady_at_start_, wall_at_start_)); }

  // --- bodies run on the writer thread, inside a transaction ---
  struct StoreRow {
    int64_t id = 0;
    int64_t version = 0;
    int64_t keys = 0;
    int64_t bytes = 0;
  };
  struct EntryRow {
    int64_t version = 0;
    std::optional<int64_t> expires_at;
    int64_t value_bytes = 0;
  };
  struct Reclaimed {
    int64_t keys = 0;
    int64_t bytes = 0;
  };
  Result<std::optional<StoreRow>> find_store(std::string_view name);
  Result<std::optional<EntryRow>> find_entry(int64_t store, std::string_view key);
  // Removes up to `limit` keys of `store` expired at `now`, adjusting stores' counters.
  Result<Reclaimed> reclaim_expired(int64_t store, int64_t now, int64_t limit);
  Result<std::vector<OpOutcome>> apply_ops(const std::string& store, const std::vector<StateOp>& ops,
                                           uint64_t& expired_removed);
  Status apply_create_shared(const std::string& store);
  // The number of keys the store had; nullopt when it did not exist.
  Result<std::optional<int64_t>> apply_delete_store(const std::string& store);
  Result<bool> apply_grant(const std::string& store, const std::string& function, bool grant);
  Result<uint64_t> apply_remove_function(const std::string& function);

  // Queues a job of `weight` operations carrying `bytes` of keys and values.
  template <typename R>
  Status submit(size_t weight, uint64_t bytes, std::function<R()> body, std::function<void(R)> done) {
    const uint64_t before = queued_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    if (bytes > 0 && before + bytes > options_.max_queued_bytes) {
      queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      rejected_bytes_.fetch_add(1, std::memory_order_relaxed);
      return state_bytes_backlog_full(before, options_.max_queued_bytes);
    }
    auto release = [this, bytes, done = std::move(done)](R r) {
      queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      done(std::move(r));
    };
    Status st = writer_->submit(std::make_unique<CallJob<R>>(std::move(body), std::move(release)), weight);
    if (!st) queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    return st;
  }
  // Submits and waits for the commit.
  template <typename R>
  R call(const char* name, std::function<R()> body) {
    check_not_writer(*writer_, name);
    auto promise = std::make_shared<std::promise<R>>();
    auto future = promise->get_future();
    if (Status st = submit<R>(1, 0, std::move(body), [promise](R r) { promise->set_value(std::move(r)); }); !st)
      return st.error();
    return future.get();
  }

  // Runs `body(reader)` on a free read connection (or, when all are busy, waits for one).
  template <typename F>
  auto read(F body) -> decltype(body(std::declval<StateReader&>())) {
    const size_t n = readers_.size();
    const size_t first = next_reader_.fetch_add(1, std::memory_order_relaxed) % n;
    for (size_t i = 0; i < n; ++i) {
      StateReader& r = *readers_[(first + i) % n];
      std::unique_lock lock(r.conn->mutex, std::try_to_lock);
      if (lock.owns_lock()) return body(r);
    }
    StateReader& r = *readers_[first];
    std::lock_guard lock(r.conn->mutex);
    return body(r);
  }

  void count_outcome(const Error& error) {
    if (error.code == kStatePreconditionFailed) precondition_failures_.fetch_add(1, std::memory_order_relaxed);
    if (error.code == kStateQuotaExceeded) quota_rejections_.fetch_add(1, std::memory_order_relaxed);
  }

  const StateStoreOptions options_;
  const Clock& clock_;
  const SteadyTime steady_at_start_;
  const SystemTime wall_at_start_;
  const std::string path_;

  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> precondition_failures_{0};
  std::atomic<uint64_t> quota_rejections_{0};
  std::atomic<uint64_t> expired_removed_{0};
  std::atomic<uint64_t> rejected_bytes_{0};
  std::atomic<uint64_t> queued_bytes_{0};
  std::atomic<size_t> next_reader_{0};

  std::vector<std::unique_ptr<StateReader>> readers_;
  std::unique_ptr<Connection> write_;  // the writer thread's alone once it runs
  std::unique_ptr<StateWriterStatements> statements_;
  std::unique_ptr<GroupCommitWriter> writer_;
};

Status StateStoreCore::start(std::unique_ptr<Connection> write, std::vector<std::unique_ptr<StateReader>> readers) {
  write_ = std::move(write);
  readers_ = std::move(readers);
  auto s =
      prepare_all(*write_, {
                               "SELECT id, version, keys, bytes FROM stores WHERE name = ?1;",
                               "INSERT INTO stores (name) VALUES (?1);",
                               "UPDATE stores SET version = ?2, keys = ?3, bytes = ?4 WHERE id = ?1;",
                               "SELECT version, expires_at, value_bytes FROM entries WHERE store = ?1 AND key = ?2;",
                               // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one statement written over several lines
                               "INSERT INTO entries (store, key, version, expires_at, value_bytes, value) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (store, key) DO UPDATE SET "
                               "version = excluded.version, expires_at = excluded.expires_at, "
                               "value_bytes = excluded.value_bytes, value = excluded.value;",
                               "DELETE FROM entries WHERE store = ?1 AND key = ?2;",
                               "SELECT rowid, length(key) + value_bytes FROM entries "
                               "WHERE store = ?1 AND expires_at <= ?2 LIMIT ?3;",
                               "DELETE FROM entries WHERE rowid = ?1;",
                               "UPDATE stores SET keys = keys + ?2, bytes = bytes + ?3 WHERE id = ?1;",
                           });
  if (!s) return s.error();
  auto& v = *s;
  // NOLINTNEXTLINE(modernize-make-unique): an aggregate, which clang 14 (the fuzz build) cannot make_unique
  statements_.reset(new StateWriterStatements{std::move(v[0]), std::move(v[1]), std::move(v[2]), std::move(v[3]),
                                              std::move(v[4]), std::move(v[5]), std::move(v[6]), std::move(v[7]),
                                              std::move(v[8])});
  auto writer = GroupCommitWriter::create(*write_, {options_.max_batch, options_.max_queued_writes},
                                          WriterErrors{&state_backlog_full, &state_closed});
  if (!writer) return writer.error();
  writer_ = std::move(*writer);
  writer_->start();
  return {};
}

Result<std::optional<StateStoreCore::StoreRow>> StateStoreCore::find_store(std::string_view name) {
  auto find = statements_->find_store.use();
  auto row = find.bind(1, name).step();
  if (!row) return row.error();
  if (!*row) return std::optional<StoreRow>();
  return std::optional<StoreRow>(StoreRow{find.int_at(0), find.int_at(1), find.int_at(2), find.int_at(3)});
}

Result<std::optional<StateStoreCore::EntryRow>> StateStoreCore::find_entry(int64_t store, std::string_view key) {
  auto find = statements_->find_entry.use();
  auto row = find.bind(1, store).bind(2, key).step();
  if (!row) return row.error();
  if (!*row) return std::optional<EntryRow>();
  EntryRow e{find.int_at(0), std::nullopt, find.int_at(2)};
  if (!find.is_null(1)) e.expires_at = find.int_at(1);
  return std::optional<EntryRow>(e);
}

Result<StateStoreCore::Reclaimed> StateStoreCore::reclaim_expired(int64_t store, int64_t now, int64_t limit) {
  std::vector<std::pair<int64_t, int64_t>> rows;  // rowid, bytes
  {
    auto scan = statements_->expired_of_store.use();
    scan.bind(1, store).bind(2, now).bind(3, limit);
    while (true) {
      auto row = scan.step();
      if (!row) return row.error();
      if (!*row) break;
      rows.emplace_back(scan.int_at(0), scan.int_at(1));
    }
  }
  Reclaimed r;
  for (const auto& [rowid, bytes] : rows) {
    if (Status st = statements_->delete_by_rowid.use().bind(1, rowid).run(); !st) return st.error();
    ++r.keys;
    r.bytes += bytes;
  }
  if (r.keys > 0) {
    auto add = statements_->add_counts.use();
    if (Status st = add.bind(1, store).bind(2, -r.keys).bind(3, -r.bytes).run(); !st) return st.error();
  }
  return r;
}

namespace {

// nullopt when `condition` holds for a key whose live ETag is `etag` (nullopt: no live key).
std::optional<std::string> precondition_failure(const Precondition& condition, const std::optional<std::string>& etag) {
  if (condition.if_match) {
    if (!etag) return fmt::format("it does not exist (If-Match {})", *condition.if_match);
    if (*condition.if_match != "*" && *condition.if_match != *etag)
      return fmt::format("its ETag is {}, not {} (If-Match)", *etag, *condition.if_match);
  }
  if (condition.if_none_match_any && etag)
    return fmt::format("it exists already, with ETag {} (If-None-Match: *)", *etag);
  return std::nullopt;
}

}  // namespace

Result<std::vector<OpOutcome>> StateStoreCore::apply_ops(const std::string& store_name, const std::vector<StateOp>& ops,
                                                         uint64_t& expired_removed) {
  const int64_t now = now_ms();
  const bool shared = store_name.starts_with(kSharedPrefix);
  auto found = find_store(store_name);
  if (!found) return found.error();
  std::optional<StoreRow> store = *found;
  if (!store && shared) return store_not_found(store_name);
  if (!store && std::any_of(ops.begin(), ops.end(), [](const StateOp& op) { return op.kind == StateOp::Kind::put; })) {
    if (Status st = statements_->insert_store.use().bind(1, store_name).run(); !st) return st.error();
    store = StoreRow{sqlite3_last_insert_rowid(write_->db.get()), 0, 0, 0};
  }
  const auto quota = as_sql(options_.max_store_bytes);
  const bool several = ops.size() > 1;
  std::vector<OpOutcome> outcomes;
  outcomes.reserve(ops.size());
  bool reclaimed = false;
  for (size_t i = 0; i < ops.size(); ++i) {
    const StateOp& op = ops[i];
    std::optional<EntryRow> entry;
    if (store) {
      auto e = find_entry(store->id, op.key);
      if (!e) return e.error();
      entry = *e;
    }
    auto is_live = [now](const std::optional<EntryRow>& e) { return e && (!e->expires_at || *e->expires_at > now); };
    bool live = is_live(entry);
    std::optional<std::string> etag;
    if (live) etag = render_etag(store->id, entry->version);
    if (auto failure = precondition_failure(op.options.condition, etag)) {
      return make_error(
          std::string(kStatePreconditionFailed),
          fmt::format("precondition failed on key '{}' of state store '{}': {}; {}", op.key, store_name, *failure,
                      several ? fmt::format("no operation of the transaction was applied (operation {} of {} failed)",
                                            i + 1, ops.size())
                              : std::string("nothing was written")),
          412);
    }
    const int64_t key_bytes = static_cast<int64_t>(op.key.size());
    if (op.kind == StateOp::Kind::del) {
      if (entry) {
        auto del = statements_->delete_entry.use();
        if (Status st = del.bind(1, store->id).bind(2, op.key).run(); !st) return st.error();
        store->keys -= 1;
        store->bytes -= key_bytes + entry->value_bytes;
      }
      outcomes.push_back({std::string(), live});
      continue;
    }
    const int64_t new_bytes = key_bytes + static_cast<int64_t>(op.value.size());
    auto old_bytes = [&] { return entry ? key_bytes + entry->value_bytes : 0; };
    if (new_bytes > old_bytes() && store->bytes - old_bytes() + new_bytes > quota && !reclaimed) {
      // Expired keys still count until removed: make room from them before refusing.
      reclaimed = true;
      if (Status st = statements_->update_store.use()
                          .bind(1, store->id)
                          .bind(2, store->version)
                          .bind(3, store->keys)
                          .bind(4, store->bytes)
                          .run();
          !st)
        return st.error();
      auto r = reclaim_expired(store->id, now, as_sql(options_.purge_chunk));
      if (!r) return r.error();
      expired_removed += static_cast<uint64_t>(r->keys);
      store->keys -= r->keys;
      store->bytes -= r->bytes;
      auto e = find_entry(store->id, op.key);
      if (!e) return e.error();
      entry = *e;
    }
    if (new_bytes > old_bytes() && store->bytes - old_bytes() + new_bytes > quota) {
      return make_error(
          std::string(kStateQuotaExceeded),
          fmt::format("state store '{}' holds {} in {} keys of its {} quota, and writing key '{}' ({}) would take it "
                      "past that{}: delete keys, let them expire, or store smaller values",
                      store_name, human_bytes(static_cast<uint64_t>(store->bytes)), store->keys,
                      human_bytes(options_.max_store_bytes), op.key, human_bytes(static_cast<uint64_t>(new_bytes)),
                      several ? "; no operation of the transaction was applied" : ""),
          507);
    }
    const int64_t version = ++store->version;
    {
      auto upsert = statements_->upsert_entry.use();
      upsert.bind(1, store->id).bind(2, op.key).bind(3, version);
      if (op.options.ttl) {
        upsert.bind(4, now + op.options.ttl->count());
      } else {
        upsert.bind_null(4);
      }
      upsert.bind(5, static_cast<int64_t>(op.value.size())).bind_blob(6, op.value);
      if (Status st = upsert.run(); !st) return st.error();
    }
    store->bytes += new_bytes - old_bytes();
    if (!entry) store->keys += 1;
    outcomes.push_back({render_etag(store->id, version), live});
  }
  if (store) {
    auto update = statements_->update_store.use();
    update.bind(1, store->id).bind(2, store->version).bind(3, store->keys).bind(4, store->bytes);
    if (Status st = update.run(); !st) return st.error();
  }
  return outcomes;
}

Status StateStoreCore::apply_create_shared(const std::string& store) {
  auto found = find_store(store);
  if (!found) return found.error();
  if (*found) {
    return make_error(std::string(kStateStoreExists),
                      fmt::format("the state store '{}' exists already: delete it first to start it afresh", store),
                      409);
  }
  return statements_->insert_store.use().bind(1, store).run();
}

Result<std::optional<int64_t>> StateStoreCore::apply_delete_store(const std::string& store) {
  auto found = find_store(store);
  if (!found) return found.error();
  if (!*found) return std::optional<int64_t>();
  const int64_t id = (*found)->id;
  // The entries stay for purge_expired() to remove in chunks: a store of millions of keys must
  // not hold the writer in one statement. With the row gone they are unreachable.
  for (std::string_view sql : {"DELETE FROM grants WHERE store = ?1;", "DELETE FROM stores WHERE id = ?1;",
                               "INSERT INTO deleted_stores (id) VALUES (?1);"}) {
    auto stmt = PreparedStatement::prepare(*write_, sql, false);
    if (!stmt) return stmt.error();
    if (Status st = stmt->use().bind(1, id).run(); !st) return st.error();
  }
  return std::optional<int64_t>((*found)->keys);
}

Result<bool> StateStoreCore::apply_grant(const std::string& store, const std::string& function, bool grant) {
  auto found = find_store(store);
  if (!found) return found.error();
  if (!*found) return store_not_found(store);
  auto stmt = PreparedStatement::prepare(*write_,
                                         grant ? "INSERT OR IGNORE INTO grants (store, function) VALUES (?1, ?2);"
                                               : "DELETE FROM grants WHERE store = ?1 AND function = ?2;",
                                         false);
  if (!stmt) return stmt.error();
  if (Status st = stmt->use().bind(1, (*found)->id).bind(2, function).run(); !st) return st.error();
  return sqlite3_changes(write_->db.get()) > 0;
}

Result<uint64_t> StateStoreCore::apply_remove_function(const std::string& function) {
  auto keys = apply_delete_store(function_store(function));
  if (!keys) return keys.error();
  auto revoke = PreparedStatement::prepare(*write_, "DELETE FROM grants WHERE function = ?1;", false);
  if (!revoke) return revoke.error();
  if (Status st = revoke->use().bind(1, function).run(); !st) return st.error();
  return static_cast<uint64_t>(keys->value_or(0));
}

// Purging in steps, each in a transaction of its own: the keys of deleted stores, then expired
// keys store by store, then free pages back to the file system.
class PurgeTask final : public MaintenanceTask {
 public:
  PurgeTask(StateStoreCore& core, SystemTime now, std::function<void(Result<PurgeReport>)> done)
      : core_(core), now_(to_millis(now)), chunk_(as_sql(core.options_.purge_chunk)), done_(std::move(done)) {}

  Result<bool> step() override {
    switch (phase_) {
      case Phase::deleted_stores:
        return remove_deleted_stores();
      case Phase::list_stores:
        return list_stores();
      case Phase::expired:
        return remove_expired();
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
  enum class Phase { deleted_stores, list_stores, expired, vacuum };

  Connection& conn() { return *core_.write_; }

  Result<bool> remove_deleted_stores() {
    auto removed = in_transaction([&]() -> Result<int64_t> {
      auto next = PreparedStatement::prepare(conn(), "SELECT id FROM deleted_stores ORDER BY id LIMIT 1;", false);
      if (!next) return next.error();
      int64_t id = 0;
      {
        auto use = next->use();
        auto row = use.step();
        if (!row) return row.error();
        if (!*row) return int64_t{-1};
        id = use.int_at(0);
      }
      auto remove = PreparedStatement::prepare(
          conn(), "DELETE FROM entries WHERE rowid IN (SELECT rowid FROM entries WHERE store = ?1 LIMIT ?2);", false);
      if (!remove) return remove.error();
      if (Status st = remove->use().bind(1, id).bind(2, chunk_).run(); !st) return st.error();
      const int64_t n = sqlite3_changes(conn().db.get());
      if (n < chunk_) {
        auto done = PreparedStatement::prepare(conn(), "DELETE FROM deleted_stores WHERE id = ?1;", false);
        if (!done) return done.error();
        if (Status st = done->use().bind(1, id).run(); !st) return st.error();
      }
      return n;
    });
    if (!removed) return removed.error();
    if (*removed < 0) {
      phase_ = Phase::list_stores;
    } else {
      report_.deleted_store_keys_removed += static_cast<uint64_t>(*removed);
    }
    return false;
  }

  Result<bool> list_stores() {
    // Only stores with keys that can expire; the partial index answers without touching others.
    auto list = PreparedStatement::prepare(
        conn(), "SELECT DISTINCT store FROM entries WHERE expires_at <= ?1 ORDER BY store;", false);
    if (!list) return list.error();
    auto use = list->use();
    use.bind(1, now_);
    while (true) {
      auto row = use.step();
      if (!row) return row.error();
      if (!*row) break;
      stores_.push_back(use.int_at(0));
    }
    phase_ = Phase::expired;
    return false;
  }

  Result<bool> remove_expired() {
    if (next_store_ >= stores_.size()) {
      phase_ = Phase::vacuum;
      return false;
    }
    const int64_t store = stores_[next_store_];
    auto removed = in_transaction([&]() { return core_.reclaim_expired(store, now_, chunk_); });
    if (!removed) return removed.error();
    report_.expired_removed += static_cast<uint64_t>(removed->keys);
    core_.expired_removed_.fetch_add(static_cast<uint64_t>(removed->keys), std::memory_order_relaxed);
    if (removed->keys < chunk_) ++next_store_;
    return false;
  }

  Result<bool> vacuum() {
    auto before = query_text(conn(), "PRAGMA freelist_count;");
    if (!before) return before.error();
    const int64_t free_before = std::stoll(*before);
    if (free_before == 0) return true;
    if (Status st = conn().exec(fmt::format("PRAGMA incremental_vacuum({});", kVacuumPagesPerStep)); !st)
      return st.error();
    auto after = query_text(conn(), "PRAGMA freelist_count;");
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

  StateStoreCore& core_;
  const int64_t now_;
  const int64_t chunk_;
  std::function<void(Result<PurgeReport>)> done_;
  Phase phase_ = Phase::deleted_stores;
  std::vector<int64_t> stores_;
  size_t next_store_ = 0;
  PurgeReport report_;
};

}  // namespace internal

// ---------------------------------------------------------------------------------------------

namespace {

Result<std::unique_ptr<internal::StateReader>> open_reader(const std::string& path) {
  auto conn = open_connection(path);
  if (!conn) return conn.error();
  if (Status st = (*conn)->exec("PRAGMA query_only=1;"); !st) return st.error();
  auto s = prepare_all(**conn, {
                                   // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one statement written over several lines
                                   "SELECT s.id, e.version, e.expires_at, e.value FROM stores s "
                                   "LEFT JOIN entries e ON e.store = s.id AND e.key = ?2 WHERE s.name = ?1;",
                                   "SELECT id, keys, bytes FROM stores WHERE name = ?1;",
                                   "SELECT version, expires_at, value FROM entries WHERE store = ?1 AND key = ?2;",
                                   "SELECT key, version, value_bytes, expires_at FROM entries WHERE store = ?1 "
                                   "AND key >= ?2 AND key < ?3 AND (expires_at IS NULL OR expires_at > ?4) "
                                   "ORDER BY key LIMIT ?5;",
                                   "SELECT 1 FROM grants g JOIN stores s ON s.id = g.store "
                                   "WHERE s.name = ?1 AND g.function = ?2;",
                                   "BEGIN;",
                                   "COMMIT;",
                                   "ROLLBACK;",
                               });
  if (!s) return s.error();
  auto& v = *s;
  // NOLINTNEXTLINE(modernize-make-unique): an aggregate, which clang 14 (the fuzz build) cannot make_unique
  return std::unique_ptr<internal::StateReader>(
      new internal::StateReader{std::move(*conn), std::move(v[0]), std::move(v[1]), std::move(v[2]), std::move(v[3]),
                                std::move(v[4]), std::move(v[5]), std::move(v[6]), std::move(v[7])});
}

}  // namespace

Result<std::unique_ptr<StateStore>> StateStore::open(const std::string& path, const StateStoreOptions& options,
                                                     const Clock& clock, SystemTime wall_at_start) {
  if (Status st = validate(options); !st) return st.error();
  internal::make_database_files_private(path);
  auto write = open_connection(path);
  if (!write) return write.error();
  Connection& w = **write;
  // auto_vacuum takes effect only before the first table exists, i.e. on a new file; it must
  // precede the switch to WAL.
  if (Status st = w.exec("PRAGMA auto_vacuum=INCREMENTAL;"); !st) {
    return is_damage(w.db.get()) ? damaged(path, st.error().message) : st.error();
  }
  auto mode = query_text(w, "PRAGMA journal_mode=WAL;");
  if (!mode) return is_damage(w.db.get()) ? damaged(path, mode.error().message) : mode.error();
  if (*mode != "wal") {
    return make_error("store_error", fmt::format("the state store {} cannot use write-ahead logging (journal mode "
                                                 "stays '{}'): put the state dir on a local file system",
                                                 path, *mode));
  }
  // FULL: a commit is on disk (the WAL fsynced) before any caller hears it succeeded. The size
  // limit keeps the WAL from staying huge after a burst.
  for (auto pragma : {"PRAGMA synchronous=FULL;", "PRAGMA journal_size_limit=67108864;"}) {
    if (Status st = w.exec(pragma); !st) return st.error();
  }
  if (Status st = migrate(w); !st) return st.error();
  ::chmod(path.c_str(), 0600);  // function state is user data

  std::vector<std::unique_ptr<internal::StateReader>> readers;
  for (size_t i = 0; i < options.read_connections; ++i) {
    auto reader = open_reader(path);
    if (!reader) return reader.error();
    readers.push_back(std::move(*reader));
  }

  auto core = std::make_unique<internal::StateStoreCore>(options, clock, wall_at_start, path);
  if (Status st = core->start(std::move(*write), std::move(readers)); !st) return st.error();
  return std::unique_ptr<StateStore>(new StateStore(std::move(core)));
}

StateStore::StateStore(std::unique_ptr<internal::StateStoreCore> core) : core_(std::move(core)) {}

StateStore::~StateStore() { close(); }

void StateStore::close() {
  check_not_writer(*core_->writer_, "close");
  core_->writer_->close();
}

const std::string& StateStore::path() const { return core_->path_; }

StateStoreStats StateStore::stats() const {
  StateStoreStats s;
  s.commits = core_->writer_->commits();
  s.writes = core_->writes_.load(std::memory_order_relaxed);
  s.precondition_failures = core_->precondition_failures_.load(std::memory_order_relaxed);
  s.quota_rejections = core_->quota_rejections_.load(std::memory_order_relaxed);
  s.rejected_backlog = core_->writer_->rejected() + core_->rejected_bytes_.load(std::memory_order_relaxed);
  s.expired_removed = core_->expired_removed_.load(std::memory_order_relaxed);
  s.queued = core_->writer_->queued();
  s.queued_bytes = core_->queued_bytes_.load(std::memory_order_relaxed);
  return s;
}

// --- writes ----------------------------------------------------------------------------------

namespace {

Status validate_op(const StateOp& op, const StateStoreOptions& options, std::string_view store) {
  if (Status st = validate_state_key(op.key); !st) return st;
  if (op.kind == StateOp::Kind::del) return {};
  if (op.value.size() > options.max_value_bytes) {
    return make_error(std::string(kStateValueTooLarge),
                      fmt::format("the value for key '{}' of state store '{}' is {}, more than the {} a value may "
                                  "hold: split it over several keys",
                                  op.key, store, human_bytes(op.value.size()), human_bytes(options.max_value_bytes)),
                      413);
  }
  if (op.options.ttl && (op.options.ttl->count() <= 0 || *op.options.ttl > kMaxTtl)) {
    return invalid_request(fmt::format("the TTL of key '{}' must be between 1 ms and 100 years, not {} ms", op.key,
                                       op.options.ttl->count()));
  }
  return {};
}

uint64_t bytes_of(const std::vector<StateOp>& ops) {
  uint64_t bytes = 0;
  for (const StateOp& op : ops) bytes += op.key.size() + op.value.size();
  return bytes;
}

}  // namespace

Status StateStore::transact_async(std::string_view store, std::vector<StateOp> ops, TransactionCallback done) {
  const StateStoreOptions& options = core_->options_;
  if (Status st = validate_state_store(store); !st) return st;
  if (ops.size() > options.max_keys_per_request) {
    return make_error(std::string(kStateRequestTooLarge),
                      fmt::format("{} operations in one state transaction is more than the {} allowed: split it",
                                  ops.size(), options.max_keys_per_request),
                      413);
  }
  for (const StateOp& op : ops) {
    if (Status st = validate_op(op, options, store); !st) return st;
  }
  const uint64_t bytes = bytes_of(ops);
  if (bytes > options.max_queued_bytes) {
    return make_error(std::string(kStateRequestTooLarge),
                      fmt::format("a state transaction of {} is more than the {} one write may carry: split it",
                                  human_bytes(bytes), human_bytes(options.max_queued_bytes)),
                      413);
  }
  if (ops.empty()) {
    done(std::vector<OpOutcome>{});
    return {};
  }
  using R = Result<std::vector<OpOutcome>>;
  internal::StateStoreCore* core = core_.get();
  const size_t count = ops.size();
  // The job's state outlives this call; the writer thread alone touches it once queued.
  struct Job {
    std::string store;
    std::vector<StateOp> ops;
    uint64_t expired_removed = 0;
  };
  auto job = std::make_shared<Job>(Job{std::string(store), std::move(ops), 0});
  return core->submit<R>(
      count, bytes, [core, job]() { return core->apply_ops(job->store, job->ops, job->expired_removed); },
      [core, job, count, done = std::move(done)](R r) {
        if (r) {
          core->writes_.fetch_add(count, std::memory_order_relaxed);
          core->expired_removed_.fetch_add(job->expired_removed, std::memory_order_relaxed);
        } else {
          core->count_outcome(r.error());
        }
        done(std::move(r));
      });
}

Result<std::vector<OpOutcome>> StateStore::transact(std::string_view store, std::vector<StateOp> ops) {
  check_not_writer(*core_->writer_, "transact");
  using R = Result<std::vector<OpOutcome>>;
  auto promise = std::make_shared<std::promise<R>>();
  auto future = promise->get_future();
  if (Status st = transact_async(store, std::move(ops), [promise](R r) { promise->set_value(std::move(r)); }); !st)
    return st.error();
  return future.get();
}

Status StateStore::put_async(std::string_view store, std::string_view key, std::string value, PutOptions options,
                             PutCallback done) {
  std::vector<StateOp> ops;
  ops.push_back(StateOp::put(std::string(key), std::move(value), std::move(options)));
  return transact_async(store, std::move(ops), [done = std::move(done)](Result<std::vector<OpOutcome>> r) {
    if (!r) return done(r.error());
    done(PutOutcome{std::move(r->front().etag), !r->front().existed});
  });
}

Result<PutOutcome> StateStore::put(std::string_view store, std::string_view key, std::string value,
                                   PutOptions options) {
  check_not_writer(*core_->writer_, "put");
  auto promise = std::make_shared<std::promise<Result<PutOutcome>>>();
  auto future = promise->get_future();
  if (Status st = put_async(store, key, std::move(value), std::move(options),
                            [promise](Result<PutOutcome> r) { promise->set_value(std::move(r)); });
      !st)
    return st.error();
  return future.get();
}

Status StateStore::del_async(std::string_view store, std::string_view key, Precondition condition,
                             DeleteCallback done) {
  std::vector<StateOp> ops;
  ops.push_back(StateOp::del(std::string(key), std::move(condition)));
  return transact_async(store, std::move(ops), [done = std::move(done)](Result<std::vector<OpOutcome>> r) {
    if (!r) return done(r.error());
    done(r->front().existed);
  });
}

Result<bool> StateStore::del(std::string_view store, std::string_view key, Precondition condition) {
  check_not_writer(*core_->writer_, "del");
  auto promise = std::make_shared<std::promise<Result<bool>>>();
  auto future = promise->get_future();
  if (Status st =
          del_async(store, key, std::move(condition), [promise](Result<bool> r) { promise->set_value(std::move(r)); });
      !st)
    return st.error();
  return future.get();
}

// --- stores ----------------------------------------------------------------------------------

namespace {

Status validate_shared(std::string_view store) {
  if (Status st = validate_state_store(store); !st) return st;
  if (!store.starts_with(kSharedPrefix)) {
    return make_error(std::string(kInvalidStateStore),
                      fmt::format("'{}' is a function's own store: only shared stores (shared:NAME) are created and "
                                  "granted",
                                  store),
                      400);
  }
  return {};
}

}  // namespace

Status StateStore::create_shared_store(std::string_view name) {
  const std::string store = shared_store(name);
  if (Status st = validate_shared(store); !st) return st;
  internal::StateStoreCore* core = core_.get();
  return core->call<Status>("create_shared_store", [core, store] { return core->apply_create_shared(store); });
}

Result<bool> StateStore::delete_store(std::string_view store) {
  if (Status st = validate_state_store(store); !st) return st.error();
  internal::StateStoreCore* core = core_.get();
  return core->call<Result<bool>>("delete_store", [core, s = std::string(store)]() -> Result<bool> {
    auto keys = core->apply_delete_store(s);
    if (!keys) return keys.error();
    return keys->has_value();
  });
}

Result<bool> StateStore::grant(std::string_view store, std::string_view function) {
  if (Status st = validate_shared(store); !st) return st.error();
  if (Status st = validate_name("function", function); !st) return invalid_request(st.error().message);
  internal::StateStoreCore* core = core_.get();
  return core->call<Result<bool>>(
      "grant", [core, s = std::string(store), f = std::string(function)] { return core->apply_grant(s, f, true); });
}

Result<bool> StateStore::revoke(std::string_view store, std::string_view function) {
  if (Status st = validate_shared(store); !st) return st.error();
  if (Status st = validate_name("function", function); !st) return invalid_request(st.error().message);
  internal::StateStoreCore* core = core_.get();
  return core->call<Result<bool>>(
      "revoke", [core, s = std::string(store), f = std::string(function)] { return core->apply_grant(s, f, false); });
}

Result<uint64_t> StateStore::remove_function(std::string_view function) {
  if (Status st = validate_name("function", function); !st) return invalid_request(st.error().message);
  internal::StateStoreCore* core = core_.get();
  return core->call<Result<uint64_t>>("remove_function",
                                      [core, f = std::string(function)] { return core->apply_remove_function(f); });
}

Result<PurgeReport> StateStore::purge_expired(SystemTime now) {
  check_not_writer(*core_->writer_, "purge_expired");
  using R = Result<PurgeReport>;
  auto promise = std::make_shared<std::promise<R>>();
  auto future = promise->get_future();
  auto task = std::make_unique<internal::PurgeTask>(*core_, now, [promise](R r) { promise->set_value(std::move(r)); });
  if (Status st = core_->writer_->submit(std::move(task)); !st) return st.error();
  return future.get();
}

// --- reads -----------------------------------------------------------------------------------

namespace {

std::optional<SystemTime> expiry_at(const internal::StatementUse& use, int column) {
  if (use.is_null(column)) return std::nullopt;
  return from_millis(use.int_at(column));
}

// The store's id; nullopt for a function store never written. Errors: kStateStoreNotFound.
struct StoreLookup {
  std::optional<int64_t> id;
  StoreUsage usage;
};

Result<StoreLookup> lookup_store(internal::StateReader& r, std::string_view store) {
  auto find = r.find_store.use();
  auto row = find.bind(1, store).step();
  if (!row) return row.error();
  if (!*row) {
    if (store.starts_with(kSharedPrefix)) return store_not_found(store);
    return StoreLookup{};
  }
  return StoreLookup{find.int_at(0), {static_cast<uint64_t>(find.int_at(1)), static_cast<uint64_t>(find.int_at(2)), 0}};
}

}  // namespace

Result<StateEntry> StateStore::get(std::string_view store, std::string_view key) {
  if (Status st = validate_state_store(store); !st) return st.error();
  if (Status st = validate_state_key(key); !st) return st.error();
  const int64_t now = core_->now_ms();
  return core_->read([&](internal::StateReader& r) -> Result<StateEntry> {
    auto get = r.get.use();
    auto row = get.bind(1, store).bind(2, key).step();
    if (!row) return row.error();
    if (!*row) {
      if (store.starts_with(kSharedPrefix)) return store_not_found(store);
      return key_not_found(store, key);
    }
    if (get.is_null(1)) return key_not_found(store, key);
    auto expires_at = expiry_at(get, 2);
    if (expires_at && get.int_at(2) <= now) return key_not_found(store, key);
    return StateEntry{get.blob_at(3), render_etag(get.int_at(0), get.int_at(1)), expires_at};
  });
}

Result<std::vector<BulkEntry>> StateStore::get_many(std::string_view store, const std::vector<std::string>& keys) {
  if (Status st = validate_state_store(store); !st) return st.error();
  if (keys.size() > core_->options_.max_keys_per_request) {
    return make_error(std::string(kStateRequestTooLarge),
                      fmt::format("{} keys in one read is more than the {} allowed: ask in several reads", keys.size(),
                                  core_->options_.max_keys_per_request),
                      413);
  }
  for (const std::string& key : keys) {
    if (Status st = validate_state_key(key); !st) return st.error();
  }
  const int64_t now = core_->now_ms();
  return core_->read([&](internal::StateReader& r) -> Result<std::vector<BulkEntry>> {
    // One read transaction: every key as of the same commit.
    if (Status st = r.begin.use().run(); !st) return st.error();
    auto body = [&]() -> Result<std::vector<BulkEntry>> {
      auto found = lookup_store(r, store);
      if (!found) return found.error();
      std::vector<BulkEntry> out;
      out.reserve(keys.size());
      for (const std::string& key : keys) {
        out.push_back(BulkEntry{key, std::nullopt});
        if (!found->id) continue;
        auto find = r.find_entry.use();
        auto row = find.bind(1, *found->id).bind(2, key).step();
        if (!row) return row.error();
        if (!*row) continue;
        auto expires_at = expiry_at(find, 1);
        if (expires_at && find.int_at(1) <= now) continue;
        out.back().entry = StateEntry{find.blob_at(2), render_etag(*found->id, find.int_at(0)), expires_at};
      }
      return out;
    };
    auto result = body();
    (void)(result ? r.commit.use().run() : r.rollback.use().run());
    return result;
  });
}

Result<KeyPage> StateStore::list(std::string_view store, std::string_view prefix, std::string_view after_key,
                                 size_t limit) {
  if (Status st = validate_state_store(store); !st) return st.error();
  if (!prefix.empty()) {
    if (Status st = validate_state_key(prefix); !st) return invalid_request("invalid prefix: " + st.error().message);
  }
  if (!after_key.empty()) {
    if (Status st = validate_state_key(after_key); !st) return st.error();
  }
  const size_t max = core_->options_.max_list_limit;
  limit = limit == 0 ? max : std::min(limit, max);
  // Keys are bytes 0x21-0x7e: every key starting with `prefix` sorts before prefix with its last
  // byte raised by one, and the first key after `after_key` is at least after_key + "!".
  std::string lower(prefix);
  if (!after_key.empty()) lower = std::max(lower, std::string(after_key) + "!");
  std::string upper = prefix.empty() ? std::string("\x7f") : std::string(prefix);
  if (!prefix.empty()) upper.back() = static_cast<char>(upper.back() + 1);
  const int64_t now = core_->now_ms();
  return core_->read([&](internal::StateReader& r) -> Result<KeyPage> {
    KeyPage page;
    if (Status st = r.begin.use().run(); !st) return st.error();
    auto body = [&]() -> Result<KeyPage> {
      auto found = lookup_store(r, store);
      if (!found) return found.error();
      if (!found->id) return page;
      auto use = r.list.use();
      use.bind(1, *found->id).bind(2, lower).bind(3, upper).bind(4, now).bind(5, as_sql(limit + 1));
      while (true) {
        auto row = use.step();
        if (!row) return row.error();
        if (!*row) break;
        if (page.keys.size() == limit) {
          page.next_after = page.keys.back().key;
          break;
        }
        page.keys.push_back(KeyInfo{use.text_at(0), render_etag(*found->id, use.int_at(1)),
                                    static_cast<uint64_t>(use.int_at(2)), expiry_at(use, 3)});
      }
      return page;
    };
    auto result = body();
    (void)(result ? r.commit.use().run() : r.rollback.use().run());
    return result;
  });
}

Result<bool> StateStore::may_access(std::string_view function, std::string_view store) {
  if (Status st = validate_state_store(store); !st) return st.error();
  if (store.starts_with(kFunctionPrefix)) return store.substr(kFunctionPrefix.size()) == function;
  return core_->read([&](internal::StateReader& r) -> Result<bool> {
    auto use = r.granted.use();
    auto row = use.bind(1, store).bind(2, function).step();
    if (!row) return row.error();
    return *row;
  });
}

Result<StoreUsage> StateStore::usage(std::string_view store) {
  if (Status st = validate_state_store(store); !st) return st.error();
  auto found = core_->read([&](internal::StateReader& r) { return lookup_store(r, store); });
  if (!found) return found.error();
  StoreUsage usage = found->usage;
  usage.quota_bytes = core_->options_.max_store_bytes;
  return usage;
}

Result<std::vector<StoreInfo>> StateStore::list_stores() {
  const uint64_t quota = core_->options_.max_store_bytes;
  return core_->read([&](internal::StateReader& r) -> Result<std::vector<StoreInfo>> {
    auto stmt = PreparedStatement::prepare(*r.conn,
                                           "SELECT s.name, s.keys, s.bytes, g.function FROM stores s "
                                           "LEFT JOIN grants g ON g.store = s.id ORDER BY s.name, g.function;",
                                           false);
    if (!stmt) return stmt.error();
    auto use = stmt->use();
    std::vector<StoreInfo> stores;
    while (true) {
      auto row = use.step();
      if (!row) return row.error();
      if (!*row) break;
      std::string name = use.text_at(0);
      if (stores.empty() || stores.back().name != name) {
        stores.push_back(StoreInfo{
            std::move(name), {static_cast<uint64_t>(use.int_at(1)), static_cast<uint64_t>(use.int_at(2)), quota}, {}});
      }
      if (!use.is_null(3)) stores.back().granted.push_back(use.text_at(3));
    }
    return stores;
  });
}

}  // namespace fnd::store
