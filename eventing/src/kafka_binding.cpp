#include "eventing/kafka_binding.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "content_mode.hpp"
#include "core/error.hpp"
#include "encoding.hpp"
#include "eventing/cloud_event.hpp"
#include "eventing/event_format.hpp"

namespace fnd::eventing {

namespace {

constexpr std::string_view kHeaderPrefix = "ce_";
constexpr std::string_view kContentTypeHeader = "content-type";
constexpr std::string_view kStructuredContentType = "application/cloudevents+json; charset=utf-8";

Error invalid(std::string message) { return make_error(std::string(kInvalidEvent), std::move(message), 400); }

std::optional<std::string_view> content_type_of(const KafkaRecord& record) {
  for (const auto& [key, value] : record.headers) {
    if (internal::iequals(key, kContentTypeHeader)) return std::string_view(value);
  }
  return std::nullopt;
}

Result<CloudEvent> from_binary(const KafkaRecord& record, std::optional<std::string_view> content_type) {
  CloudEvent event;
  for (const auto& [key, value] : record.headers) {
    // Kafka header keys are case-sensitive, and so are attribute names: "ce_Id" is not "id"
    // and fails validation as a name instead of being read silently.
    if (!key.starts_with(kHeaderPrefix)) continue;
    std::string name = key.substr(kHeaderPrefix.size());
    if (name == "datacontenttype") {
      return invalid("binary-mode records carry datacontenttype in content-type; remove the ce_datacontenttype header");
    }
    if (!internal::is_valid_utf8(value)) {
      return invalid(fmt::format("header '{}' is not UTF-8", internal::quote_for_message(key)));
    }
    if (!event.attributes.emplace(std::move(name), value).second) {
      return invalid(fmt::format("header '{}' appears more than once; send each attribute once",
                                 internal::quote_for_message(key)));
    }
  }
  if (content_type) event.set_attribute("datacontenttype", std::string(*content_type));
  event.data = record.value;
  return event;
}

}  // namespace

Result<CloudEvent> from_kafka(const KafkaRecord& record) {
  std::optional<std::string_view> content_type = content_type_of(record);
  Result<CloudEvent> event = invalid("no event");
  bool binary = false;
  switch (internal::content_mode(content_type)) {
    case internal::ContentMode::structured_json:
      if (!record.value) return invalid("a structured-mode record needs a value: it has none (a tombstone)");
      event = parse_json_event(*record.value);
      break;
    case internal::ContentMode::batch_json:
    case internal::ContentMode::unsupported:
      return make_error(std::string(kUnsupportedEventFormat),
                        fmt::format("event format '{}' is not supported in Kafka records; use "
                                    "application/cloudevents+json or binary mode with ce_ headers",
                                    internal::quote_for_message(*content_type)),
                        415);
    case internal::ContentMode::binary:
      event = from_binary(record, content_type);
      binary = true;
      break;
  }
  if (!event) return event.error();
  // A key that is not text (a hash, an Avro key) stays a key only: an attribute must be a String.
  if (record.key && !record.key->empty() && event->attribute(kPartitionKeyAttribute) == nullptr &&
      internal::is_valid_string_value(*record.key)) {
    event->set_attribute(std::string(kPartitionKeyAttribute), *record.key);
  }
  if (!binary) return event;  // parse_json_event validated it
  if (auto valid = validate(*event); !valid) {
    Error error = valid.error();
    error.message += " (binary content mode: attributes are read from the ce_ headers)";
    return error;
  }
  return event;
}

KafkaRecord to_kafka(const CloudEvent& event, KafkaContentMode mode) {
  KafkaRecord record;
  if (const AttributeValue* key = event.attribute(kPartitionKeyAttribute)) record.key = to_canonical_string(*key);
  if (mode == KafkaContentMode::structured) {
    record.headers.emplace_back(kContentTypeHeader, kStructuredContentType);
    record.value = to_json(event);
    return record;
  }
  for (const auto& [name, value] : event.attributes) {
    if (name != "datacontenttype")
      record.headers.emplace_back(std::string(kHeaderPrefix) + name, to_canonical_string(value));
  }
  if (auto content_type = internal::binary_content_type(event)) {
    record.headers.emplace_back(kContentTypeHeader, std::move(*content_type));
  }
  record.value = event.data;
  return record;
}

bool is_valid_kafka_topic(std::string_view topic) {
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  };
  return !topic.empty() && topic.size() <= kMaxKafkaTopicLength && topic != "." && topic != ".." &&
         std::all_of(topic.begin(), topic.end(), allowed);
}

}  // namespace fnd::eventing
