// Functions and their immutable revisions (spec + code digest) in the database.
//
// Thread safety: safe from any thread. Calls block on SQLite: control plane only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/function_spec.hpp"
#include "core/error.hpp"
#include "core/time.hpp"

namespace fnd::store {

class Database;

struct Revision {
  std::string function;
  uint32_t number = 0;
  config::FunctionSpec spec;  // spec.code holds the code digest; spec.name the function
  SystemTime created_at;
};

struct FunctionRecord {
  std::string name;
  uint32_t latest_revision = 0;
  SystemTime created_at;
  SystemTime updated_at;
};

struct PutRevisionResult {
  Revision revision;
  bool created = false;  // false: the spec equals the latest revision's, nothing was written
};

class FunctionRepository {
 public:
  explicit FunctionRepository(Database& db) : db_(db) {}

  Result<std::vector<FunctionRecord>> list();
  Result<std::optional<FunctionRecord>> find(const std::string& name);
  Result<std::optional<Revision>> latest_revision(const std::string& name);
  Result<std::vector<Revision>> revisions(const std::string& name);
  // Adds revision latest+1 holding `spec` unless it equals the latest revision's spec.
  // spec.name and spec.code must be set.
  Result<PutRevisionResult> put_revision(const config::FunctionSpec& spec);
  // Removes the function and its revisions; false when there was none.
  Result<bool> remove(const std::string& name);

 private:
  Database& db_;
};

}  // namespace fnd::store
