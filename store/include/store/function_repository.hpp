// Functions and their immutable revisions (spec + code digest) in the database.
//
// Thread safety: safe from any thread. Calls block on SQLite: control plane only.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
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
  // Non-empty when the stored spec cannot be read (a damaged row, or one an older fnd wrote
  // without checks): says why. `spec` then holds only name and code. Such a revision is never
  // served; deploying again or deleting the function mends it.
  std::string damage;
};

struct FunctionRecord {
  std::string name;
  uint32_t latest_revision = 0;
  SystemTime created_at;
  SystemTime updated_at;
  // How calls are split across revisions and which tags name which, as JSON text (the
  // scheduler's traffic_split.hpp reads it); empty = every call goes to the latest revision.
  std::string traffic;
};

struct PutRevisionResult {
  Revision revision;
  bool created = false;  // false: the spec equals the latest revision's, nothing was written
};

// Optimistic concurrency for a deploy (HTTP If-Match / If-None-Match): the revision is written
// only when the function's latest revision is what the caller saw.
struct RevisionPrecondition {
  std::optional<uint32_t> latest_is;  // If-Match: "N"
  bool must_exist = false;            // If-Match: *
  bool must_not_exist = false;        // If-None-Match: *
  // A new revision even when the spec equals the latest one's: rolls the function's instances
  // (after a secret it uses changed, say).
  bool even_if_unchanged = false;
};

class FunctionRepository {
 public:
  explicit FunctionRepository(Database& db) : db_(db) {}

  Result<std::vector<FunctionRecord>> list();
  Result<std::optional<FunctionRecord>> find(const std::string& name);
  Result<std::optional<Revision>> latest_revision(const std::string& name);
  Result<std::vector<Revision>> revisions(const std::string& name);
  // Adds revision latest+1 holding `spec` unless it equals the latest revision's spec, in one
  // transaction (concurrent deploys of one function serialize). spec.name and spec.code must be
  // set. Errors: 412 revision_mismatch when `precondition` does not hold.
  Result<PutRevisionResult> put_revision(const config::FunctionSpec& spec, const RevisionPrecondition& precondition = {});
  // Replaces the function's traffic text (see FunctionRecord::traffic); false when there is no
  // such function. The store keeps the text and never parses it.
  Result<bool> set_traffic(const std::string& name, std::string_view traffic);
  // Removes the function and its revisions; false when there was none.
  Result<bool> remove(const std::string& name);
  // Every code digest a revision names (what code garbage collection must keep).
  Result<std::set<std::string>> referenced_code();
  // The code digests the function's revisions name.
  Result<std::set<std::string>> code_of(const std::string& name);

 private:
  Database& db_;
};

}  // namespace fnd::store
