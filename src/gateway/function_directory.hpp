// The live routing table: function name → its latest revision. Read on every invocation (no
// SQLite on that path); written by the management API after the store commits.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/function_repository.hpp"

namespace fnd::gateway {

class FunctionDirectory {
 public:
  std::shared_ptr<const store::Revision> find(std::string_view name) const;
  void publish(store::Revision revision);
  void remove(std::string_view name);
  std::vector<std::string> names() const;
  // Loads every function's latest revision from the store (at startup).
  Status load(store::FunctionRepository& repository);
  // "no function named 'helo'; did you mean 'hello'?"
  Error not_found(std::string_view name) const;

 private:
  std::map<std::string, std::shared_ptr<const store::Revision>, std::less<>> latest_;
};

}  // namespace fnd::gateway
