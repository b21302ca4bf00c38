#include "store/audit_log.hpp"

#include <algorithm>
#include <string>
#include <string_view>

#include "connection.hpp"
#include "store/database.hpp"
#include "wall_clock.hpp"

namespace fnd::store {

namespace {

// Cuts before a UTF-8 continuation byte so that a cut field stays valid text.
std::string_view cut(std::string_view field) {
  if (field.size() <= kMaxAuditFieldBytes) return field;
  size_t end = kMaxAuditFieldBytes;
  while (end > 0 && (static_cast<unsigned char>(field[end]) & 0xC0) == 0x80) --end;
  return field.substr(0, end);
}

}  // namespace

Status AuditLog::append(const AuditEntry& entry) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt =
      conn.prepare("INSERT INTO audit_log (time, actor, action, target, result, detail) VALUES (?, ?, ?, ?, ?, ?);");
  if (!stmt) return stmt.error();
  stmt->bind(1, internal::to_millis(entry.time))
      .bind(2, cut(entry.actor))
      .bind(3, cut(entry.action))
      .bind(4, cut(entry.target))
      .bind(5, cut(entry.result))
      .bind(6, cut(entry.detail));
  return stmt->run();
}

Result<std::vector<AuditEntry>> AuditLog::query(const AuditQuery& query) {
  // Only the conditions asked for are written, so that a time range walks the time index.
  std::string sql = "SELECT time, actor, action, target, result, detail FROM audit_log WHERE 1";
  if (query.since) sql += " AND time >= ?1";
  if (query.until) sql += " AND time < ?2";
  if (query.actor) sql += " AND actor = ?3";
  if (query.action) sql += " AND action = ?4";
  sql += " ORDER BY time DESC, id DESC LIMIT ?5;";
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare(sql);
  if (!stmt) return stmt.error();
  if (query.since) stmt->bind(1, internal::to_millis(*query.since));
  if (query.until) stmt->bind(2, internal::to_millis(*query.until));
  if (query.actor) stmt->bind(3, *query.actor);
  if (query.action) stmt->bind(4, *query.action);
  stmt->bind(5, static_cast<int64_t>(std::min(query.limit, kMaxAuditQueryLimit)));
  std::vector<AuditEntry> out;
  while (true) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back({internal::from_millis(stmt->column_int(0)), stmt->column_text(1), stmt->column_text(2),
                   stmt->column_text(3), stmt->column_text(4), stmt->column_text(5)});
  }
  return out;
}

Result<uint64_t> AuditLog::prune(SystemTime older_than) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare("DELETE FROM audit_log WHERE time < ?;");
  if (!stmt) return stmt.error();
  stmt->bind(1, internal::to_millis(older_than));
  if (Status st = stmt->run(); !st) return st.error();
  return static_cast<uint64_t>(sqlite3_changes(conn.db.get()));
}

}  // namespace fnd::store
