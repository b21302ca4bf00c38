// The JSON event format of CloudEvents (json-format.md v1.0.2): one event as a JSON object
// (application/cloudevents+json) and a batch as a JSON array of them
// (application/cloudevents-batch+json).
//
// Parsing validates: every event that comes back passed validate(). Serializing does not: give it
// a valid event. Pure functions, safe from any thread.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "eventing/cloud_event.hpp"

namespace fnd::eventing {

inline constexpr std::string_view kJsonEventMediaType = "application/cloudevents+json";
inline constexpr std::string_view kJsonBatchMediaType = "application/cloudevents-batch+json";

// One event. Members map to attributes (JSON strings, integers and booleans; null means unset);
// "data" is kept as its JSON text when datacontenttype is absent or JSON, and must be a JSON
// string otherwise; "data_base64" is decoded. Errors are kInvalidEvent, 400, naming the attribute:
// not JSON, not an object, a number that is not an integer, an object or array as an attribute,
// "data" together with "data_base64", bad Base64, and everything validate() refuses.
Result<CloudEvent> parse_json_event(std::string_view text);

// A batch: a JSON array (possibly empty) of events as parse_json_event reads them. The first
// invalid element refuses the whole batch with an error naming its index (counted from 0).
Result<std::vector<CloudEvent>> parse_json_batch(std::string_view text);

// The event as a JSON object: specversion, id, source and type first, then the other attributes
// by name. Data goes into "data" as a JSON value when datacontenttype is absent or JSON and the
// bytes are JSON text; as a string when datacontenttype is another type and the bytes are UTF-8;
// otherwise into "data_base64".
std::string to_json(const CloudEvent& event);
// The events as a JSON array.
std::string to_json_batch(std::span<const CloudEvent> events);

}  // namespace fnd::eventing
