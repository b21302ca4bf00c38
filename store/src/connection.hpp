// SQLite handle wrappers, private to the store module.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fnd::store::internal {

struct Sqlite3Deleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Sqlite3Ptr = std::unique_ptr<sqlite3, Sqlite3Deleter>;
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

// A prepared statement with positional binding (1-based) and row stepping.
class Statement {
 public:
  Statement(sqlite3* db, StatementPtr stmt) : db_(db), stmt_(std::move(stmt)) {}
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, int64_t number);
  // true = a row is available, false = done; errors come back as values.
  Result<bool> step();
  Status run();  // steps until done
  std::string column_text(int index) const;
  int64_t column_int(int index) const;

 private:
  sqlite3* db_;
  StatementPtr stmt_;
};

// The error for the last failure on `db`: 507 insufficient_storage when the disk is full.
Error sqlite_error(sqlite3* db, std::string_view what, std::string_view path);

struct Connection {
  Sqlite3Ptr db;
  std::mutex mutex;  // sqlite3 handles are used from more than one thread
  std::string path;

  Status exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql);
  Error error(std::string_view what) const;
};

}  // namespace fnd::store::internal
