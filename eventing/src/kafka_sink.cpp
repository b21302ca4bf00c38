#include "eventing/kafka_sink.hpp"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "answer_sink.hpp"
#include "eventing/kafka_binding.hpp"

namespace fnd::eventing {

namespace asio = boost::asio;

namespace {

// One record's acknowledgement, handed from the producer's thread to the io thread: the result
// lands here and the timer the attempt waits on is cancelled.
struct Acknowledgement {
  explicit Acknowledgement(const asio::any_io_executor& executor)
      : wake(executor, asio::steady_timer::time_point::max()) {}
  asio::steady_timer wake;
  std::optional<Result<KafkaDelivery>> result;
};

AttemptResult from_error(const Error& error) {
  AttemptResult result;
  result.status = error.http_status > 0 ? error.http_status : 503;
  result.body = error.message.substr(0, kMaxResponseBodyKept);
  if (is_kafka_queue_full(error)) result.retry_after = std::chrono::seconds(1);
  return result;
}

}  // namespace

Result<std::unique_ptr<KafkaSink>> KafkaSink::create(const KafkaSettings& settings,
                                                     boost::asio::any_io_executor executor) {
  auto producer = KafkaProducer::create(settings);
  if (!producer) return producer.error();
  return std::unique_ptr<KafkaSink>(
      new KafkaSink(std::move(*producer), settings.bootstrap_servers, std::move(executor)));
}

KafkaSink::KafkaSink(std::unique_ptr<KafkaProducer> producer, std::string bootstrap_servers,
                     boost::asio::any_io_executor executor)
    : producer_(std::move(producer)),
      bootstrap_servers_(std::move(bootstrap_servers)),
      executor_(std::move(executor)) {}

KafkaSink::~KafkaSink() = default;

asio::awaitable<AttemptResult> KafkaSink::deliver(std::string topic, CloudEvent event,
                                                  std::chrono::milliseconds timeout) {
  auto ack = std::make_shared<Acknowledgement>(executor_);
  ack->wake.expires_after(timeout);
  const KafkaRecord record = to_kafka(event, KafkaContentMode::binary);
  Status queued = producer_->produce(topic, record, [ack, executor = executor_](Result<KafkaDelivery> delivered) {
    asio::post(executor, [ack, delivered = std::move(delivered)]() mutable {
      ack->result = std::move(delivered);
      ack->wake.cancel();
    });
  });
  if (!queued) {
    ++failed_;
    co_return from_error(queued.error());
  }
  boost::system::error_code ignored;
  co_await ack->wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  if (!ack->result) {
    ++failed_;
    co_return internal::failed(kAttemptTimeout);
  }
  if (!*ack->result) {
    ++failed_;
    co_return from_error(ack->result->error());
  }
  ++acknowledged_;
  AttemptResult result;
  result.status = 200;
  co_return result;
}

namespace {

// Acknowledgements of a group of records, gathered on the io thread.
struct GroupAcknowledgement {
  GroupAcknowledgement(const asio::any_io_executor& executor, size_t count)
      : wake(executor, asio::steady_timer::time_point::max()), deliveries(count) {}
  asio::steady_timer wake;
  std::vector<KafkaDelivery> deliveries;
  size_t remaining = 0;
  std::optional<Error> failure;
};

}  // namespace

asio::awaitable<Result<std::vector<KafkaDelivery>>> KafkaSink::produce_all(std::string topic,
                                                                           const std::vector<CloudEvent>& events,
                                                                           std::chrono::milliseconds timeout) {
  auto acks = std::make_shared<GroupAcknowledgement>(executor_, events.size());
  acks->wake.expires_after(timeout);
  for (size_t i = 0; i < events.size(); ++i) {
    const KafkaRecord record = to_kafka(events[i], KafkaContentMode::binary);
    Status queued = producer_->produce(topic, record, [acks, i, executor = executor_](Result<KafkaDelivery> done) {
      asio::post(executor, [acks, i, done = std::move(done)]() mutable {
        if (done) {
          acks->deliveries[i] = std::move(*done);
        } else if (!acks->failure) {
          acks->failure = done.error();
        }
        if (--acks->remaining == 0) acks->wake.cancel();
      });
    });
    if (!queued) {
      // Those queued already still land (and are acknowledged into a group nobody waits for).
      failed_ += events.size() - i;
      co_return queued.error();
    }
    ++acks->remaining;
  }
  if (acks->remaining > 0) {
    boost::system::error_code ignored;
    co_await acks->wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  if (acks->remaining > 0) {
    failed_ += events.size();
    co_return make_error(std::string(kKafkaDeliveryFailed),
                         fmt::format("Kafka did not acknowledge {} of {} events to topic {} within {} ms",
                                     acks->remaining, events.size(), topic, timeout.count()),
                         503);
  }
  if (acks->failure) {
    failed_ += events.size();
    co_return *acks->failure;
  }
  acknowledged_ += events.size();
  co_return std::move(acks->deliveries);
}

KafkaClientState KafkaSink::state() const { return producer_->state(); }

void KafkaSink::render_metrics(std::string& out) const {
  const KafkaClientState state = producer_->state();
  out += "# HELP fnd_kafka_sink_connected 1 while a broker of the sink's cluster answers.\n";
  out += "# TYPE fnd_kafka_sink_connected gauge\n";
  out += fmt::format("fnd_kafka_sink_connected {}\n", state.connection == KafkaConnection::connected ? 1 : 0);
  out += "# HELP fnd_kafka_sink_records_total Events produced to kafka: destinations, by outcome.\n";
  out += "# TYPE fnd_kafka_sink_records_total counter\n";
  out += fmt::format("fnd_kafka_sink_records_total{{outcome=\"acknowledged\"}} {}\n", acknowledged_);
  out += fmt::format("fnd_kafka_sink_records_total{{outcome=\"failed\"}} {}\n", failed_);
}

}  // namespace fnd::eventing
