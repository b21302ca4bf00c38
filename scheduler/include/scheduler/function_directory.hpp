// The live routing table: function name → its latest revision, its traffic (weights across
// revisions, tags) and the revisions that traffic names. Read on every invocation (no SQLite on
// that path); written by Deployments after the store commits.
//
// A function whose latest stored revision cannot be read is kept as broken: it is listed and
// can be described, deployed again or deleted, but not invoked.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "scheduler/traffic_split.hpp"
#include "store/function_repository.hpp"

namespace fnd::scheduler {

// Error code of route(): 404, the selector names no revision the function serves.
inline constexpr std::string_view kRevisionNotFound = "revision_not_found";

class FunctionDirectory {
 public:
  // The function's latest servable revision, or nullptr (unknown or broken).
  std::shared_ptr<const store::Revision> find(std::string_view name) const;
  // The revision one call goes to. `selector` empty: drawn by the function's split (the latest
  // revision when it has none); else a tag ("canary"), "r4" or "4". The invocation hot path: no
  // allocation on success. Errors: those of unavailable(), 404 revision_not_found when the
  // selector names no revision the function serves (the message lists the ones it does).
  Result<std::shared_ptr<const store::Revision>> route(std::string_view name, std::string_view selector,
                                                       std::mt19937_64& random) const;
  // Makes `revision` the function's latest; a damaged one marks the function broken.
  void publish(store::Revision revision);
  // Sets the function's traffic; `named` holds every revision `split` names (weights and tags).
  // The function must be published already.
  void set_traffic(std::string_view name, TrafficSplit split,
                   std::vector<std::shared_ptr<const store::Revision>> named);
  // The function's traffic; nullptr for an unknown or broken function.
  const TrafficSplit* traffic(std::string_view name) const;
  // The revision numbers that take calls: the latest and those the traffic names.
  std::vector<uint32_t> served_revisions(std::string_view name) const;
  void remove(std::string_view name);
  // Every function, broken ones too.
  std::vector<std::string> names() const;
  // Loads every function's latest revision and traffic from the store (at startup). Unreadable
  // revisions mark their function broken (each is logged), as do unreadable traffic or a
  // traffic naming a revision that cannot be read; only a store that cannot be read at all fails.
  Status load(store::FunctionRepository& repository);
  // Why `name` cannot be invoked: 500 function_broken naming the damage, else 404
  // function_not_found ("no function named 'helo'; did you mean 'hello'?").
  Error unavailable(std::string_view name) const;
  Error not_found(std::string_view name) const;
  // The damage of a broken function, or "" when it is not broken.
  std::string damage(std::string_view name) const;

 private:
  struct Entry {
    std::shared_ptr<const store::Revision> latest;
    std::optional<TrafficSplit> traffic;                               // nullopt: all calls to the latest, no tags
    std::map<uint32_t, std::shared_ptr<const store::Revision>> named;  // revisions the traffic names
  };
  const Entry* entry(std::string_view name) const;
  std::shared_ptr<const store::Revision> revision_of(const Entry& entry, uint32_t number) const;
  Error revision_not_found(std::string_view name, const Entry& entry, std::string_view selector) const;

  std::map<std::string, Entry, std::less<>> live_;
  std::map<std::string, std::string, std::less<>> broken_;
};

}  // namespace fnd::scheduler
