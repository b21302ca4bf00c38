// The live routing table: function name → its latest revision. Read on every invocation (no
// SQLite on that path); written by the management API after the store commits.
//
// A function whose latest stored revision cannot be read is kept as broken: it is listed and
// can be described, deployed again or deleted, but not invoked.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/function_repository.hpp"

namespace fnd::scheduler {

class FunctionDirectory {
 public:
  // The function's latest servable revision, or nullptr (unknown or broken).
  std::shared_ptr<const store::Revision> find(std::string_view name) const;
  // Makes `revision` the function's latest; a damaged one marks the function broken.
  void publish(store::Revision revision);
  void remove(std::string_view name);
  // Every function, broken ones too.
  std::vector<std::string> names() const;
  // Loads every function's latest revision from the store (at startup). Unreadable revisions
  // mark their function broken (each is logged); only a store that cannot be read at all fails.
  Status load(store::FunctionRepository& repository);
  // Why `name` cannot be invoked: 500 function_broken naming the damage, else 404
  // function_not_found ("no function named 'helo'; did you mean 'hello'?").
  Error unavailable(std::string_view name) const;
  Error not_found(std::string_view name) const;
  // The damage of a broken function, or "" when it is not broken.
  std::string damage(std::string_view name) const;

 private:
  std::map<std::string, std::shared_ptr<const store::Revision>, std::less<>> latest_;
  std::map<std::string, std::string, std::less<>> broken_;
};

}  // namespace fnd::scheduler
