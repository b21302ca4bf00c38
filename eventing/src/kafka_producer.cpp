#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <sys/types.h>

#include <array>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "core/error.hpp"
#include "eventing/kafka_client.hpp"
#include "kafka_config.hpp"
#include "kafka_connection_monitor.hpp"
#include "kafka_handles.hpp"

namespace fnd::eventing {
namespace {

using internal::error_text;

// How long rd_kafka_poll() waits for a delivery report before the thread checks for stop.
constexpr int kPollMilliseconds = 100;
// After a purge every record's report is immediate; this only bounds a broken promise.
constexpr std::chrono::seconds kPurgeGrace{5};

// The msg_opaque of every record in librdkafka's hands; deleted when its report is served.
struct PendingDelivery {
  KafkaDeliveryHandler handler;
};

bool delivery_retryable(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return true;
    default:
      return false;
  }
}

Error delivery_error(rd_kafka_resp_err_t err, std::string_view topic) {
  std::string quoted = "'" + std::string(topic) + "'";
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    return make_error(
        std::string(kKafkaClientFailed),
        "the kafka producer failed for good before topic " + quoted + " acknowledged the record; recreate the producer",
        503);
  }
  std::string message = err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT
                            ? "the kafka producer closed before topic " + quoted + " acknowledged the record"
                            : "kafka did not acknowledge the record for topic " + quoted + ": " + error_text(err);
  Error error = make_error(std::string(kKafkaDeliveryFailed), std::move(message), 503);
  error.retryable = delivery_retryable(err);
  return error;
}

Error produce_error(rd_kafka_resp_err_t err, std::string_view topic, const KafkaSettings& settings) {
  std::string quoted = "'" + std::string(topic) + "'";
  switch (err) {
    case RD_KAFKA_RESP_ERR__QUEUE_FULL: {
      Error error = make_error(std::string(kKafkaQueueFull),
                               "the kafka producer already holds " + std::to_string(settings.max_queued_records) +
                                   " records awaiting acknowledgement; retry shortly",
                               503);
      error.retryable = true;
      error.retry_after_seconds = 1;
      return error;
    }
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      return make_error(std::string(kKafkaRecordTooLarge),
                        "the record for topic " + quoted + " is larger than kafka accepts (message.max.bytes)", 413);
    case RD_KAFKA_RESP_ERR__FATAL:
      return make_error(std::string(kKafkaClientFailed), "the kafka producer failed for good; recreate it", 503);
    default:
      return delivery_error(err, topic);
  }
}

// A handler that throws would unwind through librdkafka's C frames: crash loudly instead.
void run_handler(const KafkaDeliveryHandler& handler, Result<KafkaDelivery> result) noexcept {
  if (handler) handler(std::move(result));
}

}  // namespace

struct KafkaProducer::Impl {
  explicit Impl(const KafkaSettings& s) : settings(s), monitor(s.health_check_interval, s.health_check_timeout) {}

  // Serves delivery reports: the only thread that runs handlers.
  void run(const std::stop_token& stop) {
    while (!stop.stop_requested()) rd_kafka_poll(handle.get(), kPollMilliseconds);
  }

  void delivered() {
    std::lock_guard lock(mutex);
    --in_flight;
    if (in_flight == 0) drained.notify_all();
  }

  // true when every accepted record's handler has run before `deadline`.
  bool wait_drained(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex);
    return drained.wait_until(lock, deadline, [this] { return in_flight == 0; });
  }

  static void on_delivery_report(rd_kafka_t* /*handle*/, const rd_kafka_message_t* message, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    std::unique_ptr<PendingDelivery> pending(static_cast<PendingDelivery*>(message->_private));
    std::string topic = rd_kafka_topic_name(message->rkt);
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      self->monitor.on_answer();
      run_handler(pending->handler, KafkaDelivery{std::move(topic), message->partition, message->offset});
    } else {
      Error error = delivery_error(message->err, topic);
      if (message->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE && message->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
        self->monitor.note_error(error.message);
      }
      run_handler(pending->handler, std::move(error));
    }
    self->delivered();
  }

  static void on_error(rd_kafka_t* handle, int err, const char* reason, void* opaque) {
    static_cast<Impl*>(opaque)->monitor.on_error(handle, static_cast<rd_kafka_resp_err_t>(err), reason);
  }

  const KafkaSettings settings;
  internal::KafkaConnectionMonitor monitor;
  internal::RdKafkaPtr handle;
  mutable std::mutex mutex;
  std::condition_variable drained;
  std::size_t in_flight = 0;  // guarded by mutex
  std::jthread poller;
};

Result<std::unique_ptr<KafkaProducer>> KafkaProducer::create(const KafkaSettings& settings) {
  if (auto valid = validate(settings); !valid) return valid.error();
  auto impl = std::make_unique<Impl>(settings);
  const internal::KafkaProperties defaults = {
      // The Java client's partitioner: a key lands on the same partition whoever produces it.
      {"partitioner", "murmur2_random"},
  };
  const internal::KafkaProperties forced = {
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"message.timeout.ms", internal::milliseconds_property(settings.delivery_timeout)},
      {"queue.buffering.max.messages", std::to_string(settings.max_queued_records)},
  };
  auto conf = internal::make_conf(settings, defaults, forced);
  if (!conf) return conf.error();
  rd_kafka_conf_set_opaque(conf->get(), impl.get());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Impl::on_delivery_report);
  rd_kafka_conf_set_error_cb(conf->get(), &Impl::on_error);
  auto handle = internal::make_handle(RD_KAFKA_PRODUCER, *conf);
  if (!handle) return handle.error();
  impl->handle = std::move(*handle);
  impl->poller = std::jthread([raw = impl.get()](std::stop_token stop) { raw->run(stop); });
  impl->monitor.start(impl->handle.get());
  return std::unique_ptr<KafkaProducer>(new KafkaProducer(std::move(impl)));
}

KafkaProducer::KafkaProducer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaProducer::~KafkaProducer() {
  assert(std::this_thread::get_id() != impl_->poller.get_id() && "a delivery handler destroyed its producer");
  impl_->monitor.stop();
  auto deadline = std::chrono::steady_clock::now() + impl_->settings.close_timeout;
  if (!impl_->wait_drained(deadline)) {
    // Purged records get their reports (kKafkaDeliveryFailed, retryable) at once.
    rd_kafka_purge(impl_->handle.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    if (!impl_->wait_drained(std::chrono::steady_clock::now() + kPurgeGrace)) {
      spdlog::error("kafka producer {}: records still unreported after a purge; their handlers will not run",
                    rd_kafka_name(impl_->handle.get()));
    }
  }
  impl_->poller.request_stop();
  impl_->poller.join();
  impl_->handle.reset();
}

Status KafkaProducer::produce(std::string_view topic, const KafkaRecord& record, KafkaDeliveryHandler on_delivery) {
  if (auto problem = internal::topic_name_problem(topic)) {
    return make_error(std::string(kInvalidKafkaTopic), *problem, 400);
  }
  if (impl_->monitor.failed()) return produce_error(RD_KAFKA_RESP_ERR__FATAL, topic, impl_->settings);

  std::string topic_name(topic);
  internal::RdKafkaHeadersPtr headers;
  if (!record.headers.empty()) {
    headers.reset(rd_kafka_headers_new(record.headers.size()));
    for (const auto& [name, value] : record.headers) {
      rd_kafka_header_add(headers.get(), name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
  }
  auto pending = std::make_unique<PendingDelivery>(PendingDelivery{std::move(on_delivery)});

  std::array<rd_kafka_vu_t, 6> fields{};
  std::size_t count = 0;
  fields[count].vtype = RD_KAFKA_VTYPE_TOPIC;
  fields[count++].u.cstr = topic_name.c_str();
  fields[count].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  fields[count++].u.i = RD_KAFKA_MSG_F_COPY;
  fields[count].vtype = RD_KAFKA_VTYPE_OPAQUE;
  fields[count++].u.ptr = pending.get();
  // An absent field is a null key or value (a tombstone); an empty string stays empty.
  if (record.key) {
    fields[count].vtype = RD_KAFKA_VTYPE_KEY;
    fields[count].u.mem.ptr = const_cast<char*>(record.key->data());
    fields[count++].u.mem.size = record.key->size();
  }
  if (record.value) {
    fields[count].vtype = RD_KAFKA_VTYPE_VALUE;
    fields[count].u.mem.ptr = const_cast<char*>(record.value->data());
    fields[count++].u.mem.size = record.value->size();
  }
  if (headers) {
    fields[count].vtype = RD_KAFKA_VTYPE_HEADERS;
    fields[count++].u.headers = headers.get();
  }

  {
    std::lock_guard lock(impl_->mutex);
    ++impl_->in_flight;  // before the report can possibly be served
  }
  internal::RdKafkaErrorPtr error(rd_kafka_produceva(impl_->handle.get(), fields.data(), count));
  if (error) {
    impl_->delivered();
    return produce_error(rd_kafka_error_code(error.get()), topic, impl_->settings);
  }
  // librdkafka owns both now: the headers for good, the pending delivery until its report.
  static_cast<void>(headers.release());
  static_cast<void>(pending.release());
  return {};
}

Status KafkaProducer::flush(std::chrono::milliseconds timeout) {
  assert(std::this_thread::get_id() != impl_->poller.get_id() && "flush() from a delivery handler never returns");
  if (impl_->wait_drained(std::chrono::steady_clock::now() + timeout)) return {};
  Error error = make_error(std::string(kKafkaFlushTimeout),
                           std::to_string(in_flight()) + " kafka records were still awaiting acknowledgement after " +
                               std::to_string(timeout.count()) + " ms",
                           503);
  error.retryable = true;
  return error;
}

std::size_t KafkaProducer::in_flight() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->in_flight;
}

KafkaClientState KafkaProducer::state() const { return impl_->monitor.state(); }

}  // namespace fnd::eventing
