#include "eventing/kafka_sink.hpp"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <string>
#include <utility>

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
