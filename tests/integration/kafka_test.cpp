// Kafka through the real fnd (issue 10): a source consuming a topic into a broker, across the
// Kafka brokers going down and back and a kill -9 of fnd, with no record lost or skipped; and a
// kafka: destination whose records an outside consumer (kcat) reads. The Kafka cluster is
// librdkafka's mock cluster, hosted by this test process; kcat produces and consumes from outside.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <array>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>

#include "integration/daemon.hpp"
#include "integration/recording_server.hpp"

namespace fnd::test {
namespace {

constexpr int kKafkaBrokers = 3;

// A mock Kafka cluster of three brokers on loopback, alive as long as this object.
class MockKafka {
 public:
  MockKafka() {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    std::array<char, 512> reason{};
    // Only the cluster matters on this client: spare the log its "no bootstrap.servers" notice.
    REQUIRE(rd_kafka_conf_set(conf, "log_level", "3", reason.data(), reason.size()) == RD_KAFKA_CONF_OK);
    owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason.data(), reason.size());
    REQUIRE(owner_ != nullptr);
    cluster_ = rd_kafka_mock_cluster_new(owner_, kKafkaBrokers);
    REQUIRE(cluster_ != nullptr);
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_);
  }
  ~MockKafka() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(owner_);
  }
  MockKafka(const MockKafka&) = delete;
  MockKafka& operator=(const MockKafka&) = delete;

  const std::string& bootstrap() const { return bootstrap_; }
  void create_topic(const std::string& name, int partitions) {
    REQUIRE(rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, kKafkaBrokers) ==
            RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void set_all_brokers(bool up) {
    for (int32_t id = 1; id <= kKafkaBrokers; ++id) {
      auto err = up ? rd_kafka_mock_broker_set_up(cluster_, id) : rd_kafka_mock_broker_set_down(cluster_, id);
      REQUIRE(err == RD_KAFKA_RESP_ERR_NO_ERROR);
    }
  }

 private:
  rd_kafka_t* owner_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstrap_;
};

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// Produces `count` plain records "KEY:VALUE" (not CloudEvents) to `topic` with kcat, from outside.
void kcat_produce(const MockKafka& kafka, const std::string& topic, int first, int count) {
  const std::string file = std::filesystem::temp_directory_path() / ("fnd-kcat-" + std::to_string(::getpid()));
  {
    std::ofstream out(file);
    for (int i = first; i < first + count; ++i) out << "order-" << i << ":{\"n\":" << i << "}\n";
  }
  CommandResult produced =
      run_command({"sh", "-c", "kcat -b " + kafka.bootstrap() + " -P -t " + topic + " -K: -X acks=all < " + file});
  std::filesystem::remove(file);
  INFO(produced.err);
  REQUIRE(produced.exit_code == 0);
}

std::string source_state(const Daemon& fnd, const std::string& name) {
  HttpAnswer described = fnd.http("GET", "/api/v1/sources/" + name);
  if (described.status != 200) return "";
  return std::string(described.json().at("status").at("kafka").as_string());
}

TEST_CASE("a Kafka source loses and skips no record across its brokers going down and back and a kill -9 of fnd",
          "[integration][eventing][kafka]") {
  MockKafka kafka;
  kafka.create_topic("orders", 4);
  const std::string received = std::filesystem::temp_directory_path() / ("fnd-kafka-src-" + std::to_string(::getpid()));
  std::filesystem::remove(received);
  RecordingServer subscriber(received);
  Daemon fnd;
  REQUIRE(fnd.http("PUT", "/api/v1/triggers/orders-out",
                   R"({"subscriber": "url:http://127.0.0.1:)" + std::to_string(subscriber.port()) + R"(/"})",
                   {{"Content-Type", "application/json"}})
              .status == 201);

  kcat_produce(kafka, "orders", 0, 300);
  CommandResult created = fnd.run_fnctl(
      {"source", "create", "shop-orders", "--kafka", kafka.bootstrap(), "--topic", "orders", "--broker", "default"});
  INFO(created.out << created.err);
  REQUIRE(created.exit_code == 0);
  CHECK(contains(created.out, "consumer group fnd-source-shop-orders"));
  // Records that are not CloudEvents arrive wrapped in one, with ids PARTITION-OFFSET.
  REQUIRE(wait_until([&] { return subscriber.ids().size() == 300; }, 60s));
  CHECK(subscriber.ids().contains("0-0"));

  // Kafka goes away: describe and /metrics say so; nothing is lost meanwhile.
  kafka.set_all_brokers(false);
  REQUIRE(wait_until([&] { return source_state(fnd, "shop-orders") == "unreachable"; }, 30s));
  CHECK(contains(fnd.http("GET", "/metrics").body, R"(fnd_kafka_source_connected{source="shop-orders"} 0)"));
  CommandResult described = fnd.run_fnctl({"source", "describe", "shop-orders"});
  CHECK(contains(described.out, "\"kafka\": \"unreachable\""));
  kafka.set_all_brokers(true);
  REQUIRE(wait_until([&] { return source_state(fnd, "shop-orders") == "connected"; }, 30s));
  kcat_produce(kafka, "orders", 300, 300);
  REQUIRE(wait_until([&] { return subscriber.ids().size() == 600; }, 60s));

  // kill -9 while records flow: after the restart every record arrives (at least once), none
  // is skipped, and committed ones are not replayed wholesale.
  kcat_produce(kafka, "orders", 600, 2000);
  fnd.kill9();
  fnd.restart();
  REQUIRE(wait_until([&] { return subscriber.ids().size() == 2600; }, 120s));
  std::string metrics = fnd.http("GET", "/metrics").body;
  INFO(metrics);
  CHECK(contains(metrics, R"(fnd_kafka_source_connected{source="shop-orders"} 1)"));
  // Duplicates after the crash come from the records after the last periodic commit only (and
  // the broker's duplicate suppression absorbs them): far fewer than everything.
  auto events = fnd.http("GET", "/api/v1/brokers/default").json();
  INFO(boost::json::serialize(events));
  CHECK(events.at("head").as_int64() < 2600 + 600);

  CommandResult listed = fnd.run_fnctl({"source", "list"});
  CHECK(contains(listed.out, "shop-orders"));
  CommandResult deleted = fnd.run_fnctl({"source", "delete", "shop-orders"});
  INFO(deleted.out << deleted.err);
  CHECK(deleted.exit_code == 0);
  CHECK(fnd.http("GET", "/api/v1/sources/shop-orders").status == 404);
  std::filesystem::remove(received);
}

TEST_CASE("a trigger delivers to a kafka: topic with acks=all, and an outside consumer reads binary CloudEvents",
          "[integration][eventing][kafka]") {
  MockKafka kafka;
  kafka.create_topic("billing-out", 2);
  DaemonOptions options;
  options.config_yaml = "eventing:\n  kafka:\n    bootstrap_servers: \"" + kafka.bootstrap() + "\"\n";
  Daemon fnd(options);
  CommandResult created = fnd.run_fnctl({"trigger", "create", "to-kafka", "--to", "kafka:billing-out"});
  INFO(created.out << created.err);
  REQUIRE(created.exit_code == 0);
  for (int i = 0; i < 20; ++i) {
    HttpAnswer accepted = fnd.http("POST", "/events/default", R"({"total": )" + std::to_string(i) + "}",
                                   {{"ce-specversion", "1.0"},
                                    {"ce-id", "order-" + std::to_string(i)},
                                    {"ce-source", "/shop"},
                                    {"ce-type", "com.shop.order.created"},
                                    {"ce-partitionkey", "customer-" + std::to_string(i % 3)},
                                    {"Content-Type", "application/json"}});
    REQUIRE(accepted.status == 202);
  }
  REQUIRE(wait_until(
      [&] {
        auto trigger = fnd.http("GET", "/api/v1/triggers/to-kafka").json();
        return trigger.at("status").at("delivered").as_int64() == 20;
      },
      30s));
  CommandResult consumed = run_command(
      {"kcat", "-b", kafka.bootstrap(), "-C", "-t", "billing-out", "-o", "beginning", "-e", "-q", "-f", "%k|%h|%s\\n"});
  INFO(consumed.out << consumed.err);
  REQUIRE(consumed.exit_code == 0);
  for (int i = 0; i < 20; ++i) {
    CHECK(contains(consumed.out, "ce_id=order-" + std::to_string(i) + ","));
    CHECK(contains(consumed.out, R"({"total":)" + std::to_string(i) + "}"));
  }
  CHECK(contains(consumed.out, "customer-1|"));  // the partition key is the record key
  CHECK(contains(consumed.out, "ce_type=com.shop.order.created"));
  CHECK(contains(fnd.http("GET", "/metrics").body, R"(fnd_kafka_sink_records_total{outcome="acknowledged"} 20)"));

  // Without a cluster configured, a kafka: destination is refused at once, saying what to set.
  Daemon plain;
  HttpAnswer refused = plain.http("PUT", "/api/v1/triggers/to-kafka", R"({"subscriber": "kafka:billing-out"})",
                                  {{"Content-Type", "application/json"}});
  CHECK(refused.status == 422);
  CHECK(contains(refused.error_message(), "eventing.kafka.bootstrap_servers"));
}

// A batch of structured events with ids PREFIX-FIRST.. (application/cloudevents-batch+json).
std::string event_batch(const std::string& prefix, int first, int count) {
  std::string body = "[";
  for (int i = first; i < first + count; ++i) {
    if (i > first) body += ",";
    body += R"({"specversion":"1.0","type":"com.shop.order.created","source":"/shop","id":")" + prefix + "-" +
            std::to_string(i) + R"(","data":{"n":)" + std::to_string(i) + "}}";
  }
  return body + "]";
}

bool relay_assigned(const Daemon& fnd, const std::string& trigger) {
  HttpAnswer relay = fnd.http("GET", "/api/v1/sources/fnd-trigger-" + trigger);
  return relay.status == 200 && relay.json().at("status").at("partitions").as_array().size() == 4;
}

TEST_CASE("with the Kafka backend a broker's events go to its topic and each trigger's consumer group delivers all",
          "[integration][eventing][kafka]") {
  MockKafka kafka;
  kafka.create_topic("fnd.broker.default", 4);
  const std::string received = std::filesystem::temp_directory_path() / ("fnd-kafka-be-" + std::to_string(::getpid()));
  std::filesystem::remove(received);
  RecordingServer subscriber(received);
  DaemonOptions options;
  options.config_yaml = "eventing:\n  backend: kafka\n  kafka:\n    bootstrap_servers: \"" + kafka.bootstrap() + "\"\n";
  Daemon fnd(options);
  const std::string url = "url:http://127.0.0.1:" + std::to_string(subscriber.port()) + "/";
  REQUIRE(fnd.http("PUT", "/api/v1/triggers/to-url", R"({"subscriber": ")" + url + R"("})",
                   {{"Content-Type", "application/json"}})
              .status == 201);
  // Wait until the trigger's relay holds the partitions and delivers (a probe arrives).
  REQUIRE(wait_until([&] { return relay_assigned(fnd, "to-url"); }, 60s));
  const HeaderList batch_type = {{"Content-Type", "application/cloudevents-batch+json"}};
  int probes = 0;
  auto probe_arrived = [&] {
    for (const auto& id : subscriber.ids())
      if (id.starts_with("probe-")) return true;
    return false;
  };
  REQUIRE(wait_until(
      [&] {
        if (probe_arrived()) return true;
        fnd.http("POST", "/events/default", event_batch("probe", probes++, 1), batch_type);
        return false;
      },
      60s));
  const size_t probe_ids = subscriber.ids().size();

  for (int first = 0; first < 500; first += 100) {
    HttpAnswer accepted = fnd.http("POST", "/events/default", event_batch("a", first, 100), batch_type);
    INFO(accepted.body);
    REQUIRE(accepted.status == 202);
  }
  HttpAnswer again = fnd.http("POST", "/events/default", event_batch("a", 7, 1), batch_type);
  CHECK(again.json().at("duplicates").as_int64() == 1);
  REQUIRE(wait_until([&] { return subscriber.ids().size() >= probe_ids + 500; }, 60s));

  // The events are in Kafka, in the binding's binary mode, once each.
  CommandResult consumed = run_command({"kcat", "-b", kafka.bootstrap(), "-C", "-t", "fnd.broker.default", "-o",
                                        "beginning", "-e", "-q", "-f", "%h\\n"});
  REQUIRE(consumed.exit_code == 0);
  size_t records = 0;
  for (size_t at = consumed.out.find("ce_id=a-"); at != std::string::npos; at = consumed.out.find("ce_id=a-", at + 1))
    ++records;
  CHECK(records == 500);
  auto broker = fnd.http("GET", "/api/v1/brokers/default").json();
  CHECK(broker.at("triggers").as_array().size() == 1);

  // kill -9 and restart: the group resumes from its commits; what comes after arrives too.
  fnd.kill9();
  fnd.restart();
  for (int first = 0; first < 500; first += 100) {
    HttpAnswer accepted = fnd.http("POST", "/events/default", event_batch("b", first, 100), batch_type);
    REQUIRE(accepted.status == 202);
  }
  REQUIRE(wait_until(
      [&] {
        auto ids = subscriber.ids();
        for (int i = 0; i < 500; ++i) {
          if (!ids.contains("a-" + std::to_string(i)) || !ids.contains("b-" + std::to_string(i))) return false;
        }
        return true;
      },
      90s));
  std::filesystem::remove(received);
}

}  // namespace
}  // namespace fnd::test
