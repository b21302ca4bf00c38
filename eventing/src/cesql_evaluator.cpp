#include "cesql_evaluator.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "cesql_functions.hpp"
#include "cesql_value.hpp"

namespace fnd::eventing::cesql::internal {
namespace {

using Outcome = Expression::Outcome;

// Most calls have few arguments: those are evaluated without a heap allocation.
constexpr std::size_t kInlineArguments = 4;

Outcome failed(Type type, std::optional<EvaluationError>& error) { return {zero_value(type), std::move(error)}; }

Type type_of_parameter(ParameterType parameter) {
  switch (parameter) {
    case ParameterType::boolean:
      return Type::boolean;
    case ParameterType::integer:
      return Type::integer;
    default:
      return Type::string;
  }
}

// Keeps the first of the errors an operator meets.
void keep_first(std::optional<EvaluationError>& first, std::optional<EvaluationError> next) {
  if (!first && next) first = std::move(next);
}

class Evaluator {
 public:
  explicit Evaluator(const AttributeLookup& attributes) : attributes_(attributes) {}

  Outcome evaluate(const Node& node) const {
    switch (node.kind) {
      case NodeKind::literal:
        return {node.literal, std::nullopt};
      case NodeKind::attribute:
        return attribute(node);
      case NodeKind::exists:
        return {attributes_(node.name).has_value(), std::nullopt};
      case NodeKind::logical_not:
        return logical_not(node);
      case NodeKind::negate:
        return negate(node);
      case NodeKind::arithmetic:
        return arithmetic(node);
      case NodeKind::comparison:
        return comparison(node);
      case NodeKind::logic:
        return logic(node);
      case NodeKind::like:
        return like(node);
      case NodeKind::in:
        return in(node);
      case NodeKind::call:
        return call(node);
    }
    return {false, make_evaluation_error(ErrorKind::generic, node.position, "unknown expression")};
  }

 private:
  Outcome attribute(const Node& node) const {
    auto value = attributes_(node.name);
    // With no operator around it the type is unknown, and the spec then says Boolean.
    if (!value) {
      return {false, make_evaluation_error(ErrorKind::missing_attribute, node.position,
                                           "the event has no attribute '" + node.name + "'")};
    }
    if (type_of(*value) == Type::integer && !in_integer_range(std::get<int64_t>(*value))) {
      *value = std::to_string(std::get<int64_t>(*value));  // not a CESQL Integer: its String form (spec 3.2)
    }
    return {std::move(*value), std::nullopt};
  }

  Outcome logical_not(const Node& node) const {
    Outcome operand = evaluate(node.children[0]);
    if (operand.error) return failed(Type::boolean, operand.error);
    auto error = cast_in_place(operand.value, Type::boolean, CastMode::implicit, node.position);
    return {!std::get<bool>(operand.value), std::move(error)};
  }

  Outcome negate(const Node& node) const {
    Outcome operand = evaluate(node.children[0]);
    if (operand.error) return failed(Type::integer, operand.error);
    auto error = cast_in_place(operand.value, Type::integer, CastMode::implicit, node.position);
    const int64_t result = -std::get<int64_t>(operand.value);
    if (!in_integer_range(result)) {
      return {int64_t{0},
              make_evaluation_error(ErrorKind::math, node.position, "-(-2147483648) overflows a 32-bit integer")};
    }
    return {result, std::move(error)};
  }

  Outcome arithmetic(const Node& node) const {
    Outcome left = evaluate(node.children[0]);
    if (left.error) return failed(Type::integer, left.error);
    Outcome right = evaluate(node.children[1]);
    if (right.error) return failed(Type::integer, right.error);
    auto error = cast_in_place(left.value, Type::integer, CastMode::implicit, node.position);
    keep_first(error, cast_in_place(right.value, Type::integer, CastMode::implicit, node.position));
    // Operands are 32-bit, so no int64 operation below can overflow; the result's range is checked.
    const int64_t a = std::get<int64_t>(left.value);
    const int64_t b = std::get<int64_t>(right.value);
    int64_t result = 0;
    switch (node.op) {
      case Operator::add:
        result = a + b;
        break;
      case Operator::subtract:
        result = a - b;
        break;
      case Operator::multiply:
        result = a * b;
        break;
      case Operator::divide:
      case Operator::modulo:
        if (b == 0) {
          keep_first(error, make_evaluation_error(ErrorKind::math, node.position,
                                                  node.op == Operator::divide ? "division by zero" : "modulo by zero"));
          return {int64_t{0}, std::move(error)};
        }
        result = node.op == Operator::divide ? a / b : a % b;  // C++ truncates, as the spec asks
        break;
      default:
        break;
    }
    if (!in_integer_range(result)) {
      keep_first(error, make_evaluation_error(ErrorKind::math, node.position,
                                              "the result " + std::to_string(result) + " overflows a 32-bit integer"));
      return {int64_t{0}, std::move(error)};
    }
    return {result, std::move(error)};
  }

  Outcome comparison(const Node& node) const {
    Outcome left = evaluate(node.children[0]);
    if (left.error) return failed(Type::boolean, left.error);
    // Filters are mostly `attribute = 'literal'`: a literal is compared where it stands rather
    // than copied (and allocated) for every event.
    const Node& right_node = node.children[1];
    Outcome right;
    if (node.op == Operator::equal || node.op == Operator::not_equal) {
      const Value* right_value = &right_node.literal;
      if (right_node.kind != NodeKind::literal) {
        right = evaluate(right_node);
        if (right.error) return failed(Type::boolean, right.error);
        right_value = &right.value;
      }
      // `=` is defined for three types; the right operand's type picks one (spec 3.7).
      auto error = cast_in_place(left.value, type_of(*right_value), CastMode::implicit, node.position);
      const bool equal = left.value == *right_value;
      return {node.op == Operator::equal ? equal : !equal, std::move(error)};
    }
    right = evaluate(right_node);
    if (right.error) return failed(Type::boolean, right.error);
    auto error = cast_in_place(left.value, Type::integer, CastMode::implicit, node.position);
    keep_first(error, cast_in_place(right.value, Type::integer, CastMode::implicit, node.position));
    const int64_t a = std::get<int64_t>(left.value);
    const int64_t b = std::get<int64_t>(right.value);
    bool result = false;
    switch (node.op) {
      case Operator::less:
        result = a < b;
        break;
      case Operator::less_equal:
        result = a <= b;
        break;
      case Operator::greater:
        result = a > b;
        break;
      case Operator::greater_equal:
        result = a >= b;
        break;
      default:
        break;
    }
    return {result, std::move(error)};
  }

  // AND stops at the first false operand, OR at the first true one (spec 3.4.2).
  Outcome logic(const Node& node) const {
    std::optional<EvaluationError> error;
    bool result = false;
    for (std::size_t i = 0; i < node.children.size(); ++i) {
      Outcome operand = evaluate(node.children[i]);
      if (operand.error) return failed(Type::boolean, operand.error);
      keep_first(error, cast_in_place(operand.value, Type::boolean, CastMode::implicit, node.position));
      const bool value = std::get<bool>(operand.value);
      switch (node.op) {
        case Operator::conjunction:
          if (!value) return {false, std::move(error)};
          result = true;
          break;
        case Operator::disjunction:
          if (value) return {true, std::move(error)};
          break;
        default:
          result = i == 0 ? value : result != value;
          break;
      }
    }
    return {result, std::move(error)};
  }

  Outcome like(const Node& node) const {
    Outcome operand = evaluate(node.children[0]);
    if (operand.error) return failed(Type::boolean, operand.error);
    auto error = cast_in_place(operand.value, Type::string, CastMode::implicit, node.position);
    const bool matched = node.pattern.matches(std::get<std::string>(operand.value));
    return {matched != node.negated, std::move(error)};
  }

  // Each element is cast to the type of the tested value (spec 3.7), up to the first match.
  Outcome in(const Node& node) const {
    Outcome tested = evaluate(node.children[0]);
    if (tested.error) return failed(Type::boolean, tested.error);
    const Type target = type_of(tested.value);
    std::optional<EvaluationError> error;
    bool found = false;
    for (std::size_t i = 1; i < node.children.size() && !found; ++i) {
      const Node& element_node = node.children[i];
      if (element_node.kind == NodeKind::literal && type_of(element_node.literal) == target) {
        found = element_node.literal == tested.value;  // no copy of the literal per event
        continue;
      }
      Outcome element = evaluate(element_node);
      if (element.error) return failed(Type::boolean, element.error);
      keep_first(error, cast_in_place(element.value, target, CastMode::implicit, element_node.position));
      found = element.value == tested.value;
    }
    return {found != node.negated, std::move(error)};
  }

  Outcome call(const Node& node) const {
    if (node.function == nullptr) {
      const std::string what = is_function_name(node.name) ? "the function " + node.name + " does not take " +
                                                                 std::to_string(node.children.size()) + " arguments"
                                                           : "there is no function named " + node.name;
      return {false, make_evaluation_error(ErrorKind::missing_function, node.position, what)};
    }
    const FunctionDefinition& function = *node.function;
    std::array<Value, kInlineArguments> inline_arguments;
    std::vector<Value> heap_arguments;
    std::span<Value> arguments;
    if (node.children.size() <= kInlineArguments) {
      arguments = std::span<Value>(inline_arguments.data(), node.children.size());
    } else {
      heap_arguments.resize(node.children.size());
      arguments = heap_arguments;
    }
    std::optional<EvaluationError> error;
    for (std::size_t i = 0; i < node.children.size(); ++i) {
      Outcome argument = evaluate(node.children[i]);
      if (argument.error) return failed(function.return_type, argument.error);
      const ParameterType parameter = i < function.fixed_arity ? function.fixed_parameters[i] : ParameterType::string;
      if (parameter != ParameterType::any) {
        keep_first(error, cast_in_place(argument.value, type_of_parameter(parameter), CastMode::implicit,
                                        node.children[i].position));
      }
      arguments[i] = std::move(argument.value);
    }
    Outcome result = function.invoke(arguments, node.position);
    if (error) result.error = std::move(error);  // the cast came first
    return result;
  }

  const AttributeLookup& attributes_;
};

}  // namespace

Expression::Outcome evaluate_tree(const Node& root, const AttributeLookup& attributes) {
  return Evaluator(attributes).evaluate(root);
}

}  // namespace fnd::eventing::cesql::internal
