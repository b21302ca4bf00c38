#include "store/function_repository.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "core/json.hpp"
#include "store/database.hpp"
#include "connection.hpp"

namespace fnd::store {

namespace {

int64_t to_millis(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
SystemTime from_millis(int64_t ms) { return SystemTime(std::chrono::milliseconds(ms)); }

// A row whose spec cannot be read still comes back, marked damaged: one bad row must not hide
// the function's other revisions, nor stop the daemon from starting.
Revision read_revision(internal::Statement& row) {
  Revision r;
  r.function = row.column_text(0);
  r.number = static_cast<uint32_t>(row.column_int(1));
  r.created_at = from_millis(row.column_int(4));
  auto json_value = parse_json(row.column_text(2));
  if (!json_value) {
    r.damage = fmt::format("revision {} of function '{}' has a stored spec that is not JSON", r.number, r.function);
  } else if (auto spec = config::spec_from_json(*json_value); !spec) {
    r.damage = fmt::format("revision {} of function '{}' has a stored spec fnd cannot accept: {}", r.number, r.function,
                           spec.error().message);
  } else {
    r.spec = std::move(*spec);
  }
  r.spec.name = r.function;
  r.spec.code = row.column_text(3);
  return r;
}

constexpr std::string_view kRevisionColumns = "function, number, spec, code, created_at";

}  // namespace

Result<std::vector<FunctionRecord>> FunctionRepository::list() {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt =
      conn.prepare("SELECT name, latest_revision, created_at, updated_at, traffic FROM functions ORDER BY name;");
  if (!stmt) return stmt.error();
  std::vector<FunctionRecord> out;
  while (true) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back({stmt->column_text(0), static_cast<uint32_t>(stmt->column_int(1)), from_millis(stmt->column_int(2)),
                   from_millis(stmt->column_int(3)), stmt->column_text(4)});
  }
  return out;
}

Result<std::optional<FunctionRecord>> FunctionRepository::find(const std::string& name) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt =
      conn.prepare("SELECT name, latest_revision, created_at, updated_at, traffic FROM functions WHERE name = ?;");
  if (!stmt) return stmt.error();
  stmt->bind(1, name);
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) return std::optional<FunctionRecord>();
  return std::optional<FunctionRecord>(FunctionRecord{stmt->column_text(0), static_cast<uint32_t>(stmt->column_int(1)),
                                                      from_millis(stmt->column_int(2)),
                                                      from_millis(stmt->column_int(3)), stmt->column_text(4)});
}

namespace {

// The caller holds the connection's mutex.
Result<std::optional<Revision>> read_latest(internal::Connection& conn, const std::string& name) {
  auto stmt = conn.prepare(fmt::format("SELECT {} FROM revisions WHERE function = ? ORDER BY number DESC LIMIT 1;", kRevisionColumns));
  if (!stmt) return stmt.error();
  stmt->bind(1, name);
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) return std::optional<Revision>();
  return std::optional<Revision>(read_revision(*stmt));
}

Status check_precondition(const std::string& name, const std::optional<Revision>& latest, const RevisionPrecondition& want) {
  auto mismatch = [&](std::string why) {
    return make_error("revision_mismatch", fmt::format("function '{}' {}; nothing was changed. Read it again and retry",
                                                       name, why), 412);
  };
  if (want.must_not_exist && latest) return mismatch(fmt::format("exists already, at revision {} (If-None-Match: *)", latest->number));
  if (want.must_exist && !latest) return mismatch("does not exist (If-Match: *)");
  if (want.latest_is) {
    if (!latest) return mismatch(fmt::format("does not exist, so it is not at revision {} (If-Match)", *want.latest_is));
    if (latest->number != *want.latest_is)
      return mismatch(fmt::format("is at revision {}, not {} (If-Match)", latest->number, *want.latest_is));
  }
  return {};
}

}  // namespace

Result<std::optional<Revision>> FunctionRepository::latest_revision(const std::string& name) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  return read_latest(conn, name);
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
    out.push_back(read_revision(*stmt));
  }
  return out;
}

Result<PutRevisionResult> FunctionRepository::put_revision(const config::FunctionSpec& spec,
                                                           const RevisionPrecondition& precondition) {
  config::FunctionSpec stored = spec;
  stored.name.clear();  // the name and code have their own columns
  stored.code.clear();
  std::string spec_text = config::spec_to_json_text(stored);
  // What is written must read back: a spec that does not is a bug, never a stored row.
  if (!parse_json(spec_text)) {
    return make_error("internal_error", fmt::format("function '{}': the spec does not serialize to JSON; nothing was stored", spec.name));
  }

  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  // The latest revision is read inside the write transaction: two deploys of one function can
  // never both build on the same latest revision.
  if (Status st = conn.exec("BEGIN IMMEDIATE;"); !st) return st.error();
  auto fail = [&](Error e) -> Result<PutRevisionResult> {
    (void)conn.exec("ROLLBACK;");
    return e;
  };
  auto latest = read_latest(conn, spec.name);
  if (!latest) return fail(latest.error());
  if (Status st = check_precondition(spec.name, *latest, precondition); !st) return fail(st.error());
  if (*latest && (*latest)->damage.empty() && (*latest)->spec == spec && !precondition.even_if_unchanged) {
    (void)conn.exec("ROLLBACK;");
    return PutRevisionResult{std::move(**latest), false};
  }
  Revision rev{spec.name, *latest ? (*latest)->number + 1 : 1, spec, std::chrono::system_clock::now(), {}};
  int64_t now = to_millis(rev.created_at);
  auto insert = conn.prepare(fmt::format("INSERT INTO revisions ({}) VALUES (?, ?, ?, ?, ?);", kRevisionColumns));
  if (!insert) return fail(insert.error());
  insert->bind(1, spec.name).bind(2, int64_t{rev.number}).bind(3, spec_text).bind(4, spec.code).bind(5, now);
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

Result<bool> FunctionRepository::set_traffic(const std::string& name, std::string_view traffic) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare("UPDATE functions SET traffic = ? WHERE name = ?;");
  if (!stmt) return stmt.error();
  stmt->bind(1, traffic).bind(2, name);
  if (Status st = stmt->run(); !st) return st.error();
  return sqlite3_changes(conn.db.get()) > 0;
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

namespace fnd::store {

namespace {

Result<std::set<std::string>> read_digests(internal::Connection& conn, std::string_view sql, const std::string* name) {
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare(sql);
  if (!stmt) return stmt.error();
  if (name) stmt->bind(1, *name);
  std::set<std::string> out;
  while (true) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    out.insert(stmt->column_text(0));
  }
  return out;
}

}  // namespace

Result<std::set<std::string>> FunctionRepository::referenced_code() {
  return read_digests(db_.connection(), "SELECT DISTINCT code FROM revisions;", nullptr);
}

Result<std::set<std::string>> FunctionRepository::code_of(const std::string& name) {
  return read_digests(db_.connection(), "SELECT DISTINCT code FROM revisions WHERE function = ?;", &name);
}

}  // namespace fnd::store
