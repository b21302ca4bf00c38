// The Kafka clients against librdkafka's mock cluster (3 brokers on loopback, created by each
// test). librdkafka is threaded and works in real time: the tests wait on conditions with a
// deadline, never for a fixed time.
#include <catch2/catch.hpp>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "eventing/kafka_binding.hpp"
#include "eventing/kafka_client.hpp"
#include "kafka_handles.hpp"

using namespace std::chrono_literals;
using fnd::Result;
using fnd::eventing::KafkaBatchHandler;
using fnd::eventing::KafkaClientState;
using fnd::eventing::KafkaConnection;
using fnd::eventing::KafkaConsumedRecord;
using fnd::eventing::KafkaConsumer;
using fnd::eventing::KafkaConsumerSettings;
using fnd::eventing::KafkaDelivery;
using fnd::eventing::KafkaDeliveryHandler;
using fnd::eventing::KafkaPartition;
using fnd::eventing::KafkaProducer;
using fnd::eventing::KafkaRecord;
using fnd::eventing::KafkaSettings;

namespace {

constexpr int kBrokers = 3;
constexpr std::chrono::milliseconds kWait = 20s;  // generous: a loaded machine must not fail a test

struct MockClusterDeleter {
  void operator()(rd_kafka_mock_cluster_t* cluster) const { rd_kafka_mock_cluster_destroy(cluster); }
};
using MockClusterPtr = std::unique_ptr<rd_kafka_mock_cluster_t, MockClusterDeleter>;

// A mock cluster on a throwaway client of its own (declared first: destroyed after the cluster).
class MockCluster {
 public:
  MockCluster() {
    fnd::eventing::internal::RdKafkaConfPtr conf(rd_kafka_conf_new());
    std::array<char, 512> reason{};
    // Only the cluster matters on this client: spare the log its "no bootstrap.servers" notice.
    REQUIRE(rd_kafka_conf_set(conf.get(), "log_level", "4", reason.data(), reason.size()) == RD_KAFKA_CONF_OK);
    owner_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), reason.data(), reason.size()));
    REQUIRE(owner_);
    static_cast<void>(conf.release());
    cluster_.reset(rd_kafka_mock_cluster_new(owner_.get(), kBrokers));
    REQUIRE(cluster_);
    bootstrap_servers_ = rd_kafka_mock_cluster_bootstraps(cluster_.get());
  }

  void create_topic(const std::string& name, int partitions) {
    REQUIRE(rd_kafka_mock_topic_create(cluster_.get(), name.c_str(), partitions, kBrokers) ==
            RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void set_all_brokers(bool up) {
    for (int32_t id = 1; id <= kBrokers; ++id) {
      auto err =
          up ? rd_kafka_mock_broker_set_up(cluster_.get(), id) : rd_kafka_mock_broker_set_down(cluster_.get(), id);
      REQUIRE(err == RD_KAFKA_RESP_ERR_NO_ERROR);
    }
  }
  rd_kafka_mock_cluster_t* get() { return cluster_.get(); }

  KafkaSettings settings() const {
    KafkaSettings settings;
    settings.bootstrap_servers = bootstrap_servers_;
    settings.client_id = "fnd-test";
    settings.health_check_interval = 200ms;
    settings.health_check_timeout = 1s;
    settings.reconnect_backoff_max = 500ms;
    settings.socket_timeout = 3s;
    settings.close_timeout = 5s;
    return settings;
  }

 private:
  fnd::eventing::internal::RdKafkaPtr owner_;
  MockClusterPtr cluster_;
  std::string bootstrap_servers_;
};

KafkaConsumerSettings consumer_settings(std::string group, std::string topic) {
  KafkaConsumerSettings settings;
  settings.group_id = std::move(group);
  settings.topics = {std::move(topic)};
  // The mock group coordinator waits session_timeout - 1 s for members to rejoin a rebalance.
  settings.session_timeout = 3s;
  settings.commit_interval = 100ms;
  settings.max_batch_records = 50;
  settings.max_pending_records = 1000;
  return settings;
}

// Polls `condition` every 10 ms until it holds or `timeout` passes; for what has no notification.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = kWait) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Delivery reports by record index.
class Acks {
 public:
  KafkaDeliveryHandler handler(std::size_t index) {
    return [this, index](Result<KafkaDelivery> result) {
      std::lock_guard lock(mutex_);
      by_index_[index].push_back(std::move(result));
      ++count_;
      changed_.notify_all();
    };
  }
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return count_ >= count; });
  }
  std::map<std::size_t, std::vector<Result<KafkaDelivery>>> by_index() const {
    std::lock_guard lock(mutex_);
    return by_index_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::size_t, std::vector<Result<KafkaDelivery>>> by_index_;
  std::size_t count_ = 0;
};

// Records handed out by a consumer, in the order they came.
class Inbox {
 public:
  KafkaBatchHandler handler() {
    return [this](std::vector<KafkaConsumedRecord> batch) {
      std::lock_guard lock(mutex_);
      for (auto& record : batch) records_.push_back(std::move(record));
      changed_.notify_all();
    };
  }
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return records_.size() >= count; });
  }
  std::vector<KafkaConsumedRecord> records() const {
    std::lock_guard lock(mutex_);
    return records_;
  }
  // The records that came since the last call.
  std::vector<KafkaConsumedRecord> take_new() {
    std::lock_guard lock(mutex_);
    std::vector<KafkaConsumedRecord> fresh(records_.begin() + static_cast<std::ptrdiff_t>(taken_), records_.end());
    taken_ = records_.size();
    return fresh;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<KafkaConsumedRecord> records_;
  std::size_t taken_ = 0;
};

std::string header(const KafkaRecord& record, const std::string& name) {
  for (const auto& [key, value] : record.headers) {
    if (key == name) return value;
  }
  return {};
}

KafkaRecord numbered_record(std::size_t index, std::string key) {
  KafkaRecord record;
  record.key = std::move(key);
  record.headers = {{"ce_id", "event-" + std::to_string(index)}, {"index", std::to_string(index)}};
  record.value = "payload " + std::to_string(index);
  return record;
}

std::unique_ptr<KafkaProducer> make_producer(const KafkaSettings& settings) {
  auto producer = KafkaProducer::create(settings);
  INFO((producer.ok() ? std::string() : producer.error().message));
  REQUIRE(producer.ok());
  return std::move(*producer);
}

std::unique_ptr<KafkaConsumer> make_consumer(const KafkaSettings& settings, const KafkaConsumerSettings& consumer,
                                             Inbox& inbox) {
  auto created = KafkaConsumer::create(settings, consumer, inbox.handler());
  INFO((created.ok() ? std::string() : created.error().message));
  REQUIRE(created.ok());
  return std::move(*created);
}

// Produces every record and waits until each is acknowledged; returns where each landed.
std::vector<KafkaDelivery> produce_acknowledged(KafkaProducer& producer, const std::string& topic,
                                                const std::vector<KafkaRecord>& records) {
  Acks acks;
  for (std::size_t i = 0; i < records.size(); ++i) REQUIRE(producer.produce(topic, records[i], acks.handler(i)).ok());
  REQUIRE(acks.wait_for(records.size()));
  std::vector<KafkaDelivery> deliveries;
  for (auto& [index, results] : acks.by_index()) {
    REQUIRE(results.size() == 1);
    INFO((results[0].ok() ? std::string() : results[0].error().message));
    REQUIRE(results[0].ok());
    deliveries.push_back(*results[0]);
  }
  return deliveries;
}

std::optional<fnd::eventing::KafkaPartitionProgress> progress_of(const KafkaConsumer& consumer, int32_t partition) {
  for (const auto& progress : consumer.partitions()) {
    if (progress.partition.partition == partition) return progress;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("kafka settings are validated with errors naming the field", "[unit]") {
  KafkaSettings settings;
  settings.bootstrap_servers = "kafka-1:9092, kafka-2:9092,[::1]:9093,SSL://kafka-3:9094";
  CHECK(fnd::eventing::validate(settings).ok());

  auto refused = [](const KafkaSettings& s) {
    auto status = fnd::eventing::validate(s);
    REQUIRE_FALSE(status.ok());
    CHECK(fnd::eventing::is_invalid_kafka_settings(status.error()));
    CHECK(status.error().http_status == 400);
    return status.error().message;
  };
  auto bad = settings;
  bad.bootstrap_servers = " ";
  CHECK(refused(bad) == "kafka bootstrap servers are empty; give one or more host:port, comma-separated");
  bad.bootstrap_servers = "kafka-1";
  CHECK(refused(bad) == "kafka bootstrap server 'kafka-1' has no port; write it as host:port");
  bad.bootstrap_servers = "kafka-1:99999";
  CHECK(refused(bad) == "kafka bootstrap server 'kafka-1:99999' has no valid port (1-65535)");
  bad.bootstrap_servers = "::1:9092";
  CHECK(refused(bad) == "kafka bootstrap server '::1:9092' has more than one ':'; write IPv6 addresses in brackets");
  bad.bootstrap_servers = "kafka-1:9092,";
  CHECK(refused(bad) == "kafka bootstrap servers end with a comma");

  bad = settings;
  bad.properties = {{"enable.idempotence", "false"}};
  CHECK(refused(bad) == "kafka property 'enable.idempotence' cannot be set: fnd's producer is always idempotent");
  bad.properties = {{"enable.auto.commit", "true"}};
  CHECK(refused(bad) == "kafka property 'enable.auto.commit' cannot be set: fnd commits only offsets made durable");
  bad.properties = {{"message.timeout.ms", "1000"}};
  CHECK(refused(bad) ==
        "kafka property 'message.timeout.ms' cannot be set: set KafkaSettings.delivery_timeout instead");

  bad = settings;
  bad.delivery_timeout = 0ms;
  CHECK(refused(bad) == "kafka delivery_timeout must be between 1 ms and about 24 days");
  bad = settings;
  bad.client_id.clear();
  CHECK(refused(bad) == "kafka client id is empty");
}

TEST_CASE("kafka consumer settings are validated", "[unit]") {
  auto consumer = consumer_settings("readers", "orders");
  CHECK(fnd::eventing::validate(consumer).ok());
  auto message = [](const KafkaConsumerSettings& c) {
    auto status = fnd::eventing::validate(c);
    REQUIRE_FALSE(status.ok());
    CHECK(fnd::eventing::is_invalid_kafka_settings(status.error()));
    return status.error().message;
  };
  auto bad = consumer;
  bad.group_id.clear();
  CHECK(message(bad) == "kafka consumer group id is empty");
  bad = consumer;
  bad.topics = {"orders", "bad topic"};
  CHECK(message(bad) == "kafka topic 'bad topic' may only hold letters, digits, '.', '_' and '-'");
  bad.topics.clear();
  CHECK(message(bad) == "kafka consumer has no topics to subscribe to");
  bad = consumer;
  bad.max_pending_records = 10;
  CHECK(message(bad) == "kafka consumer max_pending_records must be at least max_batch_records");
}

TEST_CASE("a property librdkafka does not know is refused when the client is created", "[unit]") {
  KafkaSettings settings;
  settings.bootstrap_servers = "127.0.0.1:9";
  settings.properties = {{"no.such.property", "1"}};
  auto producer = KafkaProducer::create(settings);
  REQUIRE_FALSE(producer.ok());
  CHECK(fnd::eventing::is_invalid_kafka_settings(producer.error()));
  CHECK_THAT(producer.error().message,
             Catch::StartsWith("kafka property 'no.such.property' was refused by librdkafka"));
  auto consumer = KafkaConsumer::create(settings, consumer_settings("g", "t"), {});
  REQUIRE_FALSE(consumer.ok());
  CHECK(fnd::eventing::is_invalid_kafka_settings(consumer.error()));
}

TEST_CASE("records produced are all consumed, in order per partition, as they were written", "[unit][kafka]") {
  MockCluster cluster;
  cluster.create_topic("orders", 3);
  auto settings = cluster.settings();
  auto producer = make_producer(settings);

  constexpr std::size_t kCount = 300;
  std::vector<KafkaRecord> records;
  for (std::size_t i = 0; i < kCount; ++i) records.push_back(numbered_record(i, "customer-" + std::to_string(i % 17)));
  // Null and empty keys and values travel as they are: a tombstone is not an empty value.
  records[10].key.reset();
  records[11].key = "";
  records[12].value.reset();
  records[13].value = "";
  records[14].headers.push_back({"empty", ""});
  auto deliveries = produce_acknowledged(*producer, "orders", records);
  CHECK(producer->state().connection == KafkaConnection::connected);

  Inbox inbox;
  auto consumer = make_consumer(settings, consumer_settings("order-readers", "orders"), inbox);
  REQUIRE(inbox.wait_for(kCount));
  auto consumed = inbox.records();
  CHECK(consumed.size() == kCount);

  // Each record arrives once, where its acknowledgement said, byte for byte.
  std::set<std::size_t> seen;
  std::map<int32_t, int64_t> last_offset;
  std::map<std::string, std::size_t> last_index_of_key;
  for (const auto& record : consumed) {
    std::size_t index = std::stoul(header(record.record, "index"));
    CHECK(seen.insert(index).second);
    CHECK(record.record == records[index]);
    CHECK(record.topic == "orders");
    CHECK(record.partition == deliveries[index].partition);
    CHECK(record.offset == deliveries[index].offset);
    // In offset order per partition, and so in produce order per key.
    if (last_offset.contains(record.partition)) CHECK(record.offset > last_offset[record.partition]);
    last_offset[record.partition] = record.offset;
    if (record.record.key && !record.record.key->empty()) {
      auto last = last_index_of_key.find(*record.record.key);
      if (last != last_index_of_key.end()) CHECK(index > last->second);
      last_index_of_key[*record.record.key] = index;
    }
    CHECK(consumer->mark_durable(record.topic, record.partition, record.offset));
  }
  CHECK(seen.size() == kCount);
  CHECK(last_offset.size() == 3);  // the keys spread over every partition
  CHECK(eventually([&] {
    auto all = consumer->partitions();
    return all.size() == 3 && std::all_of(all.begin(), all.end(), [](const auto& p) {
             return p.pending == 0 && p.committed == p.durable_position && p.lag == 0;
           });
  }));
  CHECK(consumer->state().connection == KafkaConnection::connected);
  CHECK(consumer->close().ok());
}

TEST_CASE("the idempotent producer acknowledges each record once, in order, through retried requests",
          "[unit][kafka]") {
  MockCluster cluster;
  cluster.create_topic("payments", 2);
  REQUIRE(rd_kafka_mock_partition_set_leader(cluster.get(), "payments", 0, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(rd_kafka_mock_partition_set_leader(cluster.get(), "payments", 1, 2) == RD_KAFKA_RESP_ERR_NO_ERROR);
  auto producer = make_producer(cluster.settings());

  // Each leader refuses its next two produce requests with errors the producer must retry; an
  // idempotent retry never writes a record twice nor reorders a partition.
  constexpr int16_t kProduceApiKey = 0;
  REQUIRE(rd_kafka_mock_broker_push_request_error_rtts(cluster.get(), 1, kProduceApiKey, 2,
                                                       RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 0,
                                                       RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0) ==
          RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(rd_kafka_mock_broker_push_request_error_rtts(cluster.get(), 2, kProduceApiKey, 2,
                                                       RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 0,
                                                       RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, 0) ==
          RD_KAFKA_RESP_ERR_NO_ERROR);
  constexpr std::size_t kCount = 200;
  Acks acks;
  for (std::size_t i = 0; i < kCount; ++i) {
    REQUIRE(
        producer->produce("payments", numbered_record(i, "account-" + std::to_string(i % 5)), acks.handler(i)).ok());
  }
  CHECK(producer->flush(kWait).ok());
  CHECK(producer->in_flight() == 0);
  for (int32_t broker : {1, 2}) {
    std::size_t errors_left = 1;
    REQUIRE(rd_kafka_mock_broker_error_stack_cnt(cluster.get(), broker, kProduceApiKey, &errors_left) ==
            RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(errors_left == 0);  // both refusals were met, and retried
  }

  auto by_index = acks.by_index();
  REQUIRE(by_index.size() == kCount);
  std::map<int32_t, std::vector<int64_t>> offsets_in_produce_order;
  for (const auto& [index, results] : by_index) {
    REQUIRE(results.size() == 1);  // exactly one completion per record
    INFO((results[0].ok() ? std::string() : results[0].error().message));
    REQUIRE(results[0].ok());
    CHECK(results[0]->topic == "payments");
    offsets_in_produce_order[results[0]->partition].push_back(results[0]->offset);
  }
  // A fresh topic: each partition holds its records at 0, 1, 2, ... in produce order, no gap and
  // no duplicate.
  std::size_t total = 0;
  for (const auto& [partition, offsets] : offsets_in_produce_order) {
    for (std::size_t i = 0; i < offsets.size(); ++i) CHECK(offsets[i] == static_cast<int64_t>(i));
    total += offsets.size();
  }
  CHECK(total == kCount);

  // The synchronous refusals.
  auto invalid = producer->produce("no spaces allowed", numbered_record(0, "k"), {});
  REQUIRE_FALSE(invalid.ok());
  CHECK(fnd::eventing::is_invalid_kafka_topic(invalid.error()));
  CHECK(invalid.error().http_status == 400);
}

TEST_CASE("a full producer queue refuses at once, and closing fails what is left retryably", "[unit][kafka]") {
  MockCluster cluster;
  cluster.create_topic("audit", 1);
  auto settings = cluster.settings();
  settings.max_queued_records = 3;
  settings.close_timeout = 300ms;
  auto producer = make_producer(settings);
  REQUIRE(eventually([&] { return producer->state().connection == KafkaConnection::connected; }));
  cluster.set_all_brokers(false);

  Acks acks;
  for (std::size_t i = 0; i < 3; ++i)
    REQUIRE(producer->produce("audit", numbered_record(i, "k"), acks.handler(i)).ok());
  auto full = producer->produce("audit", numbered_record(3, "k"), acks.handler(3));
  REQUIRE_FALSE(full.ok());
  CHECK(fnd::eventing::is_kafka_queue_full(full.error()));
  CHECK(full.error().retryable);
  CHECK(full.error().http_status == 503);
  CHECK(producer->in_flight() == 3);
  auto flushed = producer->flush(50ms);
  REQUIRE_FALSE(flushed.ok());
  CHECK(fnd::eventing::is_kafka_flush_timeout(flushed.error()));

  producer.reset();  // waits close_timeout, then purges: every accepted record hears back
  auto by_index = acks.by_index();
  REQUIRE(by_index.size() == 3);
  for (const auto& [index, results] : by_index) {
    REQUIRE(results.size() == 1);
    REQUIRE_FALSE(results[0].ok());
    CHECK(fnd::eventing::is_kafka_delivery_failed(results[0].error()));
    CHECK(results[0].error().retryable);
    CHECK(results[0].error().message == "the kafka producer closed before topic 'audit' acknowledged the record");
  }
}

TEST_CASE("the consumer commits only the contiguous durable offsets and resumes right after them", "[unit][kafka]") {
  MockCluster cluster;
  cluster.create_topic("ledger", 1);
  auto settings = cluster.settings();
  {
    auto producer = make_producer(settings);
    std::vector<KafkaRecord> records;
    for (std::size_t i = 0; i < 100; ++i) records.push_back(numbered_record(i, "entry-" + std::to_string(i)));
    produce_acknowledged(*producer, "ledger", records);
  }

  // The first member commits only when it lets the partition go.
  auto first_settings = consumer_settings("ledger-readers", "ledger");
  first_settings.commit_interval = 1h;
  Inbox first_inbox;
  auto first = make_consumer(settings, first_settings, first_inbox);
  REQUIRE(first_inbox.wait_for(100));
  auto consumed = first_inbox.records();
  for (std::size_t i = 0; i < consumed.size(); ++i) REQUIRE(consumed[i].offset == static_cast<int64_t>(i));

  // 60 records durable, with a gap at 50..54.
  for (int64_t offset = 0; offset < 65; ++offset) {
    if (offset >= 50 && offset < 55) continue;
    CHECK(first->mark_durable("ledger", 0, offset));
  }
  auto progress = progress_of(*first, 0);
  REQUIRE(progress);
  CHECK(progress->durable_position == 50);
  CHECK(progress->pending == 50);  // 50..99: 55..64 are durable but wait behind the gap
  CHECK(progress->committed == std::nullopt);
  CHECK(progress->lag == 50);
  CHECK(first->close().ok());
  CHECK_FALSE(first->mark_durable("ledger", 0, 50));  // revoked: its next owner gets it again
  first.reset();

  // The same group again: right after the contiguous durable prefix, nothing before it.
  Inbox second_inbox;
  auto second = make_consumer(settings, consumer_settings("ledger-readers", "ledger"), second_inbox);
  REQUIRE(second_inbox.wait_for(50));
  auto redelivered = second_inbox.records();
  REQUIRE(redelivered.size() == 50);
  for (std::size_t i = 0; i < redelivered.size(); ++i) {
    CHECK(redelivered[i].offset == static_cast<int64_t>(50 + i));
    CHECK(header(redelivered[i].record, "index") == std::to_string(50 + i));
  }

  // Durable up to 79: committed in the background, without closing.
  for (int64_t offset = 50; offset < 80; ++offset) CHECK(second->mark_durable("ledger", 0, offset));
  CHECK(eventually([&] {
    auto p = progress_of(*second, 0);
    return p && p->committed == 80;
  }));
  second.reset();

  Inbox third_inbox;
  auto third = make_consumer(settings, consumer_settings("ledger-readers", "ledger"), third_inbox);
  REQUIRE(third_inbox.wait_for(20));
  auto rest = third_inbox.records();
  REQUIRE(rest.size() == 20);
  CHECK(rest.front().offset == 80);
  CHECK(rest.back().offset == 99);
}

TEST_CASE("the consumer stops handing out records at max_pending_records until they become durable",
          "[unit][kafka]") {
  MockCluster cluster;
  cluster.create_topic("metrics", 2);
  auto settings = cluster.settings();
  {
    auto producer = make_producer(settings);
    std::vector<KafkaRecord> records;
    for (std::size_t i = 0; i < 200; ++i) records.push_back(numbered_record(i, "meter-" + std::to_string(i)));
    produce_acknowledged(*producer, "metrics", records);
  }

  auto bounded = consumer_settings("metric-readers", "metrics");
  bounded.max_batch_records = 10;
  bounded.max_pending_records = 40;
  Inbox inbox;
  auto consumer = make_consumer(settings, bounded, inbox);
  REQUIRE(inbox.wait_for(40));
  // Nothing more while those 40 are pending. (Proving that nothing comes takes a wait; half a
  // second is five of the consumer's poll rounds.)
  CHECK_FALSE(inbox.wait_for(41, 500ms));
  CHECK(inbox.records().size() == 40);
  std::size_t pending = 0;
  for (const auto& progress : consumer->partitions()) pending += progress.pending;
  CHECK(pending == 40);

  // Durable records make room. Pausing dropped what librdkafka had prefetched; resuming fetched
  // it again: every record comes once, in offset order per partition.
  std::set<std::size_t> indexes;
  REQUIRE(eventually([&] {
    for (const auto& record : inbox.take_new()) {
      CHECK(indexes.insert(std::stoul(header(record.record, "index"))).second);
      CHECK(consumer->mark_durable(record.topic, record.partition, record.offset));
    }
    return indexes.size() == 200;
  }));
  std::map<int32_t, int64_t> next_offset;
  for (const auto& record : inbox.records()) CHECK(record.offset == next_offset[record.partition]++);
  CHECK(inbox.records().size() == 200);
  CHECK(consumer->close().ok());
}

TEST_CASE("a member joining the group causes a rebalance that loses and skips nothing", "[unit][kafka]") {
  MockCluster cluster;
  cluster.create_topic("clicks", 4);
  auto settings = cluster.settings();
  auto producer = make_producer(settings);

  std::vector<KafkaRecord> first_wave;
  for (std::size_t i = 0; i < 200; ++i) first_wave.push_back(numbered_record(i, "click-" + std::to_string(i)));
  auto first_deliveries = produce_acknowledged(*producer, "clicks", first_wave);

  Inbox a_inbox;
  auto a = make_consumer(settings, consumer_settings("click-readers", "clicks"), a_inbox);
  REQUIRE(a_inbox.wait_for(200));
  // All durable but the 10th record of each partition: a gap the rebalance must respect.
  std::map<int32_t, int64_t> held_back;  // partition -> offset left pending
  std::map<int32_t, int> seen_in_partition;
  for (const auto& record : a_inbox.take_new()) {
    if (++seen_in_partition[record.partition] == 10) {
      held_back[record.partition] = record.offset;
      continue;
    }
    REQUIRE(a->mark_durable(record.topic, record.partition, record.offset));
  }
  REQUIRE(held_back.size() == 4);
  // Committed in the background up to each gap. (The revoke commits too, but the mock
  // coordinator, unlike Kafka's, refuses commits once the group is rebalancing; the close test
  // covers the revoke's commit.)
  REQUIRE(eventually([&] {
    auto all = a->partitions();
    return all.size() == 4 && std::all_of(all.begin(), all.end(), [&](const auto& p) {
             return p.durable_position == held_back[p.partition.partition] && p.committed == p.durable_position;
           });
  }));

  Inbox b_inbox;
  auto b = make_consumer(settings, consumer_settings("click-readers", "clicks"), b_inbox);
  // Until the group is stable with both members, everything received is marked durable at once.
  auto mark_new = [](KafkaConsumer& consumer, Inbox& inbox, std::map<std::size_t, int>& counts) {
    for (const auto& record : inbox.take_new()) {
      ++counts[std::stoul(header(record.record, "index"))];
      consumer.mark_durable(record.topic, record.partition, record.offset);
    }
  };
  std::map<std::size_t, int> received;  // by record index, over both members after the join
  REQUIRE(eventually([&] {
    mark_new(*a, a_inbox, received);
    mark_new(*b, b_inbox, received);
    return !a->partitions().empty() && !b->partitions().empty() && a->partitions().size() + b->partitions().size() == 4;
  }));

  std::vector<KafkaRecord> second_wave;
  for (std::size_t i = 200; i < 400; ++i) second_wave.push_back(numbered_record(i, "click-" + std::to_string(i)));
  produce_acknowledged(*producer, "clicks", second_wave);

  // Every record from the held-back one on in each partition comes again; every record of the
  // second wave comes.
  auto redelivered_from_gap = [&](std::size_t index) {
    const auto& delivery = first_deliveries[index];
    return delivery.offset >= held_back[delivery.partition];
  };
  REQUIRE(eventually([&] {
    mark_new(*a, a_inbox, received);
    mark_new(*b, b_inbox, received);
    for (std::size_t i = 0; i < 400; ++i) {
      if (i < 200 && redelivered_from_gap(i) && received[i] < 1) return false;
      if (i >= 200 && received[i] < 1) return false;
    }
    return true;
  }));
  std::size_t redelivered = 0;
  for (std::size_t i = 0; i < 200; ++i) {
    INFO("record " << i);
    if (redelivered_from_gap(i)) {
      CHECK(received[i] >= 1);
      ++redelivered;
    } else {
      CHECK(received[i] == 0);  // committed on revoke: never replayed
    }
  }
  CHECK(redelivered >= 4);
  for (std::size_t i = 200; i < 400; ++i) CHECK(received[i] >= 1);
  CHECK_FALSE(b_inbox.records().empty());  // the newcomer took its share
  // Everything committed in the background: leaving (a rebalance for the other member, during
  // which the mock refuses commits) has nothing left to commit.
  auto all_committed = [](const KafkaConsumer& consumer) {
    auto all = consumer.partitions();
    return std::all_of(all.begin(), all.end(),
                       [](const auto& p) { return p.pending == 0 && p.committed == p.durable_position; });
  };
  CHECK(eventually([&] { return all_committed(*a) && all_committed(*b); }));
  CHECK(a->close().ok());
  CHECK(b->close().ok());
}

TEST_CASE("losing every broker shows as unreachable, and both clients recover without losing records",
          "[unit][kafka]") {
  MockCluster cluster;
  cluster.create_topic("events", 3);
  auto settings = cluster.settings();
  auto producer = make_producer(settings);
  Inbox inbox;
  auto consumer = make_consumer(settings, consumer_settings("event-readers", "events"), inbox);

  std::vector<KafkaRecord> records;
  for (std::size_t i = 0; i < 100; ++i) records.push_back(numbered_record(i, "device-" + std::to_string(i % 7)));
  produce_acknowledged(*producer, "events", std::vector<KafkaRecord>(records.begin(), records.begin() + 50));
  REQUIRE(inbox.wait_for(50));
  REQUIRE(eventually([&] { return consumer->state().connection == KafkaConnection::connected; }));
  REQUIRE(producer->state().connection == KafkaConnection::connected);

  cluster.set_all_brokers(false);
  auto unreachable = [](const KafkaClientState& state) {
    return state.connection == KafkaConnection::unreachable && !state.last_error.empty();
  };
  // Within health_check_interval + health_check_timeout (1.2 s here), with some slack.
  CHECK(eventually([&] { return unreachable(producer->state()); }, 5s));
  CHECK(eventually([&] { return unreachable(consumer->state()); }, 5s));

  // Records produced meanwhile wait in the queue.
  Acks acks;
  for (std::size_t i = 50; i < 100; ++i) REQUIRE(producer->produce("events", records[i], acks.handler(i)).ok());

  cluster.set_all_brokers(true);
  REQUIRE(acks.wait_for(50));
  for (const auto& [index, results] : acks.by_index()) {
    REQUIRE(results.size() == 1);
    INFO((results[0].ok() ? std::string() : results[0].error().message));
    CHECK(results[0].ok());
  }
  CHECK(eventually([&] { return producer->state().connection == KafkaConnection::connected; }));
  CHECK(eventually([&] { return consumer->state().connection == KafkaConnection::connected; }));

  // Every acknowledged record reaches the consumer, before or after the outage.
  std::set<std::size_t> indexes;
  CHECK(eventually([&] {
    for (const auto& record : inbox.take_new()) {
      indexes.insert(std::stoul(header(record.record, "index")));
      consumer->mark_durable(record.topic, record.partition, record.offset);
    }
    return indexes.size() == 100;
  }));
  CHECK(consumer->close().ok());
}
