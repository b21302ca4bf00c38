// The audit log: one entry per mutating API call (who did what to what, and how it ended), read
// newest first and pruned by age for retention.
//
// An entry is written with one INSERT in SQLite's autocommit (WAL, synchronous=NORMAL: no fsync
// per entry), so append() may run on every mutating API call. It is not for the invocation path.
//
// Thread safety: safe from any thread. Calls block on SQLite. The Database must outlive the AuditLog.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace fnd::store {

class Database;

// A longer field is cut to this many bytes (at a character boundary): a huge request must not
// make a huge log.
inline constexpr size_t kMaxAuditFieldBytes = 4096;
inline constexpr size_t kMaxAuditQueryLimit = 10000;

struct AuditEntry {
  SystemTime time;     // stored with millisecond precision
  std::string actor;   // the token's name, or "uid:N" for a caller on the local socket
  std::string action;  // "function.deploy", "secret.put", ...
  std::string target;  // what the action was on: "shop-cart"
  std::string result;  // "ok", or the error code the call ended with
  std::string detail;  // free text for people; never a secret value

  bool operator==(const AuditEntry&) const = default;
};

struct AuditQuery {
  std::optional<SystemTime> since;    // entries at or after
  std::optional<SystemTime> until;    // entries before
  size_t limit = 100;                 // at most kMaxAuditQueryLimit
  std::optional<std::string> actor;   // exactly this actor
  std::optional<std::string> action;  // exactly this action
};

class AuditLog {
 public:
  explicit AuditLog(Database& db) : db_(db) {}

  // Errors: store_error, insufficient_storage (507) when the disk is full.
  Status append(const AuditEntry& entry);
  // The entries `query` selects, newest first (entries of one millisecond: last appended first).
  Result<std::vector<AuditEntry>> query(const AuditQuery& query);
  // Removes the entries older than `older_than` and says how many there were.
  Result<uint64_t> prune(SystemTime older_than);

 private:
  Database& db_;
};

}  // namespace fnd::store
