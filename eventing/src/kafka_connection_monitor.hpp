// Whether a Kafka client can reach its cluster, for state(). librdkafka reports trouble through
// its error callback but never says that brokers came back, and with sparse connections it may
// not say that all of them are gone; so the monitor's own thread also asks for metadata every
// interval: an answer within the timeout means connected, none means unreachable.
//
// Thread safe. Private to the eventing module.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

#include "eventing/kafka_client.hpp"

namespace fnd::eventing::internal {

class KafkaConnectionMonitor {
 public:
  KafkaConnectionMonitor(std::chrono::milliseconds interval, std::chrono::milliseconds timeout)
      : interval_(interval), timeout_(timeout) {}
  ~KafkaConnectionMonitor() { stop(); }
  KafkaConnectionMonitor(const KafkaConnectionMonitor&) = delete;
  KafkaConnectionMonitor& operator=(const KafkaConnectionMonitor&) = delete;

  // Starts the health checks (the first one at once). `handle` must outlive stop().
  void start(rd_kafka_t* handle);
  // Joins the checking thread (waits up to the check's timeout); idempotent.
  void stop();

  // From librdkafka's error callback or an error event: all brokers down makes the client
  // unreachable, a fatal error failed; any error becomes the last error.
  void on_error(rd_kafka_t* handle, rd_kafka_resp_err_t err, std::string_view reason);
  // A broker answered: a record was acknowledged or fetched.
  void on_answer();
  // An error worth showing that says nothing about reachability (a refused commit).
  void note_error(std::string text);

  KafkaClientState state() const;
  bool failed() const;

 private:
  void run(const std::stop_token& stop, rd_kafka_t* handle);
  void check(rd_kafka_t* handle);

  const std::chrono::milliseconds interval_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  KafkaClientState state_;
  std::jthread thread_;
};

}  // namespace fnd::eventing::internal
