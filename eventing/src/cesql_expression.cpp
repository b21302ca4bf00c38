#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "cesql_ast.hpp"
#include "cesql_evaluator.hpp"
#include "cesql_parser.hpp"
#include "eventing/cesql.hpp"

namespace fnd::eventing::cesql {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::parse:
      return "parse";
    case ErrorKind::math:
      return "math";
    case ErrorKind::cast:
      return "cast";
    case ErrorKind::missing_attribute:
      return "missingAttribute";
    case ErrorKind::missing_function:
      return "missingFunction";
    case ErrorKind::function_evaluation:
      return "functionEvaluation";
    case ErrorKind::generic:
      return "generic";
  }
  return "generic";
}

Result<Expression> Expression::parse(std::string_view text) {
  auto root = internal::parse_tree(text);
  if (!root) return root.error();
  return Expression(std::make_shared<const internal::ParsedExpression>(
      internal::ParsedExpression{std::string(text), std::move(root).value()}));
}

Expression::Outcome Expression::evaluate(const AttributeLookup& attributes) const {
  return internal::evaluate_tree(parsed_->root, attributes);
}

bool Expression::matches(const AttributeLookup& attributes) const {
  const Outcome outcome = evaluate(attributes);
  return !outcome.error && std::holds_alternative<bool>(outcome.value) && std::get<bool>(outcome.value);
}

const std::string& Expression::text() const { return parsed_->text; }

}  // namespace fnd::eventing::cesql
