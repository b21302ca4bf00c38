// The CloudEvents 1.0 event model: context attributes (required, optional and extensions alike) and
// the data payload, with the validation rules of the core specification (v1.0.2).
//
// A CloudEvent is a plain value: copyable, comparable, no shared state. Formats and bindings
// (event_format.hpp, http_binding.hpp, kafka_binding.hpp) produce only validated events; code that
// builds an event by hand calls validate() before handing it on. All functions here are pure and
// safe to call from any thread.
#pragma once

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "core/error.hpp"

namespace fnd::eventing {

// Error codes of the CloudEvents formats and bindings.
inline constexpr std::string_view kInvalidEvent = "invalid_event";  // 400: malformed or missing attribute
inline constexpr std::string_view kUnsupportedEventFormat = "unsupported_event_format";  // 415: not the JSON format
bool is_invalid_event(const Error& error);

inline constexpr std::string_view kSpecVersion = "1.0";
// The core spec says names SHOULD NOT exceed 20 characters; fnd refuses longer ones.
inline constexpr std::size_t kMaxAttributeNameLength = 20;
inline constexpr int64_t kMinInteger = INT32_MIN;  // CloudEvents Integer is a signed 32-bit number
inline constexpr int64_t kMaxInteger = INT32_MAX;

// The value of a context attribute. CloudEvents' String, URI, URI-reference, Timestamp and Binary
// (as its Base64 text) are all held as strings, in their canonical string encoding; Integer is
// int64_t (validate() enforces the 32-bit range); Boolean is bool.
//
// Binary content modes (HTTP ce- headers, Kafka ce_ headers) carry no type, so attributes read from
// them are strings, "10" as much as "abc": an extension's type is known only to its definition.
using AttributeValue = std::variant<std::string, int64_t, bool>;

// The canonical string encoding: the string itself, "-12", "true" / "false".
std::string to_canonical_string(const AttributeValue& value);

struct CloudEvent {
  // Every context attribute by name, required ones included: "specversion", "id", "source",
  // "type", "datacontenttype", "time", extensions... An unset attribute is absent (never null).
  std::map<std::string, AttributeValue, std::less<>> attributes;
  // The payload bytes, absent when the event has no data. JSON data (datacontenttype absent or
  // JSON) is held as its JSON text; data_base64 decoded; anything else as the bytes received.
  std::optional<std::string> data;

  // nullptr when the attribute is unset.
  const AttributeValue* attribute(std::string_view name) const;
  // A String-valued attribute; nullopt when unset or of another type.
  std::optional<std::string_view> string_attribute(std::string_view name) const;
  void set_attribute(std::string name, AttributeValue value) {
    attributes.insert_or_assign(std::move(name), std::move(value));
  }

  // The required attributes; empty when absent or not a String (a validated event has them all).
  std::string_view id() const { return string_attribute("id").value_or(""); }
  std::string_view source() const { return string_attribute("source").value_or(""); }
  std::string_view type() const { return string_attribute("type").value_or(""); }
  std::string_view specversion() const { return string_attribute("specversion").value_or(""); }
  std::optional<std::string_view> datacontenttype() const { return string_attribute("datacontenttype"); }

  bool operator==(const CloudEvent&) const = default;
};

// Checks the event against the core specification: id, source, specversion ("1.0") and type
// present, non-empty Strings; attribute names 1 to 20 of [a-z0-9] and not "data"; String values
// valid UTF-8 without control characters; time an RFC 3339 timestamp; source a URI-reference;
// dataschema an absolute URI; datacontenttype an RFC 2046 media type; subject non-empty;
// Integers within 32 bits. The error is kInvalidEvent, 400, with a message naming the attribute.
// `data` is not looked at: its encoding is the format's business.
Status validate(const CloudEvent& event);

// True for a name the spec allows: 1 to kMaxAttributeNameLength lower-case ASCII letters or digits,
// and not "data".
bool is_valid_attribute_name(std::string_view name);

// An instant read from an RFC 3339 timestamp, exact to the nanosecond. Ordered, so two timestamps
// written with different offsets ("18:31:00+01:00", "17:31:00Z") compare equal.
struct Timestamp {
  std::chrono::sys_seconds seconds;
  uint32_t nanoseconds = 0;  // below 1e9; digits past the ninth are dropped
  auto operator<=>(const Timestamp&) const = default;
};
// nullopt unless `text` is an RFC 3339 date-time (section 5.6): seconds required, an offset
// required ("Z" or +hh:mm with hh < 24, mm < 60), a calendar date that exists.
std::optional<Timestamp> parse_timestamp(std::string_view text);

// RFC 3986: a URI-reference (relative or absolute), or with `absolute` a URI with a scheme.
// Characters outside the URI grammar (spaces, non-ASCII) and malformed %XY make it invalid.
bool is_valid_uri(std::string_view text, bool absolute);

// RFC 2046 / RFC 7231 media type: type "/" subtype *( OWS ";" OWS token "=" ( token / quoted-string ) ).
bool is_valid_media_type(std::string_view text);
// True when the media type declares JSON content: subtype "json" or ending in "+json"
// ("application/json; charset=utf-8", "application/cloudevents+json", "text/json").
bool is_json_media_type(std::string_view media_type);

}  // namespace fnd::eventing
