// Recursive descent over the tokens of cesql_lexer, with the precedence of spec section 3.6.
#pragma once

#include <string_view>

#include "cesql_ast.hpp"
#include "core/error.hpp"

namespace fnd::eventing::cesql::internal {

// The tree of `text`, or an invalid_filter error (400) naming the position and what was
// expected there.
Result<Node> parse_tree(std::string_view text);

}  // namespace fnd::eventing::cesql::internal
