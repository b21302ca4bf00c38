// When two CloudEvents carry the same event: the fuzz targets of the formats and bindings check
// that what they read comes back the same after writing it out and reading it again.
#pragma once

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstddef>
#include <fmt/format.h>
#include <string>

#include "eventing/cloud_event.hpp"
#include "eventing/event_format.hpp"

namespace fnd::fuzz {

// The same JSON value, except that doubles may differ in their last bits: Boost.JSON 1.81's parser
// is not correctly rounded (1.83 adds number_precision::precise), so 7.777777777777777E89 read
// back can come out one unit in the last place off. Integers and everything else must be equal.
inline bool same_json(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double();
    const double y = b.get_double();
    return x == y || std::fabs(x - y) <= 1e-15 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.is_array() && b.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!same_json(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object() && b.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& member : x) {
      const auto* other = y.if_contains(member.key());
      if (!other || !same_json(member.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

// JSON data is the same when it is the same JSON value: the JSON format writes it as a value, so
// " 1" and "1" are one payload. Other data must be the same bytes.
inline bool same_data(const eventing::CloudEvent& a, const eventing::CloudEvent& b) {
  if (a.data == b.data) return true;
  if (!a.data || !b.data) return false;
  auto type = a.datacontenttype();
  if (type && !eventing::is_json_media_type(*type)) return false;
  boost::system::error_code ea, eb;
  boost::json::value va = boost::json::parse(*a.data, ea);
  boost::json::value vb = boost::json::parse(*b.data, eb);
  return !ea && !eb && same_json(va, vb);
}

// Same attributes with the same canonical strings (binary modes carry no types) and same data.
inline bool same_event(const eventing::CloudEvent& a, const eventing::CloudEvent& b, bool typed) {
  if (a.attributes.size() != b.attributes.size()) return false;
  for (const auto& [name, value] : a.attributes) {
    const eventing::AttributeValue* other = b.attribute(name);
    if (!other) return false;
    if (typed ? *other != value : eventing::to_canonical_string(*other) != eventing::to_canonical_string(value)) return false;
  }
  return same_data(a, b);
}

inline std::string describe(const eventing::CloudEvent& event) {
  return eventing::to_json(event);
}

}  // namespace fnd::fuzz
