#include "store/function_repository.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "core/json.hpp"
#include "store/database.hpp"
#include "store/internal/connection.hpp"

namespace fnd::store {

namespace {

int64_t to_millis(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
SystemTime from_millis(int64_t ms) { return SystemTime(std::chrono::milliseconds(ms)); }

Result<Revision> read_revision(internal::Statement& row) {
  Revision r;
  r.function = row.column_text(0);
  r.number = static_cast<uint32_t>(row.column_int(1));
  auto json_value = parse_json(row.column_text(2));
  if (!json_value) return make_error("store_corrupt", fmt::format("revision {} of {}: stored spec is not JSON", r.number, r.function));
  auto spec = config::spec_from_json(*json_value);
  if (!spec) return make_error("store_corrupt", fmt::format("revision {} of {}: {}", r.number, r.function, spec.error().message));
  r.spec = std::move(*spec);
  r.spec.name = r.function;
  r.spec.code = row.column_text(3);
  r.created_at = from_millis(row.column_int(4));
  return r;
}

constexpr std::string_view kRevisionColumns = "function, number, spec, code, created_at";

}  // namespace

Result<std::vector<FunctionRecord>> FunctionRepository::list() {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare("SELECT name, latest_revision, created_at, updated_at FROM functions ORDER BY name;");
  if (!stmt) return stmt.error();
  std::vector<FunctionRecord> out;
  while (true) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back({stmt->column_text(0), static_cast<uint32_t>(stmt->column_int(1)), from_millis(stmt->column_int(2)),
                   from_millis(stmt->column_int(3))});
  }
  return out;
}

Result<std::optional<FunctionRecord>> FunctionRepository::find(const std::string& name) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare("SELECT name, latest_revision, created_at, updated_at FROM functions WHERE name = ?;");
  if (!stmt) return stmt.error();
  stmt->bind(1, name);
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) return std::optional<FunctionRecord>();
  return std::optional<FunctionRecord>(FunctionRecord{stmt->column_text(0), static_cast<uint32_t>(stmt->column_int(1)),
                                                      from_millis(stmt->column_int(2)), from_millis(stmt->column_int(3))});
}

Result<std::optional<Revision>> FunctionRepository::latest_revision(const std::string& name) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare(fmt::format("SELECT {} FROM revisions WHERE function = ? ORDER BY number DESC LIMIT 1;", kRevisionColumns));
  if (!stmt) return stmt.error();
  stmt->bind(1, name);
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) return std::optional<Revision>();
  auto r = read_revision(*stmt);
  if (!r) return r.error();
  return std::optional<Revision>(std::move(*r));
}

Result<std::vector<Revision>> FunctionRepository::revisions(const std::string& name) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare(fmt::format("SELECT {} FROM revisions WHERE function = ? ORDER BY number;", kRevisionColumns));
  if (!stmt) return stmt.error();
  stmt->bind(1, name);
  std::vector<Revision> out;
  while (true) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    auto r = read_revision(*stmt);
    if (!r) return r.error();
    out.push_back(std::move(*r));
  }
  return out;
}

Result<PutRevisionResult> FunctionRepository::put_revision(const config::FunctionSpec& spec) {
  auto latest = latest_revision(spec.name);
  if (!latest) return latest.error();
  if (*latest && (*latest)->spec == spec) return PutRevisionResult{std::move(**latest), false};

  config::FunctionSpec stored = spec;
  stored.name.clear();  // the name and code have their own columns
  stored.code.clear();
  Revision rev{spec.name, *latest ? (*latest)->number + 1 : 1, spec, std::chrono::system_clock::now()};
  int64_t now = to_millis(rev.created_at);

  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  if (Status st = conn.exec("BEGIN IMMEDIATE;"); !st) return st.error();
  auto fail = [&](Error e) -> Result<PutRevisionResult> {
    (void)conn.exec("ROLLBACK;");
    return e;
  };
  auto insert = conn.prepare(fmt::format("INSERT INTO revisions ({}) VALUES (?, ?, ?, ?, ?);", kRevisionColumns));
  if (!insert) return fail(insert.error());
  insert->bind(1, spec.name).bind(2, int64_t{rev.number}).bind(3, config::spec_to_json_text(stored)).bind(4, spec.code).bind(5, now);
  if (Status st = insert->run(); !st) return fail(st.error());
  auto upsert = conn.prepare(
      "INSERT INTO functions (name, latest_revision, created_at, updated_at) VALUES (?, ?, ?, ?) "
      "ON CONFLICT(name) DO UPDATE SET latest_revision = excluded.latest_revision, updated_at = excluded.updated_at;");
  if (!upsert) return fail(upsert.error());
  upsert->bind(1, spec.name).bind(2, int64_t{rev.number}).bind(3, now).bind(4, now);
  if (Status st = upsert->run(); !st) return fail(st.error());
  if (Status st = conn.exec("COMMIT;"); !st) return fail(st.error());
  return PutRevisionResult{std::move(rev), true};
}

Result<bool> FunctionRepository::remove(const std::string& name) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  if (Status st = conn.exec("BEGIN IMMEDIATE;"); !st) return st.error();
  auto del_rev = conn.prepare("DELETE FROM revisions WHERE function = ?;");
  auto del_fn = conn.prepare("DELETE FROM functions WHERE name = ?;");
  if (!del_rev || !del_fn) {
    (void)conn.exec("ROLLBACK;");
    return conn.error("delete function");
  }
  del_rev->bind(1, name);
  del_fn->bind(1, name);
  if (Status st = del_rev->run(); !st) { (void)conn.exec("ROLLBACK;"); return st.error(); }
  if (Status st = del_fn->run(); !st) { (void)conn.exec("ROLLBACK;"); return st.error(); }
  bool existed = sqlite3_changes(conn.db.get()) > 0;
  if (Status st = conn.exec("COMMIT;"); !st) return st.error();
  return existed;
}

}  // namespace fnd::store
