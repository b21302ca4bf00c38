#include "eventing/filter.hpp"

#include <fmt/format.h>

#include <array>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/error.hpp"
#include "encoding.hpp"
#include "eventing/cesql.hpp"
#include "eventing/cloud_event.hpp"
#include "json_text.hpp"

namespace fnd::eventing {

namespace json = boost::json;

bool is_invalid_filter(const Error& error) { return error.code == kInvalidFilter; }

std::string_view to_string(FilterKind kind) {
  switch (kind) {
    case FilterKind::exact:
      return "exact";
    case FilterKind::prefix:
      return "prefix";
    case FilterKind::suffix:
      return "suffix";
    case FilterKind::all:
      return "all";
    case FilterKind::any:
      return "any";
    case FilterKind::negation:
      return "not";
    case FilterKind::cesql:
      return "cesql";
  }
  return "exact";
}

namespace {

using internal::quote_for_message;

constexpr std::array kKinds = {FilterKind::exact, FilterKind::prefix,   FilterKind::suffix, FilterKind::all,
                               FilterKind::any,   FilterKind::negation, FilterKind::cesql};
constexpr std::string_view kKnownKinds = "exact, prefix, suffix, all, any, not, cesql";

Error filter_error(std::string_view path, std::string_view problem) {
  return make_error(std::string(kInvalidFilter), fmt::format("{}: {}", path, problem), 422);
}

std::string_view kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "a list";
    case json::kind::object:
      return "an object";
  }
  return "?";
}

std::optional<FilterKind> kind_of(std::string_view name) {
  for (FilterKind kind : kKinds) {
    if (to_string(kind) == name) return kind;
  }
  return std::nullopt;
}

Result<Filter> parse_at(const json::value& v, const std::string& path, std::size_t depth);

Result<std::vector<Filter>> parse_list(const json::value& v, const std::string& path, std::size_t depth) {
  if (!v.is_array()) return filter_error(path, fmt::format("expected a list of filters, got {}", kind_name(v)));
  std::vector<Filter> filters;
  filters.reserve(v.as_array().size());
  std::size_t index = 0;
  for (const json::value& item : v.as_array()) {
    auto filter = parse_at(item, fmt::format("{}[{}]", path, index++), depth);
    if (!filter) return filter.error();
    filters.push_back(std::move(filter).value());
  }
  return filters;
}

Status parse_attributes(const json::value& v, const std::string& path, Filter& filter) {
  if (!v.is_object()) {
    return filter_error(path, fmt::format("expected an object of attribute names and values, got {}", kind_name(v)));
  }
  if (v.as_object().empty()) return filter_error(path, "name at least one attribute");
  for (const auto& [key, value] : v.as_object()) {
    const std::string_view name = key;
    if (!is_valid_attribute_name(name)) {
      return filter_error(path, fmt::format("'{}' is not a valid attribute name: use 1 to {} lower-case letters "
                                            "and digits",
                                            quote_for_message(name), kMaxAttributeNameLength));
    }
    const std::string member = fmt::format("{}.{}", path, name);
    if (!value.is_string()) return filter_error(member, fmt::format("expected a string, got {}", kind_name(value)));
    if (filter.kind != FilterKind::exact && value.as_string().empty()) {
      return filter_error(member, fmt::format("an empty {} matches every value: give a non-empty one or drop it",
                                              to_string(filter.kind)));
    }
    filter.attributes.emplace(std::string(name), std::string(value.as_string()));
  }
  return {};
}

Result<Filter> parse_at(const json::value& v, const std::string& path, std::size_t depth) {
  if (depth > kMaxFilterDepth) {
    return filter_error(path, fmt::format("filters nest deeper than {} levels", kMaxFilterDepth));
  }
  if (!v.is_object()) {
    return filter_error(path, fmt::format("expected an object with one of {}, got {}", kKnownKinds, kind_name(v)));
  }
  const json::object& object = v.as_object();
  if (object.size() != 1) {
    if (object.empty()) return filter_error(path, fmt::format("an empty filter: give one of {}", kKnownKinds));
    std::vector<std::string_view> names;
    for (const auto& member : object) names.push_back(member.key());
    return filter_error(path, fmt::format("one filter object names {} kinds ({}): give exactly one per object",
                                          names.size(), fmt::join(names, ", ")));
  }
  const auto& [key, value] = *object.begin();
  const auto kind = kind_of(key);
  if (!kind) {
    return filter_error(
        path, fmt::format("unknown filter kind '{}'; known kinds are: {}", quote_for_message(key), kKnownKinds));
  }
  const std::string inner = fmt::format("{}.{}", path, std::string_view(key));
  Filter filter;
  filter.kind = *kind;
  switch (*kind) {
    case FilterKind::exact:
    case FilterKind::prefix:
    case FilterKind::suffix: {
      Status parsed = parse_attributes(value, inner, filter);
      if (!parsed) return parsed.error();
      break;
    }
    case FilterKind::all:
    case FilterKind::any: {
      auto list = parse_list(value, inner, depth + 1);
      if (!list) return list.error();
      if (*kind == FilterKind::any && list->empty()) {
        return filter_error(inner, "an empty any matches no event: give at least one filter");
      }
      filter.filters = std::move(list).value();
      break;
    }
    case FilterKind::negation: {
      auto nested = parse_at(value, inner, depth + 1);
      if (!nested) return nested.error();
      filter.filters.push_back(std::move(nested).value());
      break;
    }
    case FilterKind::cesql: {
      if (!value.is_string()) {
        return filter_error(inner, fmt::format("expected a CESQL expression as a string, got {}", kind_name(value)));
      }
      auto expression = cesql::Expression::parse(value.as_string());
      if (!expression) return filter_error(inner, expression.error().message);
      filter.expression = std::move(expression).value();
      break;
    }
  }
  return filter;
}

// What filters see of one event (see the header): context attributes first, then the members of
// a JSON object payload, parsed on the first name the attributes lack.
class EventView {
 public:
  explicit EventView(const CloudEvent& event) : event_(event) {}

  std::optional<cesql::Value> lookup(std::string_view name) const {
    if (const AttributeValue* attribute = event_.attribute(name)) {
      return std::visit([](const auto& value) -> cesql::Value { return value; }, *attribute);
    }
    const json::object* data = data_object();
    if (data == nullptr || !is_valid_attribute_name(name)) return std::nullopt;
    const json::value* member = data->if_contains(name);
    if (member == nullptr) return std::nullopt;
    return member_value(*member);
  }

 private:
  static std::optional<cesql::Value> member_value(const json::value& member) {
    switch (member.kind()) {
      case json::kind::string:
        return std::string(member.as_string());
      case json::kind::bool_:
        return member.as_bool();
      case json::kind::int64: {
        const int64_t n = member.as_int64();
        if (n >= kMinInteger && n <= kMaxInteger) return n;
        return std::to_string(n);
      }
      case json::kind::uint64: {
        const uint64_t n = member.as_uint64();
        if (n <= static_cast<uint64_t>(kMaxInteger)) return static_cast<int64_t>(n);
        return std::to_string(n);
      }
      case json::kind::double_: {
        const double d = member.as_double();
        if (std::floor(d) == d && d >= static_cast<double>(kMinInteger) && d <= static_cast<double>(kMaxInteger)) {
          return static_cast<int64_t>(d);
        }
        std::array<char, 64> text{};
        auto [end, ec] = std::to_chars(text.data(), text.data() + text.size(), d);
        if (ec != std::errc()) return std::nullopt;
        return std::string(text.data(), end);
      }
      case json::kind::null:
      case json::kind::array:
      case json::kind::object:
        return std::nullopt;
    }
    return std::nullopt;
  }

  const json::object* data_object() const {
    if (!data_parsed_) {
      data_parsed_ = true;
      const auto content_type = event_.datacontenttype();
      if (event_.data && (!content_type || is_json_media_type(*content_type))) {
        auto parsed = internal::parse_json_text(*event_.data, "data");
        if (parsed && parsed->is_object()) data_ = std::move(parsed).value();
      }
    }
    return data_.is_object() ? &data_.as_object() : nullptr;
  }

  const CloudEvent& event_;
  mutable bool data_parsed_ = false;
  mutable json::value data_;
};

std::string string_form(const cesql::Value& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  if (const auto* number = std::get_if<int64_t>(&value)) return std::to_string(*number);
  return std::get<bool>(value) ? "true" : "false";
}

bool attribute_matches(FilterKind kind, std::string_view actual, std::string_view wanted) {
  switch (kind) {
    case FilterKind::prefix:
      return actual.starts_with(wanted);
    case FilterKind::suffix:
      return actual.ends_with(wanted);
    default:
      return actual == wanted;
  }
}

std::string_view wants(FilterKind kind) {
  switch (kind) {
    case FilterKind::prefix:
      return "a value starting with";
    case FilterKind::suffix:
      return "a value ending with";
    default:
      return "exactly";
  }
}

// A short name of a filter for the "matched ..." reason.
std::string describe(const Filter& filter) {
  switch (filter.kind) {
    case FilterKind::exact:
    case FilterKind::prefix:
    case FilterKind::suffix: {
      std::vector<std::string_view> names;
      for (const auto& entry : filter.attributes) names.push_back(entry.first);
      return fmt::format("{} {{{}}}", to_string(filter.kind), fmt::join(names, ", "));
    }
    case FilterKind::all:
      return fmt::format("all of {}", filter.filters.size());
    case FilterKind::any:
      return fmt::format("any of {}", filter.filters.size());
    case FilterKind::negation:
      return fmt::format("not {}", describe(filter.filters.front()));
    case FilterKind::cesql:
      return fmt::format("cesql `{}`", quote_for_message(filter.expression->text()));
  }
  return "filter";
}

// One filter's verdict while evaluating. On a failure `where` is the failing filter's path below
// this one ("all[1].exact") and `why` what failed there; on a match `why` is the short account
// the "matched ..." reason lists. Paths are built only as a failure unwinds.
struct Outcome {
  bool matches = false;
  std::string where;
  std::string why;
};

Outcome failed(const Filter& filter, std::string why) {
  return {false, std::string(to_string(filter.kind)), std::move(why)};
}

// `filter` failed because its nested filter `index` did: the nested path goes under it.
Outcome failed_inside(const Filter& filter, std::size_t index, Outcome nested) {
  nested.where = fmt::format("{}[{}].{}", to_string(filter.kind), index, nested.where);
  return nested;
}

Outcome evaluate_in(const Filter& filter, const EventView& view) {
  switch (filter.kind) {
    case FilterKind::exact:
    case FilterKind::prefix:
    case FilterKind::suffix: {
      for (const auto& [name, wanted] : filter.attributes) {
        const auto value = view.lookup(name);
        if (!value) {
          return failed(filter, fmt::format("the event has no attribute '{}', the filter wants {} '{}'", name,
                                            wants(filter.kind), quote_for_message(wanted)));
        }
        const std::string actual = string_form(*value);
        if (!attribute_matches(filter.kind, actual, wanted)) {
          return failed(filter, fmt::format("attribute '{}' is '{}', the filter wants {} '{}'", name,
                                            quote_for_message(actual), wants(filter.kind), quote_for_message(wanted)));
        }
      }
      return {true, {}, describe(filter)};
    }
    case FilterKind::all: {
      for (std::size_t i = 0; i < filter.filters.size(); ++i) {
        Outcome nested = evaluate_in(filter.filters[i], view);
        if (!nested.matches) return failed_inside(filter, i, std::move(nested));
      }
      return {true, {}, describe(filter)};
    }
    case FilterKind::any: {
      Outcome first;
      for (std::size_t i = 0; i < filter.filters.size(); ++i) {
        Outcome nested = evaluate_in(filter.filters[i], view);
        if (nested.matches) return {true, {}, fmt::format("any (its filter {} matched: {})", i, nested.why)};
        if (i == 0) first = failed_inside(filter, 0, std::move(nested));
      }
      return failed(filter, fmt::format("none of its {} filters matched (the first: {}: {})", filter.filters.size(),
                                        first.where, first.why));
    }
    case FilterKind::negation: {
      Outcome nested = evaluate_in(filter.filters.front(), view);
      if (nested.matches) return failed(filter, fmt::format("the filter it negates matched ({})", nested.why));
      return {true, {}, describe(filter)};
    }
    case FilterKind::cesql: {
      const cesql::Expression& expression = *filter.expression;
      const auto outcome = expression.evaluate([&view](std::string_view name) { return view.lookup(name); });
      const std::string text = quote_for_message(expression.text());
      if (outcome.error) {
        return failed(filter, fmt::format("`{}` failed ({}): {}", text, cesql::to_string(outcome.error->kind),
                                          outcome.error->message));
      }
      const bool* truth = std::get_if<bool>(&outcome.value);
      if (truth == nullptr) return failed(filter, fmt::format("`{}` is not a Boolean", text));
      if (!*truth) return failed(filter, fmt::format("`{}` is false", text));
      return {true, {}, describe(filter)};
    }
  }
  return failed(filter, "unknown filter kind");
}

json::value to_json_value(const Filter& filter) {
  json::object out;
  switch (filter.kind) {
    case FilterKind::exact:
    case FilterKind::prefix:
    case FilterKind::suffix: {
      json::object attributes;
      for (const auto& [name, value] : filter.attributes) attributes[name] = value;
      out[to_string(filter.kind)] = std::move(attributes);
      break;
    }
    case FilterKind::all:
    case FilterKind::any: {
      json::array nested;
      for (const Filter& child : filter.filters) nested.push_back(to_json_value(child));
      out[to_string(filter.kind)] = std::move(nested);
      break;
    }
    case FilterKind::negation:
      out[to_string(filter.kind)] = to_json_value(filter.filters.front());
      break;
    case FilterKind::cesql:
      out[to_string(filter.kind)] = filter.expression->text();
      break;
  }
  return out;
}

}  // namespace

Result<FilterList> parse_filters(const json::value& json, std::string_view path) {
  return parse_list(json, std::string(path), 1);
}

Result<Filter> parse_filter(const json::value& json, std::string_view path) {
  return parse_at(json, std::string(path), 1);
}

json::array filters_to_json(const FilterList& filters) {
  json::array out;
  for (const Filter& filter : filters) out.push_back(to_json_value(filter));
  return out;
}

json::value filter_to_json(const Filter& filter) { return to_json_value(filter); }

FilterVerdict evaluate(const FilterList& filters, const CloudEvent& event) {
  if (filters.empty()) return {true, "no filters: every event matches"};
  const EventView view(event);
  std::vector<std::string> matched;
  for (std::size_t i = 0; i < filters.size(); ++i) {
    Outcome outcome = evaluate_in(filters[i], view);
    if (!outcome.matches) return {false, fmt::format("filters[{}].{}: {}", i, outcome.where, outcome.why)};
    matched.push_back(std::move(outcome.why));
  }
  return {true, fmt::format("matched {}", fmt::join(matched, ", "))};
}

FilterVerdict evaluate(const Filter& filter, const CloudEvent& event) {
  const EventView view(event);
  Outcome outcome = evaluate_in(filter, view);
  if (outcome.matches) return {true, "matched " + outcome.why};
  return {false, fmt::format("{}: {}", outcome.where, outcome.why)};
}

}  // namespace fnd::eventing
