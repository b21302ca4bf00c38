// The Kafka protocol binding of CloudEvents (kafka-protocol-binding.md v1.0.2): events in and out
// of Kafka records in binary and structured content modes (Kafka has no batched mode). Records
// are plain values so that librdkafka stays in the consumer and producer code. Pure functions,
// safe from any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "eventing/cloud_event.hpp"

namespace fnd::eventing {

// The partitioning extension's attribute, mapped to and from the record key.
inline constexpr std::string_view kPartitionKeyAttribute = "partitionkey";

// Record headers as (key, value) in record order; Kafka allows a key more than once.
using KafkaHeaders = std::vector<std::pair<std::string, std::string>>;

// The parts of a Kafka record the binding reads and writes (topic, partition and offset are the
// client's business). An absent value is a tombstone; an absent key is a null key.
struct KafkaRecord {
  std::optional<std::string> key;
  KafkaHeaders headers;
  std::optional<std::string> value;

  bool operator==(const KafkaRecord&) const = default;
};

inline constexpr std::size_t kMaxKafkaTopicLength = 249;  // Kafka's own limit
// 1 to 249 of [a-zA-Z0-9._-], not "." or "..": a name Kafka accepts for a topic.
bool is_valid_kafka_topic(std::string_view topic);

enum class KafkaContentMode { binary, structured };

// Reads the event of a record; the content-type header (key matched case-insensitively) decides:
// application/cloudevents+json is structured (the value is the JSON format); anything else, or
// none, is binary: attributes from the ce_* headers (UTF-8, no further decoding),
// datacontenttype from content-type, data from the value (none for a tombstone).
// In both modes a non-null key sets `partitionkey` when the event has none, so a key survives
// the trip into an event and back out (to_kafka maps it back).
// Errors: kInvalidEvent, 400, naming the attribute or header (missing or invalid attribute, a ce_
// header given twice, a header value that is not UTF-8, a structured record with no value);
// kUnsupportedEventFormat, 415, for another CloudEvents format or the batch format.
Result<CloudEvent> from_kafka(const KafkaRecord& record);

// Writes the event as a record. The key is the event's partitionkey (canonical string) when it
// has one, else null; the attribute stays in the event. Binary: one ce_ header per attribute
// but datacontenttype, content-type from datacontenttype (application/json when it is absent and
// the data is JSON text), the data as the value (null when the event has none). Structured:
// content-type application/cloudevents+json; charset=utf-8, the JSON format as the value.
KafkaRecord to_kafka(const CloudEvent& event, KafkaContentMode mode);

}  // namespace fnd::eventing
