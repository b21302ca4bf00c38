#include "cesql_value.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "cesql_utf8.hpp"

namespace fnd::eventing::cesql::internal {
namespace {

constexpr std::size_t kShownStringBytes = 40;

bool equals_ignoring_ascii_case(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

std::optional<EvaluationError> fail_cast(Value& value, Type target, std::size_t position, std::string why) {
  std::string what = "cannot cast " + describe_value(value) + " to " + std::string(type_name(target));
  if (!why.empty()) what += ": " + why;
  value = zero_value(target);
  return make_evaluation_error(ErrorKind::cast, position, std::move(what));
}

}  // namespace

Value zero_value(Type type) {
  switch (type) {
    case Type::boolean:
      return false;
    case Type::integer:
      return int64_t{0};
    case Type::string:
      return std::string();
  }
  return false;
}

std::string_view type_name(Type type) {
  switch (type) {
    case Type::boolean:
      return "Boolean";
    case Type::integer:
      return "Integer";
    case Type::string:
      return "String";
  }
  return "?";
}

std::optional<EvaluationError> cast_in_place(Value& value, Type target, CastMode mode, std::size_t position) {
  const Type from = type_of(value);
  if (from == target) return std::nullopt;
  switch (target) {
    case Type::string:
      if (from == Type::boolean) {
        value = std::string(std::get<bool>(value) ? "true" : "false");
      } else {
        value = std::to_string(std::get<int64_t>(value));
      }
      return std::nullopt;
    case Type::integer:
      if (from == Type::boolean) {
        value = int64_t{std::get<bool>(value) ? 1 : 0};
        return std::nullopt;
      }
      if (auto parsed = parse_integer(std::get<std::string>(value))) {
        value = *parsed;
        return std::nullopt;
      }
      return fail_cast(value, target, position, "it is not a 32-bit integer");
    case Type::boolean:
      if (from == Type::integer) {
        if (mode == CastMode::implicit) {
          return fail_cast(value, target, position, "write BOOL(...) or compare the number");
        }
        value = std::get<int64_t>(value) != 0;
        return std::nullopt;
      }
      if (const auto& text = std::get<std::string>(value); equals_ignoring_ascii_case(text, "true")) {
        value = true;
        return std::nullopt;
      } else if (equals_ignoring_ascii_case(text, "false")) {
        value = false;
        return std::nullopt;
      }
      return fail_cast(value, target, position, "only 'true' and 'false' are");
  }
  return std::nullopt;
}

std::optional<int64_t> parse_integer(std::string_view text) {
  bool negative = false;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return std::nullopt;
  int64_t magnitude = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    magnitude = magnitude * 10 + (c - '0');
    if (magnitude > kIntegerMax + 1) return std::nullopt;  // stops growth long before int64 overflows
  }
  const int64_t result = negative ? -magnitude : magnitude;
  if (!in_integer_range(result)) return std::nullopt;
  return result;
}

EvaluationError make_evaluation_error(ErrorKind kind, std::size_t position, std::string what) {
  what += " (at position " + std::to_string(position + 1) + ")";
  return EvaluationError{kind, std::move(what)};
}

std::string describe_value(const Value& value) {
  switch (type_of(value)) {
    case Type::boolean:
      return std::get<bool>(value) ? "the Boolean true" : "the Boolean false";
    case Type::integer:
      return "the Integer " + std::to_string(std::get<int64_t>(value));
    case Type::string: {
      const auto& text = std::get<std::string>(value);
      if (text.size() <= kShownStringBytes) return "the String '" + text + "'";
      std::size_t cut = kShownStringBytes;
      while (cut > 0 && is_utf8_continuation(text[cut])) --cut;
      return "the String '" + text.substr(0, cut) + "...'";
    }
  }
  return "a value";
}

}  // namespace fnd::eventing::cesql::internal
