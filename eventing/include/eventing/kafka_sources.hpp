// Kafka sources: each consumes topics of a Kafka cluster in a consumer group and publishes their
// records into a broker, from where triggers deliver them like any other event. A record that is
// a CloudEvent in the Kafka binding (ce_ headers, or structured) is published as that event; any
// other record is wrapped in one:
//   type dev.fnd.kafka.record, source /sources/NAME/TOPIC, id PARTITION-OFFSET,
//   partitionkey the record key, data the record value (datacontenttype from content-type).
//
// At least once, nothing skipped: an offset is committed only after its record is durable in
// the broker (KafkaConsumer::mark_durable after the broker's 202-equivalent), never before, and
// never by a rebalance callback ahead of that. A source whose broker refuses (backlog full, a full
// disk, the broker deleted) keeps the batch and tries it again every second; the consumer stops
// fetching once max_pending_records are waiting. A record published again after a crash keeps its
// id, so the broker's duplicate suppression absorbs it within eventing.dedup_window.
//
// Losing Kafka shows in status() (connection, last error; describe) and in /metrics
// (fnd_kafka_source_connected); the consumer reconnects by itself and resumes at the first record
// not yet durable.
//
// Declarations are kept in the store (resource kind "source"). Threads: every call from the io
// thread (`executor`), load() before it runs; consumers are closed on `blocking_executor`.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/fwd.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "eventing/kafka_client.hpp"
#include "store/resource_repository.hpp"

namespace fnd::eventing {

class EventRouter;

inline constexpr std::string_view kInvalidSource = "invalid_source";     // 422, naming the field
inline constexpr std::string_view kSourceNotFound = "source_not_found";  // 404

struct SourceSpec {
  std::string name;
  std::string bootstrap_servers;    // the cluster: "host:port[,host:port]"
  std::vector<std::string> topics;  // exact names
  std::string broker = "default";   // where its events go
  std::string consumer_group;       // empty: "fnd-source-NAME"

  std::string group() const { return consumer_group.empty() ? "fnd-source-" + name : consumer_group; }
  bool operator==(const SourceSpec&) const = default;
};

// {"name", "bootstrapServers", "topics": [...], "broker", "consumerGroup"}. Errors: kInvalidSource.
Result<SourceSpec> parse_source(const boost::json::value& value);
boost::json::object source_to_json(const SourceSpec& spec);

struct SourceStatus {
  SourceSpec spec;
  KafkaClientState kafka;
  std::vector<KafkaPartitionProgress> partitions;
  uint64_t published = 0;         // records made durable in the broker since fnd started
  uint64_t wrapped = 0;           // of them, records that were not CloudEvents
  uint64_t publish_failures = 0;  // batches the broker refused (tried again)
  std::string last_error;         // the broker's latest refusal, or the consumer's error
};

class KafkaSources {
 public:
  struct Services {
    EventRouter& router;
    store::ResourceRepository& resources;
    boost::asio::any_io_executor executor;
    boost::asio::any_io_executor blocking_executor;
  };
  struct Options {
    std::string client_id = "fnd";
  };

  KafkaSources(Services services, Options options);
  ~KafkaSources();
  KafkaSources(const KafkaSources&) = delete;
  KafkaSources& operator=(const KafkaSources&) = delete;

  // Reads the declared sources. Blocking; once, before start(). A stored source that no longer
  // parses is reported in the error and skipped.
  Status load();
  // Starts every source's consumer. Once, from the io thread.
  void start();
  // Stops every source: batches not yet durable are left uncommitted (consumed again later).
  boost::asio::awaitable<void> stop();

  // Creates or replaces a source (a replaced one restarts with its new spec; its consumer group
  // keeps its committed offsets). Errors: kInvalidSource, kBrokerNotFound, store errors.
  // true when created.
  boost::asio::awaitable<Result<bool>> put(SourceSpec spec);
  // Errors: kSourceNotFound.
  boost::asio::awaitable<Status> remove(std::string name);
  std::vector<SourceStatus> list() const;
  std::optional<SourceStatus> get(std::string_view name) const;

  // fnd_kafka_source_connected, _records_total, _wrapped_total, _publish_failures_total, _lag.
  void render_metrics(std::string& out) const;

 private:
  struct Runner;
  boost::asio::awaitable<void> pump(std::shared_ptr<Runner> runner);
  void launch(const std::shared_ptr<Runner>& runner);
  boost::asio::awaitable<void> halt(std::shared_ptr<Runner> runner);

  Services services_;
  Options options_;
  std::map<std::string, std::shared_ptr<Runner>, std::less<>> sources_;
  bool started_ = false;
};

}  // namespace fnd::eventing
