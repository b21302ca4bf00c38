// CESQL filter expressions, as a trigger's filter takes them from the API: parsed, then evaluated
// against an event with a few attributes of each type and against one with none. Evaluation must
// always give a value of a CESQL type, Integers within 32 bits; matches() agrees with evaluate().
#include <fmt/format.h>
#include <optional>
#include <string>
#include <variant>

#include "eventing/cesql.hpp"
#include "fuzz_check.hpp"

using namespace fnd::eventing::cesql;

namespace {

std::optional<Value> event_attribute(std::string_view name) {
  if (name == "specversion") return Value(std::string("1.0"));
  if (name == "id") return Value(std::string("A234-1234-1234"));
  if (name == "source") return Value(std::string("/mycontext"));
  if (name == "type") return Value(std::string("com.example.someevent"));
  if (name == "subject") return Value(std::string("ünïcödé 123"));
  if (name == "sequence") return Value(int64_t{-2147483648});
  if (name == "priority") return Value(std::string("7"));
  if (name == "flag") return Value(true);
  if (name == "empty") return Value(std::string());
  return std::nullopt;
}

void check_outcome(std::string_view text, const Expression::Outcome& outcome) {
  if (const auto* number = std::get_if<int64_t>(&outcome.value)) {
    FND_FUZZ_CHECK(*number >= INT32_MIN && *number <= INT32_MAX, fmt::format("'{}' gave {}", text, *number));
  }
  if (outcome.error) FND_FUZZ_CHECK(!outcome.error->message.empty(), std::string(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fnd::fuzz::as_text(data, size);
  auto expression = Expression::parse(text);
  if (!expression) {
    FND_FUZZ_CHECK(expression.error().code == kInvalidFilter && expression.error().http_status == 400,
                   expression.error().code);
    return 0;
  }
  FND_FUZZ_CHECK(expression->text() == text, std::string(text));
  const AttributeLookup full = event_attribute;
  const AttributeLookup none = [](std::string_view) -> std::optional<Value> { return std::nullopt; };
  for (const AttributeLookup* lookup : {&full, &none}) {
    const Expression::Outcome outcome = expression->evaluate(*lookup);
    check_outcome(text, outcome);
    const bool expected = !outcome.error && std::holds_alternative<bool>(outcome.value) && std::get<bool>(outcome.value);
    FND_FUZZ_CHECK(expression->matches(*lookup) == expected, std::string(text));
  }
  return 0;
}
