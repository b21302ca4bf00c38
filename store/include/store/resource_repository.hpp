// Named declarations of the eventing and mesh modules (brokers, triggers, sources, services,
// policies, ...): one JSON document per (kind, name) in fnd.db. The store keeps the text and never
// parses it: each module validates its own specs before put() and reads them back at start.
//
// Thread safety: every call is safe from any thread (the database connection is locked per call);
// calls block on disk I/O, so keep them off the io thread's hot paths.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace fnd::store {

class Database;

struct Resource {
  std::string kind;  // "broker", "trigger", ...
  std::string name;
  std::string spec;  // JSON text, as put
  SystemTime created_at;
  SystemTime updated_at;
};

class ResourceRepository {
 public:
  explicit ResourceRepository(Database& db) : db_(db) {}

  // Creates or replaces (kind, name); returns true when it was created. Errors: store_error,
  // insufficient_storage (507).
  Result<bool> put(std::string_view kind, std::string_view name, std::string_view spec);
  Result<std::optional<Resource>> get(std::string_view kind, std::string_view name);
  // Every resource of `kind`, by name.
  Result<std::vector<Resource>> list(std::string_view kind);
  // true when it existed.
  Result<bool> remove(std::string_view kind, std::string_view name);
  // Removes the resources of `kind` last put before `before`; says how many.
  Result<uint64_t> remove_updated_before(std::string_view kind, SystemTime before);

 private:
  Database& db_;
};

}  // namespace fnd::store
