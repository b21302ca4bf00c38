// Building librdkafka configurations from fnd's settings, shared by the producer and the consumer.
// Private to the eventing module.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "eventing/kafka_client.hpp"
#include "kafka_handles.hpp"

namespace fnd::eventing::internal {

using KafkaProperties = std::vector<std::pair<std::string, std::string>>;

Error settings_error(std::string message);

// Why `topic` is not a name Kafka allows, or nullopt when it is.
std::optional<std::string> topic_name_problem(std::string_view topic);

// A configuration in layers: the properties every client of fnd has (from `settings`'s typed
// fields), then `defaults` (fnd's choices a user may change), then settings.properties, then
// `forced` (fnd's guarantees; validate() refuses them in settings.properties). Also routes
// librdkafka's log lines to spdlog. Errors: kInvalidKafkaSettings with librdkafka's reason.
Result<RdKafkaConfPtr> make_conf(const KafkaSettings& settings, const KafkaProperties& defaults,
                                 const KafkaProperties& forced);

// Creates the client; takes the configuration only on success (as rd_kafka_new does).
// Errors: kInvalidKafkaSettings with librdkafka's reason.
Result<RdKafkaPtr> make_handle(rd_kafka_type_t type, RdKafkaConfPtr& conf);

// "Local: Message timed out" (librdkafka's text for a code).
std::string error_text(rd_kafka_resp_err_t err);

// Milliseconds as librdkafka's integer properties want them.
std::string milliseconds_property(std::chrono::milliseconds duration);

}  // namespace fnd::eventing::internal
