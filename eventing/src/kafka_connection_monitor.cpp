#include "kafka_connection_monitor.hpp"

#include <array>
#include <chrono>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "kafka_config.hpp"
#include "kafka_handles.hpp"

namespace fnd::eventing::internal {

void KafkaConnectionMonitor::start(rd_kafka_t* handle) {
  thread_ = std::jthread([this, handle](std::stop_token stop) { run(stop, handle); });
}

void KafkaConnectionMonitor::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

void KafkaConnectionMonitor::run(const std::stop_token& stop, rd_kafka_t* handle) {
  while (!stop.stop_requested()) {
    check(handle);
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, stop, interval_, [] { return false; });
  }
}

void KafkaConnectionMonitor::check(rd_kafka_t* handle) {
  const rd_kafka_metadata_t* answer = nullptr;
  // Only the topics this client knows: an idle client asks for brokers alone.
  auto err = rd_kafka_metadata(handle, 0, nullptr, &answer, static_cast<int>(timeout_.count()));
  RdKafkaMetadataPtr metadata(answer);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    on_answer();
    return;
  }
  std::lock_guard lock(mutex_);
  if (state_.connection == KafkaConnection::failed || state_.connection == KafkaConnection::unreachable) return;
  // Keep the error callback's reason when it already told why (it names the broker).
  state_.connection = KafkaConnection::unreachable;
  state_.last_error =
      "no kafka broker answered within " + std::to_string(timeout_.count()) + " ms (" + error_text(err) + ")";
}

void KafkaConnectionMonitor::on_error(rd_kafka_t* handle, rd_kafka_resp_err_t err, std::string_view reason) {
  std::lock_guard lock(mutex_);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    std::array<char, 512> fatal{};
    rd_kafka_fatal_error(handle, fatal.data(), fatal.size());
    state_.connection = KafkaConnection::failed;
    state_.last_error = std::string("fatal kafka error: ") + fatal.data();
    return;
  }
  if (state_.connection == KafkaConnection::failed) return;
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) state_.connection = KafkaConnection::unreachable;
  state_.last_error = std::string(reason);
}

void KafkaConnectionMonitor::on_answer() {
  std::lock_guard lock(mutex_);
  if (state_.connection != KafkaConnection::failed) state_.connection = KafkaConnection::connected;
}

void KafkaConnectionMonitor::note_error(std::string text) {
  std::lock_guard lock(mutex_);
  if (state_.connection != KafkaConnection::failed) state_.last_error = std::move(text);
}

KafkaClientState KafkaConnectionMonitor::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

bool KafkaConnectionMonitor::failed() const {
  std::lock_guard lock(mutex_);
  return state_.connection == KafkaConnection::failed;
}

}  // namespace fnd::eventing::internal
