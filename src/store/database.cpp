#include "store/database.hpp"

#include <fmt/format.h>

#include "store/code_store.hpp"
#include "store/internal/connection.hpp"

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
};

}  // namespace

Database::Database(std::unique_ptr<internal::Connection> connection) : connection_(std::move(connection)) {}
Database::~Database() = default;

Result<std::unique_ptr<Database>> Database::open(const std::string& path) {
  auto conn = std::make_unique<internal::Connection>();
  conn->path = path;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  conn->db.reset(raw);
  if (rc != SQLITE_OK) return conn->error("open database");
  sqlite3_busy_timeout(raw, 5000);
  for (auto pragma : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=NORMAL;", "PRAGMA foreign_keys=ON;"}) {
    if (Status st = conn->exec(pragma); !st) return st.error();
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
  return std::unique_ptr<Database>(new Database(std::move(conn)));
}

int Database::schema_version() const {
  std::lock_guard lock(connection_->mutex);
  auto read = connection_->prepare("SELECT MAX(version) FROM schema_version;");
  if (!read || !read->step()) return 0;
  return static_cast<int>(read->column_int(0));
}

}  // namespace fnd::store
