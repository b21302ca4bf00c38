// fnd's Kafka clients: an idempotent producer that reports each record's durable acknowledgement,
// and a consumer-group member that commits only offsets the caller has made durable elsewhere.
// librdkafka is private to the eventing module: no type of it appears here.
//
// Threads. Each client owns two threads of its own (besides librdkafka's): one serves librdkafka's
// callbacks (delivery reports; rebalances, commits and fetched records) and is the only thread
// that runs the caller's handlers; the other checks every health_check_interval that a broker
// answers. Handlers must be quick and must not throw: the daemon posts their argument onto its
// io_context (boost::asio::post(io, [r = std::move(result)] {...})) and returns at once.
//
// Losing Kafka. While no broker answers, state() says unreachable with the last error librdkafka
// gave; records wait in the producer's bounded queue (up to delivery_timeout) and the consumer
// keeps its positions. Both reconnect by themselves and state() returns to connected.
#pragma once

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "eventing/kafka_binding.hpp"

namespace fnd::eventing {

// A setting is malformed, or librdkafka refused a property; the message names it. HTTP 400.
inline constexpr std::string_view kInvalidKafkaSettings = "invalid_kafka_settings";
// produce() was given a topic name Kafka does not allow. HTTP 400.
inline constexpr std::string_view kInvalidKafkaTopic = "invalid_kafka_topic";
// The producer's queue holds max_queued_records records awaiting acknowledgement. HTTP 503,
// retryable (Retry-After 1).
inline constexpr std::string_view kKafkaQueueFull = "kafka_queue_full";
// The record is larger than Kafka accepts (message.max.bytes). HTTP 413.
inline constexpr std::string_view kKafkaRecordTooLarge = "kafka_record_too_large";
// Kafka did not acknowledge a record (delivery report with an error). HTTP 503; retryable when it
// timed out or was purged at shutdown, not when the broker refused it.
inline constexpr std::string_view kKafkaDeliveryFailed = "kafka_delivery_failed";
// flush() ran out of time with records still awaiting acknowledgement. HTTP 503, retryable.
inline constexpr std::string_view kKafkaFlushTimeout = "kafka_flush_timeout";
// The client hit an error librdkafka cannot recover from (e.g. the idempotent producer was
// fenced); recreate the client. HTTP 503.
inline constexpr std::string_view kKafkaClientFailed = "kafka_client_failed";
// The consumer could not commit its durable offsets when closing; those records will be
// delivered again. HTTP 503.
inline constexpr std::string_view kKafkaCommitFailed = "kafka_commit_failed";
// The consumer did not leave its group within close_timeout; its partitions move to other
// members once its session times out. HTTP 503.
inline constexpr std::string_view kKafkaCloseTimeout = "kafka_close_timeout";

bool is_invalid_kafka_settings(const Error& error);
bool is_invalid_kafka_topic(const Error& error);
bool is_kafka_queue_full(const Error& error);
bool is_kafka_record_too_large(const Error& error);
bool is_kafka_delivery_failed(const Error& error);
bool is_kafka_flush_timeout(const Error& error);
bool is_kafka_client_failed(const Error& error);
bool is_kafka_commit_failed(const Error& error);
bool is_kafka_close_timeout(const Error& error);

// How to reach one Kafka cluster; shared by the producer and every consumer of it.
struct KafkaSettings {
  std::string bootstrap_servers;  // "host:port[,host:port...]"; IPv6 hosts in brackets
  std::string client_id = "fnd";
  // Extra librdkafka properties ("security.protocol" -> "ssl", ...), applied over fnd's defaults.
  // fnd's guarantees cannot be overridden: bootstrap.servers, client.id, group.id, acks,
  // enable.idempotence, enable.auto.commit, enable.auto.offset.store (and their aliases) are
  // refused, and so are the properties the typed fields below set.
  std::map<std::string, std::string> properties;

  std::chrono::milliseconds socket_timeout = std::chrono::seconds(10);        // one request's timeout
  std::chrono::milliseconds reconnect_backoff_max = std::chrono::seconds(2);  // between reconnects
  // Every interval a broker must answer a metadata request within the timeout, else the client
  // is unreachable: losing Kafka shows within interval + timeout.
  std::chrono::milliseconds health_check_interval = std::chrono::seconds(1);
  std::chrono::milliseconds health_check_timeout = std::chrono::seconds(2);
  // How long closing waits: the producer for outstanding acknowledgements, the consumer to leave
  // its group (the final commit included).
  std::chrono::milliseconds close_timeout = std::chrono::seconds(10);

  // Producer: how long a record may wait for its acknowledgement, retries and outages included,
  // before its completion reports kKafkaDeliveryFailed; and how many records may wait at once.
  std::chrono::milliseconds delivery_timeout = std::chrono::seconds(30);
  std::size_t max_queued_records = 100000;
};

// One consumer-group member: which group, which topics, how much it hands out.
struct KafkaConsumerSettings {
  std::string group_id;
  std::vector<std::string> topics;                                       // exact names (no patterns)
  std::chrono::milliseconds session_timeout = std::chrono::seconds(10);  // heartbeats at a third of it
  // Durable offsets are committed at most this often (and always on revoke and close).
  std::chrono::milliseconds commit_interval = std::chrono::seconds(1);
  std::size_t max_batch_records = 500;
  // Records handed out but not yet committable, over all partitions. At the cap the consumer
  // pauses fetching until mark_durable() lets the committed position move.
  std::size_t max_pending_records = 10000;
};

// Errors: kInvalidKafkaSettings naming the field. Pure checks; librdkafka's own checks of
// `properties` happen when a client is created.
Status validate(const KafkaSettings& settings);
Status validate(const KafkaConsumerSettings& settings);

enum class KafkaConnection {
  connecting,   // created, no broker has answered yet
  connected,    // a broker answered the last health check, acknowledged a record or sent some
  unreachable,  // no broker answered; the client keeps retrying by itself
  failed,       // a fatal error: the client will not recover, recreate it
};
std::string_view to_string(KafkaConnection connection);

// For /metrics and describe.
struct KafkaClientState {
  KafkaConnection connection = KafkaConnection::connecting;
  std::string last_error;  // the latest error seen, kept after recovery; empty if none yet
};

// Where an acknowledged record landed.
struct KafkaDelivery {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
};

// Called exactly once per accepted record, on the producer's thread: a value once all in-sync
// replicas have the record (acks=all), else kKafkaDeliveryFailed (or kKafkaClientFailed).
using KafkaDeliveryHandler = std::function<void(Result<KafkaDelivery>)>;

// An idempotent producer (enable.idempotence=true, acks=all): per partition, records land in the
// order produce() accepted them, and librdkafka's retries (outages included) never write one
// twice. A record whose delivery failed may still have landed (its acknowledgement was lost).
// Partitions by murmur2 of the key, as Java clients do (override with the `partitioner` property).
//
// Thread safety: every method may be called from any thread, except that flush() and the
// destructor must not be called from a delivery handler (they wait for that very thread).
class KafkaProducer {
 public:
  // Connects in the background; does not block. Errors: kInvalidKafkaSettings.
  static Result<std::unique_ptr<KafkaProducer>> create(const KafkaSettings& settings);
  // Waits up to close_timeout for outstanding acknowledgements, then fails what is left with
  // kKafkaDeliveryFailed (retryable): every accepted record gets its completion.
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  // Queues the record (copied) and returns at once. On success `on_delivery` will be called
  // exactly once; on error it never is. Errors: kInvalidKafkaTopic, kKafkaQueueFull,
  // kKafkaRecordTooLarge, kKafkaClientFailed, kKafkaDeliveryFailed (another refusal).
  Status produce(std::string_view topic, const KafkaRecord& record, KafkaDeliveryHandler on_delivery);

  // Blocks until every record accepted so far has had its completion run, or the timeout passes
  // (kKafkaFlushTimeout).
  Status flush(std::chrono::milliseconds timeout);

  // Records accepted whose completion has not run yet.
  std::size_t in_flight() const;
  KafkaClientState state() const;

 private:
  struct Impl;
  explicit KafkaProducer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct KafkaPartition {
  std::string topic;
  int32_t partition = 0;

  // Spelled out: clang-tidy 14 reads the 0 a defaulted <=> compares std::string's result against
  // as a null pointer constant (modernize-use-nullptr).
  bool operator==(const KafkaPartition& other) const {
    return partition == other.partition && topic == other.topic;
  }
  bool operator<(const KafkaPartition& other) const {
    return topic != other.topic ? topic < other.topic : partition < other.partition;
  }
};

// A record handed out by the consumer, with where it came from.
struct KafkaConsumedRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  KafkaRecord record;
};

// Called on the consumer's thread with records in offset order per partition.
using KafkaBatchHandler = std::function<void(std::vector<KafkaConsumedRecord>)>;

// An assigned partition's progress.
struct KafkaPartitionProgress {
  KafkaPartition partition;
  std::optional<int64_t> durable_position;  // the next offset after the contiguous durable records
  std::optional<int64_t> committed;         // the position Kafka confirmed in this assignment
  std::size_t pending = 0;                  // handed out, not yet committable
  std::optional<int64_t> lag;               // high watermark - durable position, when both are known
};

// A consumer-group member with at-least-once delivery: auto commit and auto offset store are
// off; the caller says mark_durable() once it has made a record durable elsewhere, and only the
// contiguous durable prefix of each partition is ever committed: every commit_interval, and
// synchronously (at most socket_timeout) when a partition is revoked, before its pending records
// are forgotten. On assign it resumes from the committed offset (a new group starts from the
// earliest record, unless `auto.offset.reset` is set). So a rebalance, a restart or an outage
// never skips a record that was not durable; what comes again starts at the first record that was
// not durable, or, after a crash or a lost session (no commit on revoke then), at the last
// periodic commit.
//
// Thread safety: mark_durable(), partitions() and state() may be called from any thread; close()
// and the destructor not from the batch handler.
class KafkaConsumer {
 public:
  // Joins the group and subscribes in the background; does not block. `on_records` runs on the
  // consumer's thread until close(). Errors: kInvalidKafkaSettings.
  static Result<std::unique_ptr<KafkaConsumer>> create(const KafkaSettings& settings,
                                                       const KafkaConsumerSettings& consumer,
                                                       KafkaBatchHandler on_records);
  ~KafkaConsumer();  // close()
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  // The record at `offset` is durable. true when it was pending in a current assignment; false
  // when its partition was revoked since (its new owner gets it again) or the record is not
  // pending (never handed out, or committable already).
  bool mark_durable(std::string_view topic, int32_t partition, int64_t offset);

  // Stops handing out records and leaves the group, committing what is durable; blocks up to
  // close_timeout. No handler runs after it returns. Idempotent (later calls return the first
  // result). Errors: kKafkaCommitFailed, kKafkaCloseTimeout.
  Status close();

  // The current assignment, in order. Cheap: no request to Kafka (the watermark is cached).
  std::vector<KafkaPartitionProgress> partitions() const;
  KafkaClientState state() const;

 private:
  struct Impl;
  explicit KafkaConsumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fnd::eventing
