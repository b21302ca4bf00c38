// Walks a parsed tree for one event, in the spec's "fail fast" mode (section 4.1): the first
// error stops evaluation of everything above it, and each operator above yields the zero value
// of its type with that error. A cast error is the exception: the operator goes on with the
// zero value the cast produced (`NOT 10` is true with a cast error, as the conformance suite
// has it).
#pragma once

#include "cesql_ast.hpp"
#include "eventing/cesql.hpp"

namespace fnd::eventing::cesql::internal {

Expression::Outcome evaluate_tree(const Node& root, const AttributeLookup& attributes);

}  // namespace fnd::eventing::cesql::internal
