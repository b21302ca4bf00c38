// A statement prepared once and run many times (the event log's hot statements), private to the
// store module. Unlike Statement (connection.hpp) it binds blobs and NULLs and can be reused.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "connection.hpp"
#include "core/error.hpp"

namespace fnd::store::internal {

// One run of a PreparedStatement. Bindings are 1-based, columns 0-based. The statement is reset
// and its bindings cleared when the use goes, so no statement keeps a read transaction open
// (COMMIT and checkpoints would otherwise wait for it).
class StatementUse {
 public:
  StatementUse(Connection& connection, sqlite3_stmt* stmt) : connection_(connection), stmt_(stmt) {}
  ~StatementUse();
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

  StatementUse& bind(int index, int64_t number);
  StatementUse& bind(int index, std::string_view text);
  StatementUse& bind_blob(int index, std::string_view bytes);
  StatementUse& bind_null(int index);

  // true = a row is available, false = done.
  Result<bool> step();
  Status run();  // steps until done

  bool is_null(int column) const;
  int64_t int_at(int column) const;
  std::string text_at(int column) const;
  std::string blob_at(int column) const;

 private:
  Connection& connection_;
  sqlite3_stmt* stmt_;
};

class PreparedStatement {
 public:
  // `persistent`: the statement lives as long as the connection and is run often.
  static Result<PreparedStatement> prepare(Connection& connection, std::string_view sql, bool persistent = true);

  // Not reentrant: one use at a time.
  StatementUse use() { return StatementUse(*connection_, stmt_.get()); }

 private:
  PreparedStatement(Connection& connection, StatementPtr stmt) : connection_(&connection), stmt_(std::move(stmt)) {}
  Connection* connection_;
  StatementPtr stmt_;
};

}  // namespace fnd::store::internal
