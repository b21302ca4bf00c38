// The local SQLite database (WAL mode) under the state dir. Each module owns its tables through a
// repository; schema versions migrate forward when the database opens.
//
// Thread safety: one Database may be used from several threads; calls are serialized inside.
// Calls block on disk I/O: keep them off the invocation hot path.
#pragma once

#include <memory>
#include <string>

#include "core/error.hpp"

namespace fnd::store {

namespace internal {
struct Connection;
}

class Database {
 public:
  // Opens (creating if needed) the file, checks it, and migrates its schema to the newest
  // version. `code_trees` is how much code the state dir holds: a new, empty or missing database
  // next to code means the database was lost, and is refused. Errors (store_damaged,
  // store_missing, store_foreign, store_too_new) say what is wrong and how to recover.
  static Result<std::unique_ptr<Database>> open(const std::string& path, size_t code_trees = 0);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  int schema_version() const;
  // Writes a consistent copy of the whole database to `path` (SQLite's online backup; writers
  // wait meanwhile). Blocks on disk I/O.
  Status backup_to(const std::string& path);
  internal::Connection& connection() { return *connection_; }

 private:
  explicit Database(std::unique_ptr<internal::Connection> connection);
  std::unique_ptr<internal::Connection> connection_;
};

}  // namespace fnd::store
