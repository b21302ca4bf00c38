#include "eventing/cloud_event.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "core/error.hpp"
#include "encoding.hpp"

namespace fnd::eventing {

namespace {

using internal::quote_for_message;

Error invalid(std::string message) { return make_error(std::string(kInvalidEvent), std::move(message), 400); }

std::string_view type_name(const AttributeValue& value) {
  switch (value.index()) {
    case 0:
      return "String";
    case 1:
      return "Integer";
    default:
      return "Boolean";
  }
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// RFC 3986 character classes.
bool is_unreserved(char c) { return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~'; }
bool is_sub_delim(char c) { return std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos; }
bool is_pchar(char c) { return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@'; }

// Every character of `part` is allowed by `allowed`, or is the start of a well-formed %XY.
template <typename Allowed>
bool all_uri_chars(std::string_view part, Allowed allowed) {
  for (std::size_t i = 0; i < part.size(); ++i) {
    char c = part[i];
    if (c == '%') {
      if (part.size() - i < 3 || !is_hex(part[i + 1]) || !is_hex(part[i + 2])) return false;
      i += 2;
    } else if (!allowed(c)) {
      return false;
    }
  }
  return true;
}

bool is_scheme(std::string_view s) {
  if (s.empty() || !is_alpha(s.front())) return false;
  for (char c : s) {
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

// RFC 7230 tchar: what a media type's type, subtype and parameter names are made of.
bool is_tchar(char c) {
  return is_alpha(c) || is_digit(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::size_t token_length(std::string_view s) {
  std::size_t n = 0;
  while (n < s.size() && is_tchar(s[n])) ++n;
  return n;
}

// Reads exactly `width` digits at `pos`.
std::optional<int> read_digits(std::string_view s, std::size_t& pos, std::size_t width) {
  if (s.size() - pos < width) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    char c = s[pos + i];
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  pos += width;
  return value;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

Status check_string(std::string_view name, const AttributeValue& value) {
  const auto* text = std::get_if<std::string>(&value);
  if (text == nullptr) return invalid(fmt::format("attribute '{}' must be a String, not {}", name, type_name(value)));
  if (!internal::is_valid_string_value(*text)) {
    return invalid(fmt::format("attribute '{}' must be UTF-8 text without control characters", name));
  }
  return {};
}

Status check_non_empty_string(std::string_view name, const AttributeValue& value) {
  if (auto s = check_string(name, value); !s) return s;
  if (std::get<std::string>(value).empty()) return invalid(fmt::format("attribute '{}' must not be empty", name));
  return {};
}

Status check_attribute(std::string_view name, const AttributeValue& value) {
  if (name == "id" || name == "type" || name == "subject") return check_non_empty_string(name, value);
  if (name == "specversion") {
    if (auto s = check_string(name, value); !s) return s;
    const auto& version = std::get<std::string>(value);
    if (version != kSpecVersion) {
      return invalid(fmt::format("specversion '{}' is not supported; fnd accepts CloudEvents '{}'",
                                 quote_for_message(version), kSpecVersion));
    }
    return {};
  }
  if (name == "source") {
    if (auto s = check_non_empty_string(name, value); !s) return s;
    if (!is_valid_uri(std::get<std::string>(value), false)) {
      return invalid(fmt::format("attribute 'source' must be a URI-reference (RFC 3986), not '{}'",
                                 quote_for_message(std::get<std::string>(value))));
    }
    return {};
  }
  if (name == "dataschema") {
    if (auto s = check_non_empty_string(name, value); !s) return s;
    if (!is_valid_uri(std::get<std::string>(value), true)) {
      return invalid(fmt::format("attribute 'dataschema' must be an absolute URI (RFC 3986), not '{}'",
                                 quote_for_message(std::get<std::string>(value))));
    }
    return {};
  }
  if (name == "datacontenttype") {
    if (auto s = check_non_empty_string(name, value); !s) return s;
    if (!is_valid_media_type(std::get<std::string>(value))) {
      return invalid(
          fmt::format("attribute 'datacontenttype' must be a media type such as 'application/json' "
                      "(RFC 2046), not '{}'",
                      quote_for_message(std::get<std::string>(value))));
    }
    return {};
  }
  if (name == "time") {
    if (auto s = check_string(name, value); !s) return s;
    if (!parse_timestamp(std::get<std::string>(value))) {
      return invalid(
          fmt::format("attribute 'time' must be an RFC 3339 timestamp such as "
                      "'2018-04-05T17:31:00Z', not '{}'",
                      quote_for_message(std::get<std::string>(value))));
    }
    return {};
  }
  // An extension: any of the three kinds, each within its type's rules.
  if (const auto* number = std::get_if<int64_t>(&value)) {
    if (*number < kMinInteger || *number > kMaxInteger) {
      return invalid(fmt::format("attribute '{}' is {}, outside the CloudEvents Integer range {} to {}", name, *number,
                                 kMinInteger, kMaxInteger));
    }
    return {};
  }
  if (std::holds_alternative<std::string>(value)) return check_string(name, value);
  return {};
}

}  // namespace

bool is_invalid_event(const Error& error) { return error.code == kInvalidEvent; }

std::string to_canonical_string(const AttributeValue& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  if (const auto* number = std::get_if<int64_t>(&value)) return std::to_string(*number);
  return std::get<bool>(value) ? "true" : "false";
}

const AttributeValue* CloudEvent::attribute(std::string_view name) const {
  auto it = attributes.find(name);
  return it == attributes.end() ? nullptr : &it->second;
}

std::optional<std::string_view> CloudEvent::string_attribute(std::string_view name) const {
  const AttributeValue* value = attribute(name);
  if (value == nullptr) return std::nullopt;
  const auto* text = std::get_if<std::string>(value);
  if (text == nullptr) return std::nullopt;
  return std::string_view(*text);
}

bool is_valid_attribute_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxAttributeNameLength || name == "data") return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || is_digit(c))) return false;
  }
  return true;
}

Status validate(const CloudEvent& event) {
  // specversion first: it decides how everything else is read.
  for (std::string_view required : {"specversion", "id", "source", "type"}) {
    if (event.attribute(required) == nullptr) {
      return invalid(fmt::format("the required attribute '{}' is missing", required));
    }
  }
  if (auto s = check_attribute("specversion", *event.attribute("specversion")); !s) return s;
  for (const auto& [name, value] : event.attributes) {
    if (!is_valid_attribute_name(name)) {
      return invalid(
          fmt::format("attribute name '{}' is invalid: names are 1 to {} lower-case letters or digits "
                      "(and not 'data')",
                      quote_for_message(name), kMaxAttributeNameLength));
    }
    if (auto s = check_attribute(name, value); !s) return s;
  }
  return {};
}

std::optional<Timestamp> parse_timestamp(std::string_view s) {
  std::size_t pos = 0;
  auto year = read_digits(s, pos, 4);
  if (!year || !expect(s, pos, '-')) return std::nullopt;
  auto month = read_digits(s, pos, 2);
  if (!month || !expect(s, pos, '-')) return std::nullopt;
  auto day = read_digits(s, pos, 2);
  if (!day || pos >= s.size() || (s[pos] != 'T' && s[pos] != 't')) return std::nullopt;
  ++pos;
  auto hour = read_digits(s, pos, 2);
  if (!hour || !expect(s, pos, ':')) return std::nullopt;
  auto minute = read_digits(s, pos, 2);
  if (!minute || !expect(s, pos, ':')) return std::nullopt;
  auto second = read_digits(s, pos, 2);
  if (!second) return std::nullopt;
  uint32_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    for (; pos < s.size() && is_digit(s[pos]); ++pos, ++digits) {
      if (digits < 9) nanos = nanos * 10 + static_cast<uint32_t>(s[pos] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 9; ++digits) nanos *= 10;
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '+' ? 1 : -1;
    ++pos;
    auto off_hour = read_digits(s, pos, 2);
    if (!off_hour || !expect(s, pos, ':')) return std::nullopt;
    auto off_minute = read_digits(s, pos, 2);
    if (!off_minute || *off_hour > 23 || *off_minute > 59) return std::nullopt;
    offset_minutes = sign * (*off_hour * 60 + *off_minute);
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;

  // RFC 3339 5.7: second 60 only as a leap second; it is read as the next minute's first.
  if (*hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year(*year), std::chrono::month(static_cast<unsigned>(*month)),
                                   std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  std::chrono::sys_seconds local = std::chrono::sys_days(date) + std::chrono::hours(*hour) +
                                   std::chrono::minutes(*minute) + std::chrono::seconds(*second);
  return Timestamp{local - std::chrono::minutes(offset_minutes), nanos};
}

bool is_valid_uri(std::string_view text, bool absolute) {
  std::string_view rest = text;
  // A colon before any '/', '?' or '#' ends a scheme; a relative reference cannot have one there.
  std::size_t first = rest.find_first_of(":/?#");
  if (first != std::string_view::npos && rest[first] == ':') {
    if (!is_scheme(rest.substr(0, first))) return false;
    rest.remove_prefix(first + 1);
  } else if (absolute) {
    return false;
  }
  std::string_view fragment;
  bool has_fragment = false;
  if (auto hash = rest.find('#'); hash != std::string_view::npos) {
    fragment = rest.substr(hash + 1);
    rest = rest.substr(0, hash);
    has_fragment = true;
  }
  std::string_view query;
  if (auto question = rest.find('?'); question != std::string_view::npos) {
    query = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  auto query_char = [](char c) { return is_pchar(c) || c == '/' || c == '?'; };
  if (has_fragment && !all_uri_chars(fragment, query_char)) return false;
  if (!all_uri_chars(query, query_char)) return false;
  if (rest.substr(0, 2) == "//") {
    rest.remove_prefix(2);
    std::size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    auto authority_char = [](char c) {
      return is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@' || c == '[' || c == ']';
    };
    if (!all_uri_chars(authority, authority_char)) return false;
  }
  return all_uri_chars(rest, [](char c) { return is_pchar(c) || c == '/'; });
}

bool is_valid_media_type(std::string_view text) {
  std::string_view s = internal::trim_ows(text);
  std::size_t n = token_length(s);
  if (n == 0 || n >= s.size() || s[n] != '/') return false;
  s.remove_prefix(n + 1);
  n = token_length(s);
  if (n == 0) return false;
  s.remove_prefix(n);
  while (!s.empty()) {
    s = internal::trim_ows(s);
    if (s.empty() || s.front() != ';') return false;
    s = internal::trim_ows(s.substr(1));
    n = token_length(s);
    if (n == 0 || n >= s.size() || s[n] != '=') return false;
    s.remove_prefix(n + 1);
    if (!s.empty() && s.front() == '"') {
      std::size_t i = 1;
      for (; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\') ++i;
      }
      if (i >= s.size()) return false;
      s.remove_prefix(i + 1);
    } else {
      n = token_length(s);
      if (n == 0) return false;
      s.remove_prefix(n);
    }
  }
  return true;
}

bool is_json_media_type(std::string_view media_type) {
  std::string_view s = internal::trim_ows(media_type);
  s = internal::trim_ows(s.substr(0, s.find(';')));
  std::size_t slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  std::string subtype = internal::ascii_lower(s.substr(slash + 1));
  return subtype == "json" || (subtype.size() > 5 && subtype.ends_with("+json"));
}

}  // namespace fnd::eventing
