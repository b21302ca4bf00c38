// When two CloudEvents carry the same event: the fuzz targets of the formats and bindings check
// that what they read comes back the same after writing it out and reading it again.
#pragma once

#include <boost/json.hpp>
#include <fmt/format.h>
#include <string>

#include "eventing/cloud_event.hpp"
#include "eventing/event_format.hpp"

namespace fnd::fuzz {

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
  return !ea && !eb && va == vb;
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
