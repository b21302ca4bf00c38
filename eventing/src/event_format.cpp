#include "eventing/event_format.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/base64.hpp"
#include "encoding.hpp"
#include "eventing/cloud_event.hpp"
#include "json_text.hpp"

namespace fnd::eventing {

namespace {

namespace json = boost::json;

Error invalid(std::string message) { return make_error(std::string(kInvalidEvent), std::move(message), 400); }

bool declares_json(const CloudEvent& event) {
  auto content_type = event.datacontenttype();
  return !content_type || is_json_media_type(*content_type);
}

Result<AttributeValue> attribute_from_json(std::string_view member, const json::value& value) {
  std::string name = internal::quote_for_message(member);
  switch (value.kind()) {
    case json::kind::string:
      return AttributeValue(std::string(value.get_string()));
    case json::kind::bool_:
      return AttributeValue(value.get_bool());
    case json::kind::int64:
      return AttributeValue(value.get_int64());
    case json::kind::uint64:
      if (value.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return invalid(fmt::format("attribute '{}' is outside the CloudEvents Integer range", name));
      }
      return AttributeValue(static_cast<int64_t>(value.get_uint64()));
    case json::kind::double_:
      return invalid(fmt::format("attribute '{}' must be an integer; CloudEvents has no fractional numbers", name));
    default:
      return invalid(
          fmt::format("attribute '{}' must be a string, an integer or a boolean, not a JSON object or array", name));
  }
}

Result<CloudEvent> event_from_object(const json::object& object) {
  CloudEvent event;
  const json::value* data = nullptr;
  const json::value* data_base64 = nullptr;
  for (const auto& member : object) {
    std::string_view name = member.key();
    if (name == "data") {
      data = &member.value();
      continue;
    }
    if (name == "data_base64") {
      if (!member.value().is_null()) data_base64 = &member.value();
      continue;
    }
    if (member.value().is_null()) continue;  // null is the same as unset
    auto value = attribute_from_json(name, member.value());
    if (!value) return value.error();
    event.attributes.insert_or_assign(std::string(name), std::move(*value));
  }
  if (auto valid = validate(event); !valid) return valid.error();

  if (data != nullptr && data_base64 != nullptr) {
    return invalid("the event has both 'data' and 'data_base64'; send exactly one of them");
  }
  if (data_base64 != nullptr) {
    if (!data_base64->is_string()) return invalid("'data_base64' must be a Base64 string");
    auto bytes = base64_decode(data_base64->get_string());
    if (!bytes) return invalid("'data_base64' is not valid Base64 (RFC 4648, standard alphabet)");
    event.data = std::move(*bytes);
  } else if (data != nullptr) {
    if (declares_json(event)) {
      // An explicit JSON null is a payload too (json-format.md 3.1.1).
      event.data = json::serialize(*data);
    } else if (data->is_string()) {
      event.data = std::string(data->get_string());
    } else if (!data->is_null()) {
      return invalid(
          fmt::format("'data' must be a JSON string when datacontenttype '{}' is not JSON; "
                      "send other bytes as 'data_base64'",
                      internal::quote_for_message(*event.datacontenttype())));
    }
  }
  return event;
}

json::object event_to_object(const CloudEvent& event) {
  json::object object;
  auto put = [&](std::string_view name, const AttributeValue& value) {
    if (const auto* text = std::get_if<std::string>(&value)) {
      object[name] = *text;
    } else if (const auto* number = std::get_if<int64_t>(&value)) {
      object[name] = *number;
    } else {
      object[name] = std::get<bool>(value);
    }
  };
  static constexpr std::string_view kFirst[] = {"specversion", "id", "source", "type"};
  for (std::string_view name : kFirst) {
    if (const AttributeValue* value = event.attribute(name)) put(name, *value);
  }
  for (const auto& [name, value] : event.attributes) {
    if (name != "specversion" && name != "id" && name != "source" && name != "type") put(name, value);
  }
  if (!event.data) return object;
  const std::string& bytes = *event.data;
  if (declares_json(event)) {
    if (auto value = internal::parse_json_text(bytes, "data")) {
      object["data"] = std::move(*value);
      return object;
    }
  } else if (internal::is_valid_utf8(bytes)) {
    object["data"] = bytes;
    return object;
  }
  object["data_base64"] = base64_encode(bytes);
  return object;
}

}  // namespace

Result<CloudEvent> parse_json_event(std::string_view text) {
  auto value = internal::parse_json_text(text, "event");
  if (!value) return value.error();
  if (!value->is_object()) return invalid("the event must be a JSON object");
  return event_from_object(value->get_object());
}

Result<std::vector<CloudEvent>> parse_json_batch(std::string_view text) {
  auto value = internal::parse_json_text(text, "batch");
  if (!value) return value.error();
  if (!value->is_array()) return invalid("the batch must be a JSON array of events");
  const json::array& array = value->get_array();
  std::vector<CloudEvent> events;
  events.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    if (!array[i].is_object()) return invalid(fmt::format("element {} of the batch is not a JSON object", i));
    auto event = event_from_object(array[i].get_object());
    if (!event) {
      Error error = event.error();
      error.message = fmt::format("event {} of the batch: {}", i, error.message);
      return error;
    }
    events.push_back(std::move(*event));
  }
  return events;
}

std::string to_json(const CloudEvent& event) { return json::serialize(event_to_object(event)); }

std::string to_json_batch(std::span<const CloudEvent> events) {
  json::array array;
  array.reserve(events.size());
  for (const CloudEvent& event : events) array.emplace_back(event_to_object(event));
  return json::serialize(array);
}

}  // namespace fnd::eventing
