// CESQL's types and casts (spec sections 3.1 and 3.7), shared by the parser, the evaluator and
// the built-in functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "eventing/cesql.hpp"

namespace fnd::eventing::cesql::internal {

// In the order of Value's alternatives.
enum class Type { boolean, integer, string };

inline Type type_of(const Value& value) { return static_cast<Type>(value.index()); }
// false, 0 or "": what an operator or function yields when it meets an error.
Value zero_value(Type type);
std::string_view type_name(Type type);  // "Boolean", "Integer", "String"

inline constexpr int64_t kIntegerMin = std::numeric_limits<int32_t>::min();
inline constexpr int64_t kIntegerMax = std::numeric_limits<int32_t>::max();
inline bool in_integer_range(int64_t value) { return value >= kIntegerMin && value <= kIntegerMax; }

// Operators and function parameters cast implicitly, INT(), BOOL() and STRING() explicitly. The
// two differ in one pair: the conformance suite makes `NOT 10` a cast error while BOOL(10) is true.
enum class CastMode { implicit, explicit_call };

// Casts `value` to `target` in place. On failure `value` becomes the zero value of `target` and
// the cast error is returned; `position` (a byte offset in the filter) goes into its message.
std::optional<EvaluationError> cast_in_place(Value& value, Type target, CastMode mode, std::size_t position);

// A 32-bit base-10 integer with an optional sign ("+7", "-12"); nullopt when `text` is anything
// else or out of range.
std::optional<int64_t> parse_integer(std::string_view text);

// An error whose message ends with the 1-based position it happened at.
EvaluationError make_evaluation_error(ErrorKind kind, std::size_t position, std::string what);

// `value` as a message shows it: strings quoted and cut to a readable length.
std::string describe_value(const Value& value);

}  // namespace fnd::eventing::cesql::internal
