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
  // Opens (creating if needed) the file and migrates its schema to the newest version.
  static Result<std::unique_ptr<Database>> open(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  int schema_version() const;
  internal::Connection& connection() { return *connection_; }

 private:
  explicit Database(std::unique_ptr<internal::Connection> connection);
  std::unique_ptr<internal::Connection> connection_;
};

}  // namespace fnd::store
