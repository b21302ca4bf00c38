#include "store/database.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <vector>

#include "store/code_store.hpp"
#include "connection.hpp"
#include "private_files.hpp"

namespace fnd::store {

namespace internal {

Error sqlite_error(sqlite3* db, std::string_view what, std::string_view path) {
  int code = sqlite3_errcode(db);
  if (code == SQLITE_FULL) {
    return make_error(std::string(kInsufficientStorage),
                      fmt::format("{}: the disk holding the database {} is full; free space and retry", what, path), 507);
  }
  return make_error("store_error", fmt::format("{} ({}): {}", what, path, sqlite3_errmsg(db)));
}

Error Connection::error(std::string_view what) const { return sqlite_error(db.get(), what, path); }

Status Connection::exec(std::string_view sql) {
  char* message = nullptr;
  if (sqlite3_exec(db.get(), std::string(sql).c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    sqlite3_free(message);
    return error("database statement");
  }
  return {};
}

Result<Statement> Connection::prepare(std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db.get(), sql.data(), static_cast<int>(sql.size()), &raw, nullptr) != SQLITE_OK)
    return error("prepare statement");
  return Statement(db.get(), StatementPtr(raw));
}

Statement& Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_.get(), index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind(int index, int64_t number) {
  sqlite3_bind_int64(stmt_.get(), index, number);
  return *this;
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sqlite_error(db_, "database step", sqlite3_db_filename(db_, "main"));
}

Status Statement::run() {
  while (true) {
    auto r = step();
    if (!r) return r.error();
    if (!*r) return {};
  }
}

std::string Statement::column_text(int index) const {
  const unsigned char* text = sqlite3_column_text(stmt_.get(), index);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), index)))
              : std::string();
}

int64_t Statement::column_int(int index) const { return sqlite3_column_int64(stmt_.get(), index); }

}  // namespace internal

namespace {

// Schema migrations, applied in order; version N is the state after kMigrations[N-1].
// Never edit a shipped migration: append a new one.
constexpr std::string_view kMigrations[] = {
    R"sql(
      CREATE TABLE functions (
        name TEXT PRIMARY KEY,
        latest_revision INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL);
      CREATE TABLE revisions (
        function TEXT NOT NULL,
        number INTEGER NOT NULL,
        spec TEXT NOT NULL,
        code TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (function, number));
    )sql",
    // Secrets: values sealed with AES-256-GCM under the master key (secret_store.cpp). Versions
    // come from one sequence so that no version is ever reused.
    R"sql(
      CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL);
      CREATE TABLE secret_values (
        secret TEXT NOT NULL REFERENCES secrets(name) ON DELETE CASCADE,
        key TEXT NOT NULL,
        sealed TEXT NOT NULL,
        PRIMARY KEY (secret, key));
      CREATE TABLE secret_versions (last INTEGER NOT NULL);
      INSERT INTO secret_versions VALUES (0);
    )sql",
    // API tokens: only the SHA-256 of a token is stored. A revoked token keeps its row (so it is
    // reported as revoked) and frees its name for a new token.
    R"sql(
      CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        function_patterns TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER);
      CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
    )sql",
    // The audit log of mutating API calls, queried newest first and pruned by age.
    R"sql(
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        result TEXT NOT NULL,
        detail TEXT NOT NULL);
      CREATE INDEX audit_log_time ON audit_log (time);
    )sql",
    // Declarations of the eventing and mesh modules (brokers, triggers, services, ...), one JSON
    // document per kind and name (resource_repository.cpp).
    R"sql(
      CREATE TABLE resources (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        spec TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (kind, name));
    )sql",
    // A function's traffic (weights across its revisions, tags), as the JSON of PUT
    // /api/v1/functions/NAME/traffic; '' = every call to the latest revision. It goes with the
    // function's row when the function is deleted.
    R"sql(
      ALTER TABLE functions ADD COLUMN traffic TEXT NOT NULL DEFAULT '';
    )sql",
};

}  // namespace

Database::Database(std::unique_ptr<internal::Connection> connection) : connection_(std::move(connection)) {}
Database::~Database() = default;

namespace {

std::string recovery_steps(const std::string& path) {
  return fmt::format("fnd did not start, so that nothing more is lost. To recover, stop fnd, keep a copy of {0}, then "
                     "either restore your last backup (made with `fnctl admin backup FILE`): copy it to {0} and remove "
                     "{0}-wal and {0}-shm; or salvage what is readable: `sqlite3 {0} .recover | sqlite3 {0}.recovered`, "
                     "then move {0}.recovered to {0}", path);
}

Error damaged(const std::string& path, std::string_view what) {
  return make_error("store_damaged", fmt::format("the database {} is damaged ({}). {}", path, what, recovery_steps(path)), 500);
}

}  // namespace

Result<std::unique_ptr<Database>> Database::open(const std::string& path, size_t code_trees) {
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  const bool was_empty = !existed || std::filesystem::file_size(path, ec) == 0;
  internal::make_database_files_private(path);
  auto conn = std::make_unique<internal::Connection>();
  conn->path = path;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  conn->db.reset(raw);
  if (rc != SQLITE_OK) return conn->error("open database");
  sqlite3_busy_timeout(raw, 5000);
  if (Status st = conn->exec("PRAGMA journal_mode=WAL;"); !st) {
    int code = sqlite3_errcode(raw);
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) return damaged(path, sqlite3_errmsg(raw));
    return st.error();
  }
  for (auto pragma : {"PRAGMA synchronous=NORMAL;", "PRAGMA foreign_keys=ON;"}) {
    if (Status st = conn->exec(pragma); !st) return st.error();
  }
  // A page-level check costs little on a control-plane database and catches a damaged file
  // before anything is read from it or written to it.
  {
    auto check = conn->prepare("PRAGMA quick_check(1);");
    if (!check) return damaged(path, check.error().message);
    auto row = check->step();
    if (!row) return damaged(path, row.error().message);
    if (*row && check->column_text(0) != "ok") return damaged(path, check->column_text(0));
  }
  std::vector<std::string> tables;
  {
    auto list = conn->prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name;");
    if (!list) return list.error();
    while (true) {
      auto row = list->step();
      if (!row) return damaged(path, row.error().message);
      if (!*row) break;
      tables.push_back(list->column_text(0));
    }
  }
  const bool ours = std::find(tables.begin(), tables.end(), "schema_version") != tables.end();
  if (!tables.empty() && !ours) {
    return make_error("store_foreign", fmt::format("{} is not an fnd database (it holds the tables {} but no schema_version): "
                                                   "point --state-dir at fnd's own state dir, or move the file away",
                                                   path, fmt::join(tables, ", ")), 500);
  }
  if (tables.empty() && code_trees > 0) {
    return make_error("store_missing", fmt::format("the database {} is {} but the state dir holds {} code trees: the "
                                                   "database was lost or replaced. Restore it from a backup (copy the "
                                                   "file made by `fnctl admin backup FILE` to {}), or, to start over with "
                                                   "no functions, move the state dir's code/ folder away",
                                                   path, existed ? (was_empty ? "empty" : "new") : "missing",
                                                   code_trees, path), 500);
  }
  if (Status st = conn->exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"); !st)
    return st.error();
  auto read = conn->prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version;");
  if (!read) return read.error();
  if (auto row = read->step(); !row) return row.error();
  int64_t version = read->column_int(0);
  constexpr int64_t kLatest = static_cast<int64_t>(std::size(kMigrations));
  if (version > kLatest) {
    return make_error("store_too_new", fmt::format("database {} has schema version {} but this fnd knows up to {}: "
                                                   "run a newer fnd or use another --state-dir", path, version, kLatest));
  }
  for (int64_t v = version; v < kLatest; ++v) {
    std::string sql = fmt::format("BEGIN; {} DELETE FROM schema_version; INSERT INTO schema_version VALUES ({}); COMMIT;",
                                  kMigrations[v], v + 1);
    if (Status st = conn->exec(sql); !st) {
      (void)conn->exec("ROLLBACK;");
      return make_error("store_migration_failed", fmt::format("migrating {} to schema version {}: {}", path, v + 1, st.error().message));
    }
  }
  ::chmod(path.c_str(), 0600);  // env values live here
  return std::unique_ptr<Database>(new Database(std::move(conn)));
}

Status Database::backup_to(const std::string& path) {
  sqlite3* target = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  internal::Sqlite3Ptr target_db(target);
  if (rc != SQLITE_OK) return internal::sqlite_error(target, "open backup file", path);
  std::lock_guard lock(connection_->mutex);
  sqlite3_backup* backup = sqlite3_backup_init(target, "main", connection_->db.get(), "main");
  if (!backup) return internal::sqlite_error(target, "start backup", path);
  rc = sqlite3_backup_step(backup, -1);
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return internal::sqlite_error(target, "back up database", path);
  ::chmod(path.c_str(), 0600);
  return {};
}

int Database::schema_version() const {
  std::lock_guard lock(connection_->mutex);
  auto read = connection_->prepare("SELECT MAX(version) FROM schema_version;");
  if (!read || !read->step()) return 0;
  return static_cast<int>(read->column_int(0));
}

}  // namespace fnd::store
