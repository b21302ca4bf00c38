// Trigger filters, as Knative's "new filters" API (Trigger spec.filters) defines them: a list of
// filter expressions that must all match for an event to be delivered.
//
//   [{"exact": {"type": "com.shop.order.created"}},
//    {"any": [{"prefix": {"source": "/shop/"}}, {"cesql": "total > 100"}]}]
//
// Kinds (each a JSON object with exactly one member naming the kind):
// - exact  {attr: value, ...}  every listed attribute is present and its string form equals value;
// - prefix {attr: value, ...}  every listed attribute starts with value (a non-empty string);
// - suffix {attr: value, ...}  every listed attribute ends with value (a non-empty string);
// - all [filters]              every nested filter matches (an empty list matches);
// - any [filters]              at least one nested filter matches (the list must not be empty);
// - not filter                 the nested filter does not match;
// - cesql "expression"         the CESQL expression (cesql.hpp) is Boolean true. It is compiled
//                              once, at parse time; an evaluation error means no match.
// Knative allows one attribute per exact/prefix/suffix; fnd takes several (all must match).
// The string form of a non-String attribute is its canonical encoding ("12", "true").
//
// fnd extension: the view filters see
//   The attributes a filter reads are the event's context attributes (extensions included) plus,
//   when the event's data is a JSON object (datacontenttype absent or a JSON media type), the
//   object's top-level members whose values are strings, numbers or booleans, under their own
//   names, when the name is a valid attribute name (is_valid_attribute_name: lower-case letters
//   and digits, at most 20) and no context attribute has it. A number is an Integer when it is
//   integral and within 32 bits, otherwise its decimal text as a String. So `total > 100`
//   matches an event whose data is {"total": 900}, and {"exact": {"status": "paid"}} reads the
//   data member "status" unless the event has an extension named "status". Nested objects,
//   arrays and null are not visible. (The CESQL conformance suite evaluates raw attributes
//   through cesql.hpp directly and is not affected.)
//
// Everything here is a pure value: a FilterList may be copied and evaluated from any number of
// threads at once.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "eventing/cesql.hpp"
#include "eventing/cloud_event.hpp"

namespace fnd::eventing {

// 422: a filter that cannot be parsed; the message names the bad part by its path
// ("filters[1].any[0].exact.type: expected a string, got a number"). The same code as
// cesql::kInvalidFilter: CESQL text that does not parse is one such filter.
inline constexpr std::string_view kInvalidFilter = cesql::kInvalidFilter;
bool is_invalid_filter(const Error& error);

// Nesting deeper than this (all/any/not inside one another) is refused, so that evaluation's
// recursion stays shallow whatever a user sends.
inline constexpr std::size_t kMaxFilterDepth = 32;

enum class FilterKind { exact, prefix, suffix, all, any, negation, cesql };
// "exact", "prefix", "suffix", "all", "any", "not", "cesql": the JSON member names.
std::string_view to_string(FilterKind kind);

struct Filter {
  FilterKind kind = FilterKind::exact;
  // exact, prefix, suffix: attribute name -> the value wanted; at least one entry.
  std::map<std::string, std::string, std::less<>> attributes;
  // all, any: the nested filters; negation: exactly one.
  std::vector<Filter> filters;
  // cesql: the compiled expression (its text() is what serializes back).
  std::optional<cesql::Expression> expression;
};

// All must match; an empty list matches every event.
using FilterList = std::vector<Filter>;

// A JSON array of filter expressions. `path` names the array in error messages ("filters").
// Errors: kInvalidFilter, 422, naming the bad part: not an array or object, an unknown kind, more
// or fewer than one kind in one object, an invalid attribute name, a value that is not a string,
// an empty prefix or suffix, an empty any, nesting past kMaxFilterDepth, a CESQL expression that
// does not parse (with the parser's position).
Result<FilterList> parse_filters(const boost::json::value& json, std::string_view path = "filters");
// One filter expression (an object such as {"exact": {...}}).
Result<Filter> parse_filter(const boost::json::value& json, std::string_view path = "filter");

// The JSON that parse_filters reads back to equal filters (exact/prefix/suffix members sorted by
// name).
boost::json::array filters_to_json(const FilterList& filters);
boost::json::value filter_to_json(const Filter& filter);

struct FilterVerdict {
  bool matches = false;
  // One sentence. When the event does not match: the path of the filter that failed first (as
  // parse_filters names it) and what failed there, naming the attribute and its value:
  //   "filters[1].all[0].exact: attribute 'type' is 'a.b', the filter wants exactly 'x'"
  //   "filters[0].cesql: `total > 100` is false"
  //   "filters[0].cesql: `total > 100` failed (missingAttribute): ..."
  // When it matches: which filters matched ("matched exact {type}, cesql `total > 100`").
  std::string reason;
};

// Evaluates the filters in order against the view described above, stopping at the first that
// does not match (all and any stop early too; not inverts its filter's verdict). Data is parsed
// (at most once) only when a filter reads a name that is not a context attribute. The reason of
// the single-filter form starts its path at "exact", "any[0]...", without "filters[i].".
FilterVerdict evaluate(const FilterList& filters, const CloudEvent& event);
FilterVerdict evaluate(const Filter& filter, const CloudEvent& event);

}  // namespace fnd::eventing
