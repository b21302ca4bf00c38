// CloudEvents SQL (CESQL) v1: the filter language of CloudEvents subscriptions, parsed once and
// evaluated per event.
//
//   auto filter = Expression::parse("type LIKE 'com.example.%' AND int(priority) > 2");
//   if (!filter) return filter.error();                 // invalid_filter, 400
//   bool deliver = filter->matches(lookup_of(event));   // per event, any thread
//
// The language, as the spec (cloudevents/spec cesql/spec.md, v1.0.0) and its conformance suite
// define it:
// - Values are Boolean, Integer (32-bit signed) or String. Operators cast their operands
//   implicitly: `'5' + 3` is 8, `sequence = 5` casts `sequence` to Integer (the right operand's
//   type decides for `=`, `!=`, `<>`), `x IN (...)` casts the set to the type of `x`.
//   Implicitly casting an Integer to a Boolean is a cast error (`NOT 10`); BOOL(10) is true.
// - Precedence, tightest first: function calls; unary NOT and `-`; LIKE and IN; `* / %`;
//   `+ -`; comparisons; AND, OR, XOR (one level, left to right, as the spec lists them: write
//   parentheses to mix them). AND and OR short-circuit.
// - Keywords, function names and attribute names are case-insensitive; attribute names reach
//   the AttributeLookup in lower case. String literals are case-sensitive; inside them `\'`
//   (single quotes) or `\"` (double quotes) and a doubled quote stand for the quote, and every
//   other backslash stays, so `LIKE 'a\%'` keeps its escape.
// - Evaluation never throws and always yields a value. On the first error the operator that met
//   it yields the zero value of its type (false, 0, "") and the error travels up with it
//   ("fail fast"): `missing = 2` is false with missing_attribute, `5 / 0` is 0 with math.
//
// Thread safety: an Expression is immutable; copies share one parsed tree and any number of
// threads may evaluate the same Expression at once (the lookup must allow that too).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "core/error.hpp"

namespace fnd::eventing::cesql {

// Error code of Expression::parse (HTTP 400): the filter text is not valid CESQL.
inline constexpr std::string_view kInvalidFilter = "invalid_filter";

// CESQL's Boolean, Integer and String. Integers stay within the 32-bit signed range.
using Value = std::variant<bool, int64_t, std::string>;

// The error kinds of the spec (section 3.3).
enum class ErrorKind { parse, math, cast, missing_attribute, missing_function, function_evaluation, generic };
// "parse", "math", "cast", "missingAttribute", "missingFunction", "functionEvaluation", "generic":
// the names the spec's conformance suite uses.
std::string_view to_string(ErrorKind kind);

struct EvaluationError {
  ErrorKind kind;
  std::string message;  // one sentence naming what failed and where (a position in the text)
};

// What an expression reads: a context attribute or extension by its lower-case name, typed;
// nullopt when the event lacks it. Attributes that are neither Boolean, Integer nor String
// (URIs, timestamps, binary) are given as their String form; an Integer outside the 32-bit
// range is read as its decimal String.
using AttributeLookup = std::function<std::optional<Value>(std::string_view name)>;

namespace internal {
struct ParsedExpression;
}

class Expression {
 public:
  // Parses and checks `text` (literals in range, LIKE patterns are string literals, nesting at
  // most 128 levels). Fails with code kInvalidFilter, http_status 400 and a message naming the
  // position (1-based) and what was expected there. An unknown function is not a parse error:
  // the spec makes it a missing_function error at evaluation.
  static Result<Expression> parse(std::string_view text);

  // CESQL returns a value even when it raises an error: `value` is then the zero value of the
  // failing operator's type, or what a function defines (ABS(-2147483648) is 2147483647).
  struct Outcome {
    Value value;
    std::optional<EvaluationError> error;
  };
  // Evaluates against one event's attributes. Calls `attributes` once per attribute reference
  // reached (short-circuited operands are not evaluated).
  Outcome evaluate(const AttributeLookup& attributes) const;

  // How a trigger filter uses an expression: true only when the value is Boolean true and no
  // error was raised (spec section 1.2).
  bool matches(const AttributeLookup& attributes) const;

  // The text it was parsed from.
  const std::string& text() const;

 private:
  explicit Expression(std::shared_ptr<const internal::ParsedExpression> parsed) : parsed_(std::move(parsed)) {}

  std::shared_ptr<const internal::ParsedExpression> parsed_;  // never null
};

}  // namespace fnd::eventing::cesql
