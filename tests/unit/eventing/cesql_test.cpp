#include "eventing/cesql.hpp"

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

using fnd::eventing::cesql::AttributeLookup;
using fnd::eventing::cesql::ErrorKind;
using fnd::eventing::cesql::Expression;
using fnd::eventing::cesql::Value;

namespace {

using Attributes = std::map<std::string, Value, std::less<>>;

// Records the names asked for, to prove what evaluation reads.
struct Event {
  Attributes attributes;
  std::vector<std::string> asked;

  AttributeLookup lookup() {
    return [this](std::string_view name) -> std::optional<Value> {
      asked.emplace_back(name);
      const auto found = attributes.find(name);
      if (found == attributes.end()) return std::nullopt;
      return found->second;
    };
  }
};

Expression parse(std::string_view text) {
  auto parsed = Expression::parse(text);
  INFO(text << ": " << (parsed ? std::string("parsed") : parsed.error().message));
  REQUIRE(parsed.ok());
  return parsed.value();
}

Expression::Outcome evaluate(std::string_view text, Attributes attributes = {}) {
  Event event{std::move(attributes), {}};
  return parse(text).evaluate(event.lookup());
}

// The value of an expression that must evaluate without error.
Value value_of(std::string_view text, Attributes attributes = {}) {
  auto outcome = evaluate(text, std::move(attributes));
  INFO(text << ": " << (outcome.error ? outcome.error->message : std::string("no error")));
  CHECK_FALSE(outcome.error.has_value());
  return outcome.value;
}

// The kind of error an expression raises (fails the test when it raises none) and its value.
std::pair<ErrorKind, Value> error_of(std::string_view text, Attributes attributes = {}) {
  auto outcome = evaluate(text, std::move(attributes));
  INFO(text);
  REQUIRE(outcome.error.has_value());
  return {outcome.error->kind, outcome.value};
}

std::string parse_error(std::string_view text) {
  auto parsed = Expression::parse(text);
  INFO(text);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == fnd::eventing::cesql::kInvalidFilter);
  CHECK(parsed.error().http_status == 400);
  return parsed.error().message;
}

Value integer(int64_t v) { return v; }
Value text(std::string v) { return v; }

}  // namespace

TEST_CASE("cesql: arithmetic binds tighter than comparison, comparison tighter than logic", "[unit]") {
  CHECK(value_of("1 + 2 * 3") == integer(7));
  CHECK(value_of("(1 + 2) * 3") == integer(9));
  CHECK(value_of("10 - 4 - 3") == integer(3));  // left to right
  CHECK(value_of("100 / 10 / 5") == integer(2));
  CHECK(value_of("-2 * 3") == integer(-6));
  CHECK(value_of("2 * 3 = 6 AND 1 + 1 < 3") == Value(true));
  CHECK(value_of("1 + 2 = 3") == Value(true));
}

TEST_CASE("cesql: AND, OR and XOR share one level and go left to right, as the spec lists them", "[unit]") {
  // SQL would read the first as TRUE OR (FALSE AND FALSE); CESQL section 3.6 does not.
  CHECK(value_of("TRUE OR FALSE AND FALSE") == Value(false));
  CHECK(value_of("TRUE OR (FALSE AND FALSE)") == Value(true));
  CHECK(value_of("TRUE XOR TRUE OR TRUE") == Value(true));
  CHECK(value_of("TRUE XOR TRUE XOR TRUE") == Value(true));
}

TEST_CASE("cesql: unary operators bind tighter than LIKE, IN and binary operators", "[unit]") {
  CHECK(value_of("NOT FALSE AND FALSE") == Value(false));  // (NOT FALSE) AND FALSE
  CHECK(value_of("-3 + 5") == integer(2));
  CHECK(value_of("--3") == integer(3));
  CHECK(value_of("+7 - -7") == integer(14));
  CHECK(value_of("'ab' LIKE 'a%' = TRUE") == Value(true));  // LIKE before =
  CHECK(value_of("2 IN (1, 2) AND 3 NOT IN (1, 2)") == Value(true));
  CHECK(value_of("NOT EXISTS subject", {{"id", text("1")}}) == Value(true));
}

TEST_CASE("cesql: AND and OR do not evaluate their right operand when the left decides", "[unit]") {
  Event event{{{"id", text("1")}}, {}};
  auto outcome = parse("FALSE AND boom = 1").evaluate(event.lookup());
  CHECK(outcome.value == Value(false));
  CHECK_FALSE(outcome.error);
  outcome = parse("TRUE OR boom = 1 OR 1 / 0 = 0").evaluate(event.lookup());
  CHECK(outcome.value == Value(true));
  CHECK_FALSE(outcome.error);
  CHECK(event.asked.empty());

  CHECK(error_of("TRUE AND 1 / 0 = 0") == std::pair{ErrorKind::math, Value(false)});
}

TEST_CASE("cesql: LIKE matches % and _ and their escapes", "[unit]") {
  CHECK(value_of(R"('50%' LIKE '50\%')") == Value(true));
  CHECK(value_of(R"('500' LIKE '50\%')") == Value(false));
  CHECK(value_of(R"('a_c' LIKE 'a\_c')") == Value(true));
  CHECK(value_of(R"('abc' LIKE 'a\_c')") == Value(false));
  CHECK(value_of(R"('a\b' LIKE 'a\\b')") == Value(true));   // \\ is one literal backslash
  CHECK(value_of(R"('ab\c' LIKE 'ab\c')") == Value(true));  // any other backslash is itself
  CHECK(value_of("'abc' LIKE 'ABC'") == Value(false));      // case-sensitive
  CHECK(value_of("'' LIKE '%'") == Value(true));
  CHECK(value_of("'x' LIKE ''") == Value(false));
  CHECK(value_of("'mississippi' LIKE '%iss%ppi'") == Value(true));
  CHECK(value_of("'aaab' LIKE '%%ab'") == Value(true));
  CHECK(value_of("'aaab' LIKE '%a_'") == Value(true));
  CHECK(value_of("'héllo' LIKE 'h_llo'") == Value(true));  // `_` is one character, not one byte
  CHECK(value_of("'héllo' LIKE 'h__llo'") == Value(false));
  CHECK(value_of("'com.example.created' NOT LIKE 'com.example.%'") == Value(false));
  CHECK(value_of("123 LIKE '1_3'") == Value(true));

  CHECK_THAT(parse_error("type LIKE 123"), Catch::Contains("a string literal as the pattern of LIKE"));
  CHECK_THAT(parse_error("type LIKE pattern"), Catch::Contains("a string literal as the pattern of LIKE"));
}

TEST_CASE("cesql: IN casts the set to the tested value's type and stops at the first match", "[unit]") {
  CHECK(value_of("2 IN (1, 2, 3)") == Value(true));
  CHECK(value_of("'b' NOT IN ('a', 'c')") == Value(true));
  CHECK(value_of("'2' IN (1, 2)") == Value(true));
  CHECK(value_of("2 IN ('1', '2')") == Value(true));
  CHECK(value_of("TRUE IN ('TRUE')") == Value(true));
  CHECK(value_of("'TRUE' IN (TRUE)") == Value(false));  // TRUE becomes 'true'
  CHECK(value_of("1 IN (1, missing)") == Value(true));
  CHECK(error_of("1 IN (missing, 1)") == std::pair{ErrorKind::missing_attribute, Value(false)});
  CHECK(error_of("missing NOT IN (1)") == std::pair{ErrorKind::missing_attribute, Value(false)});
  CHECK(error_of("3 IN ('x', 3)") == std::pair{ErrorKind::cast, Value(true)});

  CHECK_THAT(parse_error("1 IN ()"), Catch::Contains("expected an expression but found ')'"));
  CHECK_THAT(parse_error("1 IN 1"), Catch::Contains("'(' opening the set of IN"));
}

TEST_CASE("cesql: EXISTS tells whether the event has an attribute and never raises an error", "[unit]") {
  Event event{{{"id", text("1")}, {"subject", text("s")}}, {}};
  auto outcome = parse("EXISTS subject AND NOT EXISTS dataschema AND EXISTS ID").evaluate(event.lookup());
  CHECK(outcome.value == Value(true));
  CHECK_FALSE(outcome.error);
  CHECK(event.asked == std::vector<std::string>{"subject", "dataschema", "id"});

  CHECK_THAT(parse_error("EXISTS 'subject'"), Catch::Contains("an attribute name after EXISTS"));
  CHECK_THAT(parse_error("EXISTS my_ext"), Catch::Contains("an attribute name after EXISTS"));
}

TEST_CASE("cesql: casts, explicit and implicit", "[unit]") {
  CHECK(value_of("INT('+42')") == integer(42));
  CHECK(value_of("INT('-2147483648')") == integer(-2147483648));
  CHECK(value_of("INT(TRUE) + INT('007')") == integer(8));
  CHECK(value_of("BOOL('TrUe')") == Value(true));
  CHECK(value_of("BOOL(0)") == Value(false));
  CHECK(value_of("BOOL(10)") == Value(true));
  CHECK(value_of("STRING(-7)") == text("-7"));
  CHECK(value_of("STRING(FALSE)") == text("false"));
  CHECK(error_of("INT(' 42')") == std::pair{ErrorKind::cast, integer(0)});
  CHECK(error_of("INT('2147483648')") == std::pair{ErrorKind::cast, integer(0)});
  CHECK(error_of("BOOL('yes')") == std::pair{ErrorKind::cast, Value(false)});

  // `=` casts its left operand to the right operand's type.
  CHECK(value_of("'5' = 5") == Value(true));
  CHECK(value_of("5 = '5'") == Value(true));
  CHECK(value_of("TRUE = 'true'") == Value(true));
  CHECK(value_of("'TRUE' = TRUE") == Value(true));
  CHECK(value_of("sequence > 9", {{"sequence", text("10")}}) == Value(true));
  CHECK(error_of("'abc' = 5") == std::pair{ErrorKind::cast, Value(false)});
  CHECK(error_of("'yes' = TRUE") == std::pair{ErrorKind::cast, Value(false)});

  // An Integer is never cast to a Boolean implicitly; the operator goes on with false.
  CHECK(error_of("NOT 10") == std::pair{ErrorKind::cast, Value(true)});
  CHECK(error_of("1 AND TRUE") == std::pair{ErrorKind::cast, Value(false)});
  CHECK(error_of("ABS('x')") == std::pair{ErrorKind::cast, integer(0)});
}

TEST_CASE("cesql: integers are 32-bit, overflow is a math error with 0", "[unit]") {
  CHECK(value_of("-2147483648") == integer(-2147483648));
  CHECK(value_of("2147483647") == integer(2147483647));
  CHECK(error_of("2147483647 + 1") == std::pair{ErrorKind::math, integer(0)});
  CHECK(error_of("-2147483648 - 1") == std::pair{ErrorKind::math, integer(0)});
  CHECK(error_of("65536 * 65536") == std::pair{ErrorKind::math, integer(0)});
  CHECK(error_of("-(-2147483648)") == std::pair{ErrorKind::math, integer(0)});
  CHECK(error_of("-2147483648 / -1") == std::pair{ErrorKind::math, integer(0)});
  CHECK(value_of("-2147483648 % -1") == integer(0));
  CHECK(error_of("ABS(-2147483648)") == std::pair{ErrorKind::math, integer(2147483647)});
  CHECK(error_of("n + 1", {{"n", integer(2147483647)}}) == std::pair{ErrorKind::math, integer(0)});

  CHECK_THAT(parse_error("2147483648"), Catch::Contains("outside the 32-bit integer range"));
  CHECK_THAT(parse_error("-2147483649"), Catch::Contains("outside the 32-bit integer range"));
  CHECK_THAT(parse_error("99999999999999999999999"), Catch::Contains("outside the 32-bit integer range"));
}

TEST_CASE("cesql: division and modulo truncate, by zero they give 0 and a math error", "[unit]") {
  CHECK(value_of("-7 / 2") == integer(-3));
  CHECK(value_of("-7 % 2") == integer(-1));
  CHECK(value_of("7 % -2") == integer(1));
  auto outcome = evaluate("5 / 0");
  REQUIRE(outcome.error);
  CHECK(outcome.error->kind == ErrorKind::math);
  CHECK_THAT(outcome.error->message, Catch::Contains("division by zero") && Catch::Contains("position 3"));
  CHECK(outcome.value == integer(0));
  CHECK(error_of("5 % (3 - 3)") == std::pair{ErrorKind::math, integer(0)});
  CHECK(error_of("x / 0") == std::pair{ErrorKind::missing_attribute, integer(0)});  // the first error wins
}

TEST_CASE("cesql: an unknown function parses but evaluates to false with a missingFunction error", "[unit]") {
  auto outcome = evaluate("FOO(1) = 1");
  REQUIRE(outcome.error);
  CHECK(outcome.error->kind == ErrorKind::missing_function);
  CHECK_THAT(outcome.error->message, Catch::Contains("no function named FOO"));
  CHECK(outcome.value == Value(false));

  outcome = evaluate("LENGTH()");
  REQUIRE(outcome.error);
  CHECK(outcome.error->kind == ErrorKind::missing_function);
  CHECK_THAT(outcome.error->message, Catch::Contains("LENGTH does not take 0 arguments"));
  CHECK(error_of("ABS(1, 2)") == std::pair{ErrorKind::missing_function, Value(false)});

  CHECK_THAT(parse_error("f1(2)"), Catch::Contains("'f1' is not a function name"));
}

TEST_CASE("cesql: a missing attribute gives the zero value of the operator's type", "[unit]") {
  CHECK(error_of("missing") == std::pair{ErrorKind::missing_attribute, Value(false)});
  CHECK(error_of("missing + 1") == std::pair{ErrorKind::missing_attribute, integer(0)});
  CHECK(error_of("missing != 1") == std::pair{ErrorKind::missing_attribute, Value(false)});
  CHECK(error_of("NOT missing") == std::pair{ErrorKind::missing_attribute, Value(false)});
  CHECK(error_of("LENGTH(missing)") == std::pair{ErrorKind::missing_attribute, integer(0)});
  CHECK(error_of("UPPER(missing)") == std::pair{ErrorKind::missing_attribute, text("")});
  CHECK(error_of("TRUE AND (missing = '')") == std::pair{ErrorKind::missing_attribute, Value(false)});

  auto outcome = evaluate("MyExt = 'x'");
  REQUIRE(outcome.error);
  CHECK_THAT(outcome.error->message, Catch::Contains("no attribute 'myext'") && Catch::Contains("position 1"));
}

TEST_CASE("cesql: keywords, function names and attribute names are case-insensitive", "[unit]") {
  CHECK(value_of("tRuE aNd NoT fAlSe") == Value(true));
  CHECK(value_of("lower('ABC') = 'abc' AND Upper('abc') = 'ABC'") == Value(true));
  CHECK(value_of("Concat_Ws('-', 'a', 'b')") == text("a-b"));
  CHECK(value_of("Type LIKE 'dev.%' and EXISTS SUBJECT", {{"type", text("dev.x")}, {"subject", text("s")}}) ==
        Value(true));
  CHECK(value_of("'aBc' = 'abc'") == Value(false));  // strings are not

  Event event{{{"type", text("t")}}, {}};
  CHECK(parse("TYPE = 't'").matches(event.lookup()));
  CHECK(event.asked == std::vector<std::string>{"type"});
}

TEST_CASE("cesql: string functions count characters, not bytes", "[unit]") {
  CHECK(value_of("LENGTH('héllo')") == integer(5));
  CHECK(value_of("LEFT('héllo', 2)") == text("hé"));
  CHECK(value_of("RIGHT('héllo', 4)") == text("éllo"));
  CHECK(value_of("SUBSTRING('héllo', -3, 2)") == text("ll"));
  CHECK(value_of("SUBSTRING('héllo', 2, 100)") == text("éllo"));
  CHECK(value_of("TRIM('\u00a0\t x y \u3000')") == text("x y"));
  CHECK(value_of("CONCAT('a', 1, TRUE, 'b', 'c', 'd')") == text("a1truebcd"));
  CHECK(value_of("CONCAT_WS(', ', 'a', 'b', 'c', 'd', 'e')") == text("a, b, c, d, e"));
  CHECK(error_of("SUBSTRING('abc', 2, -1)") == std::pair{ErrorKind::function_evaluation, text("")});
  CHECK(error_of("LEFT('abc', -1)") == std::pair{ErrorKind::function_evaluation, text("abc")});
}

TEST_CASE("cesql: string literals take either quote and escape their own", "[unit]") {
  CHECK(value_of(R"('it\'s')") == text("it's"));
  CHECK(value_of("'it''s'") == text("it's"));
  CHECK(value_of(R"("say \"hi\"")") == text("say \"hi\""));
  CHECK(value_of(R"("it's")") == text("it's"));
  CHECK(value_of("''") == text(""));
}

TEST_CASE("cesql: attribute values that are not 32-bit integers are read as strings", "[unit]") {
  CHECK(value_of("big = '5000000000'", {{"big", integer(5000000000)}}) == Value(true));
  CHECK(value_of("small = 5", {{"small", integer(5)}}) == Value(true));
  CHECK(value_of("flag AND flag = 'true'", {{"flag", Value(true)}}) == Value(true));
}

TEST_CASE("cesql: parse errors name the position and what was expected", "[unit]") {
  CHECK(parse_error("ABC(") ==
        "invalid CESQL filter at position 5: expected an expression but found the end of the filter");
  CHECK(parse_error("") ==
        "invalid CESQL filter at position 1: expected an expression but found the end of the filter");
  CHECK_THAT(parse_error("1 2"),
             Catch::Contains("position 3: expected an operator or the end of the filter but found '2'"));
  CHECK_THAT(parse_error("(1"), Catch::Contains("expected ')'"));
  CHECK_THAT(parse_error("1 +"), Catch::Contains("position 4: expected an expression"));
  CHECK_THAT(parse_error("type = 'abc"),
             Catch::Contains("position 8: the string literal that starts here is not closed"));
  CHECK_THAT(parse_error("a # b"), Catch::Contains("position 3: unexpected character '#'"));
  CHECK_THAT(parse_error("a ! b"), Catch::Contains("'!='"));
  CHECK_THAT(parse_error("my_ext = 1"), Catch::Contains("'my_ext' is not an attribute name"));
  CHECK_THAT(parse_error("a NOT b"), Catch::Contains("found 'NOT'"));
  CHECK_THAT(parse_error("CONCAT('a',)"), Catch::Contains("expected an expression but found ')'"));
}

TEST_CASE("cesql: nesting is bounded so that parsing and evaluation cannot exhaust the stack", "[unit]") {
  const auto repeat = [](std::string_view piece, std::size_t times) {
    std::string out;
    for (std::size_t i = 0; i < times; ++i) out += piece;
    return out;
  };
  CHECK_THAT(parse_error(repeat("(", 100000) + "1" + repeat(")", 100000)), Catch::Contains("nests more than 128"));
  CHECK_THAT(parse_error(repeat("NOT ", 100000) + "TRUE"), Catch::Contains("nests more than 128"));
  CHECK_THAT(parse_error(repeat("-", 100000) + "x"), Catch::Contains("nests more than 128"));
  CHECK_THAT(parse_error("1" + repeat(" + 1", 200)), Catch::Contains("nests more than 128"));
  CHECK(value_of(repeat("(", 60) + "1" + repeat(")", 60)) == integer(1));

  // A long run of one logic operator stays flat: a filter may list many alternatives.
  std::string alternatives = "type = 't0'";
  for (int i = 1; i < 1000; ++i) alternatives += " OR type = 't" + std::to_string(i) + "'";
  CHECK(value_of(alternatives, {{"type", text("t999")}}) == Value(true));
}

TEST_CASE("cesql: matches() is true only for a Boolean true without error", "[unit]") {
  Event event{{{"type", text("dev.created")}, {"count", text("3")}}, {}};
  CHECK(parse("type = 'dev.created'").matches(event.lookup()));
  CHECK(parse("count > 2").matches(event.lookup()));
  CHECK_FALSE(parse("type = 'dev.deleted'").matches(event.lookup()));
  CHECK_FALSE(parse("'true'").matches(event.lookup()));  // a String, not a Boolean
  CHECK_FALSE(parse("1").matches(event.lookup()));
  CHECK_FALSE(parse("NOT 10").matches(event.lookup()));             // true, but with a cast error
  CHECK_FALSE(parse("NOT (missing = 1)").matches(event.lookup()));  // true, but with missingAttribute
}

TEST_CASE("cesql: copies of an expression share one parsed tree", "[unit]") {
  const Expression original = parse("type LIKE 'dev.%'");
  const Expression copy = original;  // NOLINT(performance-unnecessary-copy-initialization): what is tested
  CHECK(&copy.text() == &original.text());
  CHECK(copy.text() == "type LIKE 'dev.%'");
  Event event{{{"type", text("dev.x")}}, {}};
  CHECK(copy.matches(event.lookup()));
}

TEST_CASE("cesql: error kinds have the conformance suite's names", "[unit]") {
  using fnd::eventing::cesql::to_string;
  CHECK(to_string(ErrorKind::parse) == "parse");
  CHECK(to_string(ErrorKind::math) == "math");
  CHECK(to_string(ErrorKind::cast) == "cast");
  CHECK(to_string(ErrorKind::missing_attribute) == "missingAttribute");
  CHECK(to_string(ErrorKind::missing_function) == "missingFunction");
  CHECK(to_string(ErrorKind::function_evaluation) == "functionEvaluation");
  CHECK(to_string(ErrorKind::generic) == "generic");
}
