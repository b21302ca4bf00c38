// The eventing module's settings, with their defaults (packaging/fnd.yaml documents each key).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "config/option_binder.hpp"

namespace fnd::eventing {

struct EventingOptions {
  // eventing.max_backlog: events a broker holds that its slowest trigger has not finished; more
  // are refused with 429 and Retry-After until it catches up.
  uint32_t max_backlog = 100000;
  // eventing.dedup_window: an event whose (source, id) the broker accepted this recently is
  // answered 202 and not stored again.
  std::chrono::milliseconds dedup_window = std::chrono::minutes(10);
  // eventing.retention: how long events every trigger has finished stay in the log.
  std::chrono::milliseconds retention = std::chrono::hours(24);
  // eventing.invocation_retention: how long an asynchronous invocation's record (status, result)
  // is kept for GET /api/v1/invocations/{id}.
  std::chrono::milliseconds invocation_retention = std::chrono::hours(24);
  // eventing.kafka.bootstrap_servers: the Kafka cluster of kafka:TOPIC destinations (a sink
  // producing with acks=all and idempotence), and of the brokers when backend is kafka. Empty:
  // no cluster; triggers naming a kafka: destination are refused. Sources name their own cluster.
  std::string kafka_bootstrap_servers;
  // eventing.kafka.client_id: the client.id fnd's Kafka clients give (seen in broker logs).
  std::string kafka_client_id = "fnd";

  bool operator==(const EventingOptions&) const = default;
};

void bind_options(config::OptionBinder& binder, EventingOptions& options);

}  // namespace fnd::eventing
