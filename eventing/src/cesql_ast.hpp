// The parsed form of a CESQL expression: a tree the evaluator walks once per event.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cesql_functions.hpp"
#include "cesql_like.hpp"
#include "eventing/cesql.hpp"

namespace fnd::eventing::cesql::internal {

// Deeper trees are refused at parse time: evaluation recurses once per level.
inline constexpr std::size_t kMaxNestingDepth = 128;

enum class NodeKind : uint8_t {
  literal,      // `literal`
  attribute,    // `name`: a context attribute or extension, lower case
  exists,       // EXISTS `name`
  logical_not,  // NOT children[0]
  negate,       // -children[0]
  arithmetic,   // children[0] `op` children[1]: + - * / %
  comparison,   // children[0] `op` children[1]: = != < <= > >=
  logic,        // children[0] `op` children[1] `op` ...: a left-to-right chain of one of AND, OR, XOR
  like,         // children[0] [NOT] LIKE `pattern`
  in,           // children[0] [NOT] IN (children[1], ...)
  call,         // `function`(children...)
};

enum class Operator : uint8_t {
  add,
  subtract,
  multiply,
  divide,
  modulo,
  equal,
  not_equal,
  less,
  less_equal,
  greater,
  greater_equal,
  conjunction,   // AND
  disjunction,   // OR
  exclusive_or,  // XOR
};

struct Node {
  NodeKind kind = NodeKind::literal;
  Operator op = Operator::add;                   // arithmetic, comparison, logic
  bool negated = false;                          // NOT LIKE, NOT IN
  std::size_t position = 0;                      // byte offset of the node's operator or first token, for messages
  std::size_t depth = 1;                         // levels in this subtree
  Value literal;                                 // literal
  std::string name;                              // attribute (lower case); call: the function's name as written
  const FunctionDefinition* function = nullptr;  // call; nullptr: no built-in has that name and arity
  LikePattern pattern;                           // like
  std::vector<Node> children;
};

// What an Expression shares between its copies.
struct ParsedExpression {
  std::string text;
  Node root;
};

}  // namespace fnd::eventing::cesql::internal
