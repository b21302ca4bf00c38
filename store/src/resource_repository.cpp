#include "store/resource_repository.hpp"

#include <chrono>
#include <mutex>
#include <string>

#include "connection.hpp"
#include "store/database.hpp"
#include "wall_clock.hpp"

namespace fnd::store {

namespace {

Resource read_row(internal::Statement& stmt) {
  return {stmt.column_text(0), stmt.column_text(1), stmt.column_text(2), internal::from_millis(stmt.column_int(3)),
          internal::from_millis(stmt.column_int(4))};
}

}  // namespace

Result<bool> ResourceRepository::put(std::string_view kind, std::string_view name, std::string_view spec) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  const int64_t now = internal::to_millis(std::chrono::system_clock::now());
  auto update = conn.prepare("UPDATE resources SET spec = ?, updated_at = ? WHERE kind = ? AND name = ?;");
  if (!update) return update.error();
  update->bind(1, spec).bind(2, now).bind(3, kind).bind(4, name);
  if (Status st = update->run(); !st) return st.error();
  if (sqlite3_changes(conn.db.get()) > 0) return false;
  auto insert =
      conn.prepare("INSERT INTO resources (kind, name, spec, created_at, updated_at) VALUES (?, ?, ?, ?, ?);");
  if (!insert) return insert.error();
  insert->bind(1, kind).bind(2, name).bind(3, spec).bind(4, now).bind(5, now);
  if (Status st = insert->run(); !st) return st.error();
  return true;
}

Result<std::optional<Resource>> ResourceRepository::get(std::string_view kind, std::string_view name) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt =
      conn.prepare("SELECT kind, name, spec, created_at, updated_at FROM resources WHERE kind = ? AND name = ?;");
  if (!stmt) return stmt.error();
  stmt->bind(1, kind).bind(2, name);
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) return std::optional<Resource>();
  return std::optional<Resource>(read_row(*stmt));
}

Result<std::vector<Resource>> ResourceRepository::list(std::string_view kind) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt =
      conn.prepare("SELECT kind, name, spec, created_at, updated_at FROM resources WHERE kind = ? ORDER BY name;");
  if (!stmt) return stmt.error();
  stmt->bind(1, kind);
  std::vector<Resource> out;
  while (true) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(read_row(*stmt));
  }
  return out;
}

Result<bool> ResourceRepository::remove(std::string_view kind, std::string_view name) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare("DELETE FROM resources WHERE kind = ? AND name = ?;");
  if (!stmt) return stmt.error();
  stmt->bind(1, kind).bind(2, name);
  if (Status st = stmt->run(); !st) return st.error();
  return sqlite3_changes(conn.db.get()) > 0;
}

Result<uint64_t> ResourceRepository::remove_updated_before(std::string_view kind, SystemTime before) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare("DELETE FROM resources WHERE kind = ? AND updated_at < ?;");
  if (!stmt) return stmt.error();
  stmt->bind(1, kind).bind(2, internal::to_millis(before));
  if (Status st = stmt->run(); !st) return st.error();
  return static_cast<uint64_t>(sqlite3_changes(conn.db.get()));
}

}  // namespace fnd::store
