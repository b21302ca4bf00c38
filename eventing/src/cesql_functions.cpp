#include "cesql_functions.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "cesql_utf8.hpp"
#include "cesql_value.hpp"

namespace fnd::eventing::cesql::internal {
namespace {

using Outcome = Expression::Outcome;
using P = ParameterType;

std::string& string_at(std::span<Value> arguments, std::size_t i) { return std::get<std::string>(arguments[i]); }
int64_t integer_at(std::span<Value> arguments, std::size_t i) { return std::get<int64_t>(arguments[i]); }

Outcome function_error(Value value, std::size_t position, std::string what) {
  return {std::move(value), make_evaluation_error(ErrorKind::function_evaluation, position, std::move(what))};
}

Outcome cast_call(std::span<Value> arguments, Type target, std::size_t position) {
  auto error = cast_in_place(arguments[0], target, CastMode::explicit_call, position);
  return {std::move(arguments[0]), std::move(error)};
}

Outcome int_call(std::span<Value> arguments, std::size_t position) {
  return cast_call(arguments, Type::integer, position);
}
Outcome bool_call(std::span<Value> arguments, std::size_t position) {
  return cast_call(arguments, Type::boolean, position);
}
Outcome string_call(std::span<Value> arguments, std::size_t position) {
  return cast_call(arguments, Type::string, position);
}

Outcome abs_call(std::span<Value> arguments, std::size_t position) {
  const int64_t x = integer_at(arguments, 0);
  if (x == kIntegerMin) {
    return {kIntegerMax,
            make_evaluation_error(ErrorKind::math, position, "ABS(-2147483648) overflows a 32-bit integer")};
  }
  return {x < 0 ? -x : x, std::nullopt};
}

Outcome length_call(std::span<Value> arguments, std::size_t) {
  return {static_cast<int64_t>(character_count(string_at(arguments, 0))), std::nullopt};
}

Outcome concat_call(std::span<Value> arguments, std::size_t) {
  std::size_t size = 0;
  for (std::size_t i = 0; i < arguments.size(); ++i) size += string_at(arguments, i).size();
  std::string result;
  result.reserve(size);
  for (std::size_t i = 0; i < arguments.size(); ++i) result += string_at(arguments, i);
  return {std::move(result), std::nullopt};
}

Outcome concat_ws_call(std::span<Value> arguments, std::size_t) {
  const std::string& delimiter = string_at(arguments, 0);
  std::string result;
  for (std::size_t i = 1; i < arguments.size(); ++i) {
    if (i > 1) result += delimiter;
    result += string_at(arguments, i);
  }
  return {std::move(result), std::nullopt};
}

// ASCII letters only: full Unicode case mapping needs tables this module does not carry.
Outcome lower_call(std::span<Value> arguments, std::size_t) {
  std::string& text = string_at(arguments, 0);
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return {std::move(text), std::nullopt};
}

Outcome upper_call(std::span<Value> arguments, std::size_t) {
  std::string& text = string_at(arguments, 0);
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return {std::move(text), std::nullopt};
}

Outcome trim_call(std::span<Value> arguments, std::size_t) {
  const std::string& text = string_at(arguments, 0);
  std::size_t begin = 0;
  while (begin < text.size()) {
    const auto decoded = decode_character(text, begin);
    if (!is_unicode_whitespace(decoded.code_point)) break;
    begin = decoded.end;
  }
  // Trailing whitespace: remember where the last non-whitespace character ends.
  std::size_t end = begin;
  for (std::size_t at = begin; at < text.size();) {
    const auto decoded = decode_character(text, at);
    if (!is_unicode_whitespace(decoded.code_point)) end = decoded.end;
    at = decoded.end;
  }
  return {text.substr(begin, end - begin), std::nullopt};
}

Outcome left_call(std::span<Value> arguments, std::size_t position) {
  std::string& text = string_at(arguments, 0);
  const int64_t count = integer_at(arguments, 1);
  if (count < 0) {
    return function_error(std::move(text), position, "LEFT takes a length of 0 or more, not " + std::to_string(count));
  }
  text.resize(offset_of_character(text, static_cast<std::size_t>(count)));
  return {std::move(text), std::nullopt};
}

Outcome right_call(std::span<Value> arguments, std::size_t position) {
  std::string& text = string_at(arguments, 0);
  const int64_t count = integer_at(arguments, 1);
  if (count < 0) {
    return function_error(std::move(text), position, "RIGHT takes a length of 0 or more, not " + std::to_string(count));
  }
  const std::size_t length = character_count(text);
  if (static_cast<std::size_t>(count) >= length) return {std::move(text), std::nullopt};
  return {text.substr(offset_of_character(text, length - static_cast<std::size_t>(count))), std::nullopt};
}

// SUBSTRING(x, pos [, len]): pos counts from 1, or from the end when negative; 0 gives "".
Outcome substring(std::string& text, int64_t pos, std::optional<int64_t> len, std::size_t position) {
  const auto length = static_cast<int64_t>(character_count(text));
  if (pos > length || pos < -length) {
    return function_error(std::string(), position,
                          "SUBSTRING's position " + std::to_string(pos) + " is outside a string of " +
                              std::to_string(length) + " characters");
  }
  if (len && *len < 0) {
    return function_error(std::string(), position,
                          "SUBSTRING takes a length of 0 or more, not " + std::to_string(*len));
  }
  if (pos == 0) return {std::string(), std::nullopt};
  const int64_t start = pos > 0 ? pos - 1 : length + pos;
  const int64_t count = len ? std::min(*len, length - start) : length - start;
  const std::size_t begin = offset_of_character(text, static_cast<std::size_t>(start));
  const std::size_t end =
      begin + offset_of_character(std::string_view(text).substr(begin), static_cast<std::size_t>(count));
  return {text.substr(begin, end - begin), std::nullopt};
}

Outcome substring_call(std::span<Value> arguments, std::size_t position) {
  return substring(string_at(arguments, 0), integer_at(arguments, 1), std::nullopt, position);
}
Outcome substring_length_call(std::span<Value> arguments, std::size_t position) {
  return substring(string_at(arguments, 0), integer_at(arguments, 1), integer_at(arguments, 2), position);
}

// No two entries share a name and a fixed arity, and a variadic entry's fixed arity exceeds
// every other arity of its name, as the spec requires for dispatch to be unambiguous.
constexpr std::array<FunctionDefinition, 14> kBuiltins{{
    {"ABS", 1, {P::integer}, false, Type::integer, abs_call},
    {"LENGTH", 1, {P::string}, false, Type::integer, length_call},
    {"CONCAT", 0, {}, true, Type::string, concat_call},
    {"CONCAT_WS", 1, {P::string}, true, Type::string, concat_ws_call},
    {"LOWER", 1, {P::string}, false, Type::string, lower_call},
    {"UPPER", 1, {P::string}, false, Type::string, upper_call},
    {"TRIM", 1, {P::string}, false, Type::string, trim_call},
    {"LEFT", 2, {P::string, P::integer}, false, Type::string, left_call},
    {"RIGHT", 2, {P::string, P::integer}, false, Type::string, right_call},
    {"SUBSTRING", 2, {P::string, P::integer}, false, Type::string, substring_call},
    {"SUBSTRING", 3, {P::string, P::integer, P::integer}, false, Type::string, substring_length_call},
    {"INT", 1, {P::any}, false, Type::integer, int_call},
    {"BOOL", 1, {P::any}, false, Type::boolean, bool_call},
    {"STRING", 1, {P::any}, false, Type::string, string_call},
}};

bool same_name(std::string_view written, std::string_view upper) {
  if (written.size() != upper.size()) return false;
  for (std::size_t i = 0; i < written.size(); ++i) {
    char c = written[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != upper[i]) return false;
  }
  return true;
}

}  // namespace

const FunctionDefinition* find_function(std::string_view name, std::size_t argument_count) {
  for (const auto& definition : kBuiltins) {
    if (!same_name(name, definition.name)) continue;
    if (argument_count == definition.fixed_arity || (definition.variadic && argument_count > definition.fixed_arity)) {
      return &definition;
    }
  }
  return nullptr;
}

bool is_function_name(std::string_view name) {
  return std::any_of(kBuiltins.begin(), kBuiltins.end(),
                     [&](const FunctionDefinition& definition) { return same_name(name, definition.name); });
}

}  // namespace fnd::eventing::cesql::internal
