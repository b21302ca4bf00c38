#include "eventing/kafka_sources.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <deque>
#include <utility>

#include "core/json.hpp"
#include "core/names.hpp"
#include "encoding.hpp"
#include "eventing/event_router.hpp"
#include "eventing/kafka_binding.hpp"

namespace fnd::eventing {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view kSourceKind = "source";
constexpr std::string_view kWrappedType = "dev.fnd.kafka.record";
// A batch the broker refused is tried again after this.
constexpr std::chrono::seconds kPublishRetryDelay{1};

Error source_error(std::string_view field, std::string_view problem) {
  return make_error(std::string(kInvalidSource), fmt::format("source field '{}': {}", field, problem), 422);
}

Result<std::string> string_field(const json::object& object, std::string_view field) {
  const json::value* value = object.if_contains(field);
  if (value == nullptr) return source_error(field, "required");
  if (!value->is_string()) return source_error(field, "expected a string");
  return std::string(value->as_string());
}

// The event a record stands for: itself when it is a CloudEvent in the Kafka binding, else a
// wrapping event whose id (partition and offset) is the same every time the record is read.
CloudEvent event_of(const std::string& source_name, const KafkaConsumedRecord& consumed, bool& wrapped) {
  auto event = from_kafka(consumed.record);
  wrapped = !event;
  if (event) return std::move(*event);
  CloudEvent out;
  out.set_attribute("specversion", std::string(kSpecVersion));
  out.set_attribute("id", fmt::format("{}-{}", consumed.partition, consumed.offset));
  out.set_attribute("source", fmt::format("/sources/{}/{}", source_name, consumed.topic));
  out.set_attribute("type", std::string(kWrappedType));
  for (const auto& [key, value] : consumed.record.headers) {
    if (internal::iequals(key, "content-type") && is_valid_media_type(value)) {
      out.set_attribute("datacontenttype", value);
    }
  }
  if (consumed.record.key && !consumed.record.key->empty()) {
    out.set_attribute(std::string(kPartitionKeyAttribute), *consumed.record.key);
  }
  out.data = consumed.record.value;
  return out;
}

}  // namespace

Result<SourceSpec> parse_source(const json::value& value) {
  if (!value.is_object()) return source_error("<source>", "expected an object");
  const auto& object = value.as_object();
  for (const auto& [key, member] : object) {
    (void)member;
    if (key != "name" && key != "bootstrapServers" && key != "topics" && key != "broker" && key != "consumerGroup") {
      return source_error(key, "unknown field; the fields are: name, bootstrapServers, topics, broker, consumerGroup");
    }
  }
  SourceSpec spec;
  auto name = string_field(object, "name");
  if (!name) return name.error();
  if (Status valid = validate_name("source", *name); !valid) return source_error("name", valid.error().message);
  spec.name = std::move(*name);
  auto servers = string_field(object, "bootstrapServers");
  if (!servers) return servers.error();
  spec.bootstrap_servers = std::move(*servers);
  KafkaSettings settings;
  settings.bootstrap_servers = spec.bootstrap_servers;
  if (Status valid = validate(settings); !valid) return source_error("bootstrapServers", valid.error().message);
  const json::value* topics = object.if_contains("topics");
  if (topics == nullptr || !topics->is_array() || topics->as_array().empty()) {
    return source_error("topics", "required: a list of one or more topic names");
  }
  for (const auto& topic : topics->as_array()) {
    if (!topic.is_string() || !is_valid_kafka_topic(topic.as_string())) {
      return source_error("topics", fmt::format("{} is not a Kafka topic name: use 1 to {} letters, digits, '.', "
                                                "'_' and '-'",
                                                json::serialize(topic), kMaxKafkaTopicLength));
    }
    spec.topics.emplace_back(topic.as_string());
  }
  if (object.contains("broker")) {
    auto broker = string_field(object, "broker");
    if (!broker) return broker.error();
    spec.broker = std::move(*broker);
  }
  if (object.contains("consumerGroup")) {
    auto group = string_field(object, "consumerGroup");
    if (!group) return group.error();
    if (group->empty() || group->size() > 255) return source_error("consumerGroup", "use 1 to 255 characters");
    spec.consumer_group = std::move(*group);
  }
  return spec;
}

json::object source_to_json(const SourceSpec& spec) {
  json::array topics;
  for (const auto& topic : spec.topics) topics.emplace_back(topic);
  return {{"name", spec.name},
          {"bootstrapServers", spec.bootstrap_servers},
          {"topics", std::move(topics)},
          {"broker", spec.broker},
          {"consumerGroup", spec.group()}};
}

// One source at run time. The consumer's thread posts its batches to the io thread, where the
// pump publishes them in order, one batch at a time.
struct KafkaSources::Runner {
  explicit Runner(SourceSpec s, const asio::any_io_executor& executor)
      : spec(std::move(s)), wake(executor, asio::steady_timer::time_point::max()) {}

  SourceSpec spec;
  std::unique_ptr<KafkaConsumer> consumer;
  std::deque<std::vector<KafkaConsumedRecord>> batches;
  asio::steady_timer wake;  // cancelled when a batch arrives or the runner stops
  bool stopping = false;
  bool pumping = false;
  std::string start_error;  // the consumer could not be made
  uint64_t published = 0;
  uint64_t wrapped = 0;
  uint64_t publish_failures = 0;
  std::string last_error;
};

KafkaSources::KafkaSources(Services services, Options options)
    : services_(std::move(services)), options_(std::move(options)) {}

KafkaSources::~KafkaSources() {
  // stop() is the orderly way; this only makes sure no consumer thread outlives us.
  for (auto& [name, runner] : sources_) {
    runner->stopping = true;
    if (runner->consumer) (void)runner->consumer->close();
  }
}

Status KafkaSources::load() {
  auto stored = services_.resources.list(kSourceKind);
  if (!stored) return stored.error();
  std::vector<std::string> unreadable;
  for (const auto& resource : *stored) {
    auto parsed = parse_json(resource.spec);
    auto spec = parsed ? parse_source(*parsed) : Result<SourceSpec>(parsed.error());
    if (!spec) {
      unreadable.push_back(fmt::format("{} ({})", resource.name, spec.error().message));
      continue;
    }
    std::string name = spec->name;  // not spec->name below: the spec is moved from first
    sources_.emplace(std::move(name), std::make_shared<Runner>(std::move(*spec), services_.executor));
  }
  if (!unreadable.empty()) {
    return make_error("source_unreadable", fmt::format("stored sources skipped: {}", fmt::join(unreadable, "; ")), 500);
  }
  return {};
}

void KafkaSources::start() {
  started_ = true;
  for (auto& [name, runner] : sources_) launch(runner);
}

void KafkaSources::launch(const std::shared_ptr<Runner>& runner) {
  KafkaSettings settings;
  settings.bootstrap_servers = runner->spec.bootstrap_servers;
  settings.client_id = options_.client_id;
  KafkaConsumerSettings consumer;
  consumer.group_id = runner->spec.group();
  consumer.topics = runner->spec.topics;
  std::weak_ptr<Runner> weak = runner;
  auto executor = services_.executor;
  auto created = KafkaConsumer::create(settings, consumer, [weak, executor](std::vector<KafkaConsumedRecord> batch) {
    asio::post(executor, [weak, batch = std::move(batch)]() mutable {
      auto live = weak.lock();
      if (!live || live->stopping) return;
      live->batches.push_back(std::move(batch));
      live->wake.cancel();
    });
  });
  if (!created) {
    runner->start_error = created.error().message;
    spdlog::error("kafka source {}: {}", runner->spec.name, runner->start_error);
    return;
  }
  runner->consumer = std::move(*created);
  runner->pumping = true;
  asio::co_spawn(services_.executor, pump(runner), asio::detached);
}

asio::awaitable<void> KafkaSources::pump(std::shared_ptr<Runner> runner) {
  while (!runner->stopping) {
    if (runner->batches.empty()) {
      runner->wake.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code ignored;
      co_await runner->wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      continue;
    }
    const std::vector<KafkaConsumedRecord>& batch = runner->batches.front();
    std::vector<CloudEvent> events;
    events.reserve(batch.size());
    uint64_t wrapped = 0;
    for (const auto& record : batch) {
      bool was_wrapped = false;
      events.push_back(event_of(runner->spec.name, record, was_wrapped));
      if (was_wrapped) ++wrapped;
    }
    auto published = co_await services_.router.publish(runner->spec.broker, std::move(events));
    if (!published) {
      ++runner->publish_failures;
      if (runner->last_error != published.error().message) {
        spdlog::warn("kafka source {}: broker {} refused {} records, trying again: {}", runner->spec.name,
                     runner->spec.broker, batch.size(), published.error().message);
      }
      runner->last_error = published.error().message;
      runner->wake.expires_after(kPublishRetryDelay);
      boost::system::error_code ignored;
      co_await runner->wake.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      continue;
    }
    // Durable in the broker: only now may Kafka forget them.
    for (const auto& record : batch) runner->consumer->mark_durable(record.topic, record.partition, record.offset);
    runner->published += batch.size();
    runner->wrapped += wrapped;
    runner->last_error.clear();
    runner->batches.pop_front();
  }
  runner->pumping = false;
  runner->wake.cancel();
}

asio::awaitable<void> KafkaSources::halt(std::shared_ptr<Runner> runner) {
  runner->stopping = true;
  runner->wake.cancel();
  // Let the pump see it (it finishes the publish under way first, so what the broker took is
  // marked durable and committed by close()).
  while (runner->pumping) {
    asio::steady_timer tick(services_.executor, std::chrono::milliseconds(10));
    co_await tick.async_wait(asio::use_awaitable);
  }
  if (!runner->consumer) co_return;
  std::unique_ptr<KafkaConsumer> consumer = std::move(runner->consumer);
  // close() blocks (leaving the group, the final commit): off the io thread.
  Status closed = co_await asio::co_spawn(
      services_.blocking_executor, [&consumer]() -> asio::awaitable<Status> { co_return consumer->close(); },
      asio::use_awaitable);
  if (!closed) spdlog::warn("kafka source {}: {}", runner->spec.name, closed.error().message);
  co_await asio::co_spawn(
      services_.blocking_executor,
      [&consumer]() -> asio::awaitable<void> {
        consumer.reset();
        co_return;
      },
      asio::use_awaitable);
}

asio::awaitable<void> KafkaSources::stop() {
  for (auto& [name, runner] : sources_) co_await halt(runner);
  started_ = false;
}

asio::awaitable<Result<bool>> KafkaSources::put(SourceSpec spec) {
  if (!services_.router.broker(spec.broker)) {
    co_return make_error(std::string(kBrokerNotFound), fmt::format("no broker named '{}'", spec.broker), 404);
  }
  auto stored = services_.resources.put(kSourceKind, spec.name, json::serialize(source_to_json(spec)));
  if (!stored) co_return stored.error();
  bool created = true;
  if (auto found = sources_.find(spec.name); found != sources_.end()) {
    created = false;
    std::shared_ptr<Runner> old = found->second;
    sources_.erase(found);
    co_await halt(old);
  }
  auto runner = std::make_shared<Runner>(spec, services_.executor);
  sources_.insert_or_assign(spec.name, runner);
  if (started_) launch(runner);
  co_return created;
}

asio::awaitable<Status> KafkaSources::remove(std::string name) {
  auto found = sources_.find(name);
  if (found == sources_.end()) {
    co_return make_error(std::string(kSourceNotFound), fmt::format("no source named '{}'", name), 404);
  }
  auto removed = services_.resources.remove(kSourceKind, name);
  if (!removed) co_return removed.error();
  std::shared_ptr<Runner> runner = found->second;
  sources_.erase(found);
  co_await halt(runner);
  co_return Status{};
}

namespace {

SourceStatus status_of(const SourceSpec& spec, const KafkaConsumer* consumer, uint64_t published, uint64_t wrapped,
                       uint64_t failures, const std::string& last_error, const std::string& start_error) {
  SourceStatus status;
  status.spec = spec;
  status.published = published;
  status.wrapped = wrapped;
  status.publish_failures = failures;
  status.last_error = last_error;
  if (consumer != nullptr) {
    status.kafka = consumer->state();
    status.partitions = consumer->partitions();
  } else if (!start_error.empty()) {
    status.kafka.connection = KafkaConnection::failed;
    status.kafka.last_error = start_error;
  }
  return status;
}

}  // namespace

std::vector<SourceStatus> KafkaSources::list() const {
  std::vector<SourceStatus> out;
  for (const auto& [name, runner] : sources_) {
    out.push_back(status_of(runner->spec, runner->consumer.get(), runner->published, runner->wrapped,
                            runner->publish_failures, runner->last_error, runner->start_error));
  }
  return out;
}

std::optional<SourceStatus> KafkaSources::get(std::string_view name) const {
  auto found = sources_.find(name);
  if (found == sources_.end()) return std::nullopt;
  const Runner& runner = *found->second;
  return status_of(runner.spec, runner.consumer.get(), runner.published, runner.wrapped, runner.publish_failures,
                   runner.last_error, runner.start_error);
}

void KafkaSources::render_metrics(std::string& out) const {
  if (sources_.empty()) return;
  std::string connected;
  std::string records;
  std::string wrapped;
  std::string failures;
  std::string lag;
  for (const auto& status : list()) {
    const std::string& name = status.spec.name;
    connected += fmt::format("fnd_kafka_source_connected{{source=\"{}\"}} {}\n", name,
                             status.kafka.connection == KafkaConnection::connected ? 1 : 0);
    records += fmt::format("fnd_kafka_source_records_total{{source=\"{}\"}} {}\n", name, status.published);
    wrapped += fmt::format("fnd_kafka_source_wrapped_total{{source=\"{}\"}} {}\n", name, status.wrapped);
    failures +=
        fmt::format("fnd_kafka_source_publish_failures_total{{source=\"{}\"}} {}\n", name, status.publish_failures);
    for (const auto& partition : status.partitions) {
      if (!partition.lag) continue;
      lag += fmt::format("fnd_kafka_source_lag{{source=\"{}\",topic=\"{}\",partition=\"{}\"}} {}\n", name,
                         partition.partition.topic, partition.partition.partition, *partition.lag);
    }
  }
  out += "# HELP fnd_kafka_source_connected 1 while a broker of the source's Kafka cluster answers.\n";
  out += "# TYPE fnd_kafka_source_connected gauge\n" + connected;
  out += "# HELP fnd_kafka_source_records_total Records a source made durable in its broker.\n";
  out += "# TYPE fnd_kafka_source_records_total counter\n" + records;
  out += "# HELP fnd_kafka_source_wrapped_total Of them, records that were not CloudEvents (wrapped in one).\n";
  out += "# TYPE fnd_kafka_source_wrapped_total counter\n" + wrapped;
  out += "# HELP fnd_kafka_source_publish_failures_total Batches a source's broker refused (tried again).\n";
  out += "# TYPE fnd_kafka_source_publish_failures_total counter\n" + failures;
  out += "# HELP fnd_kafka_source_lag Records in a partition after the source's durable position.\n";
  out += "# TYPE fnd_kafka_source_lag gauge\n" + lag;
}

}  // namespace fnd::eventing
