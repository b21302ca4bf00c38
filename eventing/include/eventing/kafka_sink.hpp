// The Kafka sink of kafka:TOPIC destinations: one idempotent producer (acks=all) for the cluster
// of eventing.kafka.bootstrap_servers, shared by every trigger and async invocation that delivers
// to a topic. An attempt writes the event in the Kafka binding's binary mode (ce_ headers, the
// partitionkey as the record key) and succeeds (status 200) once every in-sync replica has the
// record; a failure is an attempt result the delivery policy retries or dead-letters like any
// other (503 when Kafka did not acknowledge in time, 413 when the record is too large).
//
// Threads: deliver() and the accessors from the io thread (`executor`); the producer's
// acknowledgements come from its own thread and are posted there.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "eventing/cloud_event.hpp"
#include "eventing/delivery.hpp"
#include "eventing/kafka_client.hpp"

namespace fnd::eventing {

class KafkaSink {
 public:
  // Connects in the background. Errors: kInvalidKafkaSettings.
  static Result<std::unique_ptr<KafkaSink>> create(const KafkaSettings& settings,
                                                   boost::asio::any_io_executor executor);
  ~KafkaSink();
  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  // Produces `event` to `topic` and waits for its acknowledgement, at most `timeout` (then the
  // attempt failed with kAttemptTimeout; the record may still land: at least once).
  boost::asio::awaitable<AttemptResult> deliver(std::string topic, CloudEvent event, std::chrono::milliseconds timeout);

  KafkaClientState state() const;
  const std::string& bootstrap_servers() const { return bootstrap_servers_; }
  // fnd_kafka_sink_connected, fnd_kafka_sink_records_total{outcome}.
  void render_metrics(std::string& out) const;

 private:
  KafkaSink(std::unique_ptr<KafkaProducer> producer, std::string bootstrap_servers,
            boost::asio::any_io_executor executor);

  std::unique_ptr<KafkaProducer> producer_;
  std::string bootstrap_servers_;
  boost::asio::any_io_executor executor_;
  uint64_t acknowledged_ = 0;
  uint64_t failed_ = 0;
};

}  // namespace fnd::eventing
