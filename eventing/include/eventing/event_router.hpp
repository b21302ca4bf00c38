// The event router: fnd's brokers and triggers at run time. It owns the declarations (brokers and
// triggers, kept in the store's ResourceRepository), one TriggerDispatcher per trigger over the
// durable event log, and the ingress path: publish() appends events to a broker's log and
// answers once they are durable, then wakes that broker's dispatchers. Replies of subscribers
// come back through the same path (the router is its dispatchers' ReplyPublisher).
//
// Cron triggers (a spec with a schedule): the router fires each one's CloudEvent into its broker
// at the scheduled times (id "NAME@TIME", so a firing repeated after a crash is a duplicate) and
// the trigger delivers only its own firings. The last firing is kept in the store: a firing
// missed while fnd was down is made once at start (the latest one missed), not once per slot.
//
// Maintenance: once started, the log is compacted hourly (events past eventing.retention that
// every trigger finished, expired dedup entries) on the blocking executor.
//
// Backpressure: a broker whose slowest trigger is more than options.max_backlog events behind
// refuses new events with 429 kBacklogFull (with a Retry-After), and the log's own write queue
// refuses with its 429 when full; an event answered 202 is never dropped.
//
// Kafka backend (eventing.backend: kafka, use_kafka()): a user broker's events go to the Kafka
// topic "fnd.broker.NAME" (acks=all, idempotent: 202 once every in-sync replica has them), and each
// trigger following it is a consumer group "fnd-trigger-NAME" of that topic (so the nodes of a
// cluster share the work): a relay (KafkaSources::relay) moves the records into the trigger's own
// staging broker in the local log, committing offsets only once they are durable there, and the
// trigger's dispatcher delivers from that staging broker with all its retry state. fnd's own
// brokers (fnd-async, the staging ones) stay in the local log. Duplicate suppression at ingress
// is in memory then (eventing.dedup_window, at most kKafkaDedupEntries entries, lost at a
// restart); the staging brokers' own suppression, in the log, keeps a duplicate record from
// being delivered twice. A new trigger's group starts at the topic's beginning: it delivers the
// events the topic still holds (Kafka's retention), and no partition is ever skipped.
//
// Threads: every call from the io thread (`executor`), load() before it runs. Declarations are
// small store writes made on the calling thread (as the function API does); appends never block
// it (the log's group commit completes them).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "eventing/cloud_event.hpp"
#include "eventing/dispatcher.hpp"
#include "eventing/sleeper.hpp"
#include "eventing/trigger.hpp"
#include "store/event_log.hpp"
#include "store/resource_repository.hpp"

namespace fnd::eventing {

inline constexpr std::string_view kBrokerNotFound = "broker_not_found";    // 404
inline constexpr std::string_view kTriggerNotFound = "trigger_not_found";  // 404
inline constexpr std::string_view kBrokerInUse = "broker_in_use";          // 409: triggers follow it
inline constexpr std::string_view kBacklogFull = "event_backlog_full";     // 429, with Retry-After
inline constexpr std::string_view kReservedName = "reserved_name";         // 422: names starting "fnd-"

// Broker and trigger names starting with this are fnd's own (users cannot make them).
inline constexpr std::string_view kReservedPrefix = "fnd-";
// fnd's own broker of asynchronous invocations (async_invocations.hpp); made at load().
inline constexpr std::string_view kAsyncBroker = "fnd-async";

class KafkaSink;
class KafkaSources;

// Entries of the Kafka backend's in-memory duplicate suppression (the oldest go first).
inline constexpr std::size_t kKafkaDedupEntries = 1'000'000;

struct KafkaBrokerBackend {
  KafkaSink& sink;
  KafkaSources& relays;
  std::string bootstrap_servers;
  std::string topic_prefix = "fnd.broker.";
  std::chrono::milliseconds produce_timeout = std::chrono::seconds(30);
  std::chrono::milliseconds dedup_window = std::chrono::minutes(10);
};

struct EventRouterOptions {
  // eventing.max_backlog: events a broker may hold that its slowest trigger has not finished.
  uint64_t max_backlog = 100000;
};

struct BrokerStatus {
  BrokerSpec spec;
  uint64_t head = 0;  // the last offset it gave out
  std::vector<std::string> triggers;
};

struct TriggerStatus {
  TriggerSpec spec;
  DispatcherStats stats;
  SystemTime created_at;
  SystemTime updated_at;
};

class EventRouter final : public ReplyPublisher {
 public:
  struct Services {
    store::EventLog& log;
    store::ResourceRepository& resources;
    Subscriber& subscriber;
    boost::asio::any_io_executor executor;
    boost::asio::any_io_executor blocking_executor;
    const Clock& clock;
  };

  EventRouter(Services services, EventRouterOptions options);
  ~EventRouter() override;
  EventRouter(const EventRouter&) = delete;
  EventRouter& operator=(const EventRouter&) = delete;

  // eventing.backend: kafka. Before load().
  void use_kafka(KafkaBrokerBackend backend);

  // Reads the brokers and triggers from the store (making the default broker when missing) and
  // each broker's head. Blocking; once, before start(). A stored trigger that no longer parses
  // is reported in the error and skipped, the others load.
  Status load();
  // Starts every trigger's dispatcher. Once, from the io thread.
  void start();
  // Stops every dispatcher (attempts under way are waited for, bounded by their timeout).
  boost::asio::awaitable<void> stop();

  // --- ingress --------------------------------------------------------------------------
  // Appends `events` to `broker`, durably, in one group commit, and answers per event its
  // offset and whether it was a duplicate (its (source, id) accepted within the dedup window).
  // Errors: kBrokerNotFound, kBacklogFull, the log's (429 backlog, 507 disk full, 503 closed).
  boost::asio::awaitable<Result<std::vector<store::AppendOutcome>>> publish(std::string broker,
                                                                            std::vector<CloudEvent> events);
  // ReplyPublisher: a subscriber's reply into the trigger's broker.
  boost::asio::awaitable<Status> publish(const std::string& broker, const CloudEvent& reply) override;

  // --- declarations -------------------------------------------------------------------------
  // true when created. The default broker always exists.
  boost::asio::awaitable<Result<bool>> put_broker(BrokerSpec spec);
  // Errors: kBrokerNotFound, kBrokerInUse (triggers follow it; delete them first), 409 for the
  // default broker.
  boost::asio::awaitable<Status> delete_broker(std::string name);
  std::vector<BrokerStatus> brokers() const;
  std::optional<BrokerStatus> broker(std::string_view name) const;

  // Creates or replaces a trigger (validated by parse_trigger): its dispatcher restarts with the
  // new spec and keeps its place in the log. Moving a trigger to another broker starts it at
  // that broker's head. Errors: kBrokerNotFound, store errors. true when created.
  boost::asio::awaitable<Result<bool>> put_trigger(TriggerSpec spec);
  // Stops its dispatcher and forgets it (and its place in the log). Errors: kTriggerNotFound.
  boost::asio::awaitable<Status> delete_trigger(std::string name);
  std::vector<TriggerStatus> triggers() const;
  std::optional<TriggerStatus> trigger(std::string_view name) const;

  // Appends the eventing series for /metrics (Prometheus text): per broker ingress counts and
  // backlog, per trigger deliveries, attempts, retries, dead letters and lag. io thread only
  // (a MetricsRegistry collector, rendered by the gateway on that thread).
  void render_metrics(std::string& out) const;

 private:
  struct Broker {
    BrokerSpec spec;
    uint64_t head = 0;
    // Since start: events stored, duplicates answered 202 without storing, events refused.
    uint64_t accepted = 0;
    uint64_t duplicates = 0;
    uint64_t refused = 0;
  };
  struct Trigger {
    TriggerSpec declared;  // as the user gave it (the dispatcher's may read a staging broker)
    std::unique_ptr<TriggerDispatcher> dispatcher;
    SystemTime created_at;
    SystemTime updated_at;
    // Cron triggers: the timer the firing loop waits on (cancelled to end it).
    std::shared_ptr<boost::asio::steady_timer> cron_timer;
  };

  std::unique_ptr<TriggerDispatcher> make_dispatcher(const TriggerSpec& spec);
  Trigger make_trigger(const TriggerSpec& spec, SystemTime created_at, SystemTime updated_at);
  // With the Kafka backend: whether `broker`'s events live in Kafka (not fnd's own brokers).
  bool in_kafka(std::string_view broker) const;
  static std::string staging_broker(std::string_view trigger);
  // Starts the relay of a trigger following a Kafka broker (its staging broker made).
  void start_relay(const TriggerSpec& spec);
  boost::asio::awaitable<void> stop_relay(std::string trigger);
  boost::asio::awaitable<Result<std::vector<store::AppendOutcome>>> publish_to_kafka(std::string broker,
                                                                                     std::vector<CloudEvent> events);
  // The offset through which every trigger of `broker` has finished; the head when none follows it.
  uint64_t slowest_cursor(const std::string& broker) const;
  void notify(const std::string& broker);
  // Every hour: the log drops what every trigger finished past eventing.retention.
  boost::asio::awaitable<void> compact_periodically();
  void start_cron(const std::string& name, Trigger& trigger);
  // Fires `name`'s schedule until its timer is cancelled.
  boost::asio::awaitable<void> fire_on_schedule(std::string name, TriggerSpec spec,
                                                std::shared_ptr<boost::asio::steady_timer> timer);

  Services services_;
  EventRouterOptions options_;
  TimerSleeper sleeper_;
  std::map<std::string, Broker, std::less<>> brokers_;
  std::map<std::string, Trigger, std::less<>> triggers_;
  bool started_ = false;
  boost::asio::steady_timer maintenance_;
  std::unique_ptr<KafkaBrokerBackend> kafka_;
  // The Kafka backend's duplicate suppression: "broker\0source\0id" -> when accepted.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> kafka_seen_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> kafka_seen_order_;
};

}  // namespace fnd::eventing
