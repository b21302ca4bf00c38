// The built-in functions every CESQL engine has (spec 3.5), dispatched by name and arity.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

#include "cesql_value.hpp"
#include "eventing/cesql.hpp"

namespace fnd::eventing::cesql::internal {

// `any`: the argument is passed as it is (the casting functions INT, BOOL and STRING).
enum class ParameterType { boolean, integer, string, any };

struct FunctionDefinition {
  std::string_view name;  // upper case, as the spec writes it
  std::size_t fixed_arity;
  std::array<ParameterType, 3> fixed_parameters;  // the first fixed_arity are used
  bool variadic;                                  // then any number of String arguments
  Type return_type;
  // Gets the arguments already cast to the parameter types; `position` is the call's, for
  // messages. Always returns a value of return_type, with an error when one was raised.
  Expression::Outcome (*invoke)(std::span<Value> arguments, std::size_t position);
};

// The built-in named `name` (in any case) that takes `argument_count` arguments; nullptr when
// there is none.
const FunctionDefinition* find_function(std::string_view name, std::size_t argument_count);

// Whether some built-in is named `name` (in any case), whatever its arity: tells "no such
// function" from "wrong number of arguments" in messages.
bool is_function_name(std::string_view name);

}  // namespace fnd::eventing::cesql::internal
