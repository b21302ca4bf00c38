// Settings validation and the vocabulary of kafka_client.hpp; the clients are in kafka_producer.cpp
// and kafka_consumer.cpp.
#include "eventing/kafka_client.hpp"

#include <array>
#include <chrono>
#include <climits>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.hpp"
#include "kafka_config.hpp"

namespace fnd::eventing {
namespace {

struct ReservedProperty {
  std::string_view name;
  std::string_view instead;  // what to do instead, one clause
};

// Properties fnd sets itself: its guarantees, or a typed field of the settings.
constexpr std::array<ReservedProperty, 18> kReservedProperties = {{
    {"bootstrap.servers", "set KafkaSettings.bootstrap_servers instead"},
    {"metadata.broker.list", "set KafkaSettings.bootstrap_servers instead"},
    {"client.id", "set KafkaSettings.client_id instead"},
    {"group.id", "set the consumer's group_id instead"},
    {"enable.idempotence", "fnd's producer is always idempotent"},
    {"acks", "fnd's producer always waits for all in-sync replicas"},
    {"request.required.acks", "fnd's producer always waits for all in-sync replicas"},
    {"transactional.id", "fnd's producer is not transactional"},
    {"enable.auto.commit", "fnd commits only offsets made durable"},
    {"auto.commit.enable", "fnd commits only offsets made durable"},
    {"enable.auto.offset.store", "fnd commits only offsets made durable"},
    {"socket.timeout.ms", "set KafkaSettings.socket_timeout instead"},
    {"reconnect.backoff.max.ms", "set KafkaSettings.reconnect_backoff_max instead"},
    {"message.timeout.ms", "set KafkaSettings.delivery_timeout instead"},
    {"delivery.timeout.ms", "set KafkaSettings.delivery_timeout instead"},
    {"queue.buffering.max.messages", "set KafkaSettings.max_queued_records instead"},
    {"session.timeout.ms", "set the consumer's session_timeout instead"},
    {"heartbeat.interval.ms", "it follows the consumer's session_timeout"},
}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  int port = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    port = port * 10 + (c - '0');
  }
  return port >= 1 && port <= 65535;
}

Status check_server(std::string_view server) {
  std::string quoted = "kafka bootstrap server '" + std::string(server) + "'";
  if (auto scheme = server.find("://"); scheme != std::string_view::npos) server.remove_prefix(scheme + 3);
  std::string_view host;
  std::string_view port;
  if (server.starts_with('[')) {
    auto close = server.find(']');
    if (close == std::string_view::npos || close + 1 >= server.size() || server[close + 1] != ':') {
      return internal::settings_error(quoted + " is not [ipv6-address]:port");
    }
    host = server.substr(1, close - 1);
    port = server.substr(close + 2);
  } else {
    auto colon = server.rfind(':');
    if (colon == std::string_view::npos) {
      return internal::settings_error(quoted + " has no port; write it as host:port");
    }
    host = server.substr(0, colon);
    port = server.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return internal::settings_error(quoted + " has more than one ':'; write IPv6 addresses in brackets");
    }
  }
  if (host.empty()) return internal::settings_error(quoted + " has no host");
  if (!is_port(port)) return internal::settings_error(quoted + " has no valid port (1-65535)");
  return {};
}

Status check_positive(std::chrono::milliseconds value, std::string_view field) {
  if (value.count() <= 0 || value.count() > INT32_MAX) {
    return internal::settings_error(std::string(field) + " must be between 1 ms and about 24 days");
  }
  return {};
}

}  // namespace

bool is_invalid_kafka_settings(const Error& error) { return error.code == kInvalidKafkaSettings; }
bool is_invalid_kafka_topic(const Error& error) { return error.code == kInvalidKafkaTopic; }
bool is_kafka_queue_full(const Error& error) { return error.code == kKafkaQueueFull; }
bool is_kafka_record_too_large(const Error& error) { return error.code == kKafkaRecordTooLarge; }
bool is_kafka_delivery_failed(const Error& error) { return error.code == kKafkaDeliveryFailed; }
bool is_kafka_flush_timeout(const Error& error) { return error.code == kKafkaFlushTimeout; }
bool is_kafka_client_failed(const Error& error) { return error.code == kKafkaClientFailed; }
bool is_kafka_commit_failed(const Error& error) { return error.code == kKafkaCommitFailed; }
bool is_kafka_close_timeout(const Error& error) { return error.code == kKafkaCloseTimeout; }

std::string_view to_string(KafkaConnection connection) {
  switch (connection) {
    case KafkaConnection::connecting:
      return "connecting";
    case KafkaConnection::connected:
      return "connected";
    case KafkaConnection::unreachable:
      return "unreachable";
    case KafkaConnection::failed:
      return "failed";
  }
  return "unknown";
}

Status validate(const KafkaSettings& settings) {
  std::string_view servers = trim(settings.bootstrap_servers);
  if (servers.empty()) {
    return internal::settings_error("kafka bootstrap servers are empty; give one or more host:port, comma-separated");
  }
  while (!servers.empty()) {
    auto comma = servers.find(',');
    auto server = trim(servers.substr(0, comma));
    if (server.empty()) return internal::settings_error("kafka bootstrap servers hold an empty entry between commas");
    if (auto checked = check_server(server); !checked) return checked;
    servers = comma == std::string_view::npos ? std::string_view() : servers.substr(comma + 1);
    if (comma != std::string_view::npos && trim(servers).empty()) {
      return internal::settings_error("kafka bootstrap servers end with a comma");
    }
  }
  if (settings.client_id.empty()) return internal::settings_error("kafka client id is empty");
  for (const auto& [name, value] : settings.properties) {
    if (name.empty()) return internal::settings_error("a kafka property has an empty name");
    for (const auto& reserved : kReservedProperties) {
      if (name == reserved.name) {
        return internal::settings_error("kafka property '" + name +
                                        "' cannot be set: " + std::string(reserved.instead));
      }
    }
  }
  const std::array<std::pair<std::chrono::milliseconds, std::string_view>, 6> durations = {{
      {settings.socket_timeout, "kafka socket_timeout"},
      {settings.reconnect_backoff_max, "kafka reconnect_backoff_max"},
      {settings.health_check_interval, "kafka health_check_interval"},
      {settings.health_check_timeout, "kafka health_check_timeout"},
      {settings.close_timeout, "kafka close_timeout"},
      {settings.delivery_timeout, "kafka delivery_timeout"},
  }};
  for (const auto& [value, field] : durations) {
    if (auto checked = check_positive(value, field); !checked) return checked;
  }
  if (settings.max_queued_records == 0 || settings.max_queued_records > INT32_MAX) {
    return internal::settings_error("kafka max_queued_records must be between 1 and 2147483647");
  }
  return {};
}

Status validate(const KafkaConsumerSettings& settings) {
  if (settings.group_id.empty()) return internal::settings_error("kafka consumer group id is empty");
  if (settings.topics.empty()) return internal::settings_error("kafka consumer has no topics to subscribe to");
  for (const auto& topic : settings.topics) {
    if (auto problem = internal::topic_name_problem(topic)) return internal::settings_error(*problem);
  }
  if (auto checked = check_positive(settings.session_timeout, "kafka consumer session_timeout"); !checked) {
    return checked;
  }
  if (auto checked = check_positive(settings.commit_interval, "kafka consumer commit_interval"); !checked) {
    return checked;
  }
  if (settings.max_batch_records == 0) {
    return internal::settings_error("kafka consumer max_batch_records must be at least 1");
  }
  if (settings.max_pending_records < settings.max_batch_records) {
    return internal::settings_error("kafka consumer max_pending_records must be at least max_batch_records");
  }
  return {};
}

}  // namespace fnd::eventing
