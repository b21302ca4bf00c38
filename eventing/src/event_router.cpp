#include "eventing/event_router.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <type_traits>
#include <utility>

#include "core/json.hpp"
#include "core/metrics.hpp"
#include "core/time.hpp"
#include "eventing/cron.hpp"
#include "eventing/event_format.hpp"
#include "eventing/filter.hpp"
#include "eventing/kafka_sink.hpp"
#include "eventing/kafka_sources.hpp"

namespace fnd::eventing {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view kBrokerKind = "broker";
constexpr std::string_view kTriggerKind = "trigger";
constexpr std::string_view kCronStateKind = "cron-last-firing";

using AppendResult = Result<std::vector<store::AppendOutcome>>;

// The log completes an append on its writer thread; the caller's coroutine resumes on `executor`.
asio::awaitable<AppendResult> append_durably(store::EventLog& log, asio::any_io_executor executor, std::string broker,
                                             std::vector<store::NewEvent> events) {
  auto initiate = [&log, executor, &broker, &events](auto handler) {
    // std::function wants a copyable callable; the coroutine's handler is move-only.
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    Status queued = log.append_async(broker, std::move(events), [shared, executor](AppendResult result) {
      asio::post(executor, [shared, result = std::move(result)]() mutable { (*shared)(std::move(result)); });
    });
    if (!queued) {
      asio::post(executor, [shared, error = queued.error()]() mutable { (*shared)(AppendResult(std::move(error))); });
    }
  };
  return asio::async_initiate<decltype(asio::use_awaitable), void(AppendResult)>(initiate, asio::use_awaitable);
}

// Runs `work` (a blocking store call) on the blocking pool and resumes with its result.
template <typename F>
asio::awaitable<std::invoke_result_t<F>> on_blocking(asio::any_io_executor blocking_executor, F work) {
  using Out = std::optional<std::invoke_result_t<F>>;  // co_spawn wants a default-constructible result
  Out out = co_await asio::co_spawn(
      blocking_executor, [&work]() -> asio::awaitable<Out> { co_return work(); }, asio::use_awaitable);
  co_return std::move(*out);
}

asio::awaitable<void> stop_dispatcher(TriggerDispatcher* dispatcher) {
  if (dispatcher != nullptr) co_await dispatcher->stop();
}

Error reserved(std::string_view what, std::string_view name) {
  return make_error(
      std::string(kReservedName),
      fmt::format("{} names starting with '{}' are fnd's own; '{}' cannot be used", what, kReservedPrefix, name), 422);
}

Error broker_not_found(std::string_view name) {
  return make_error(std::string(kBrokerNotFound),
                    fmt::format("no broker named '{}'; create it with fnctl broker create {}", name, name), 404);
}

}  // namespace

EventRouter::EventRouter(Services services, EventRouterOptions options)
    : services_(services), options_(options), sleeper_(services.clock), maintenance_(services.executor) {}

EventRouter::~EventRouter() = default;

void EventRouter::use_kafka(KafkaBrokerBackend backend) { kafka_ = std::make_unique<KafkaBrokerBackend>(backend); }

bool EventRouter::in_kafka(std::string_view broker) const {
  return kafka_ != nullptr && !broker.starts_with(kReservedPrefix);
}

std::string EventRouter::staging_broker(std::string_view trigger) { return "fnd-trigger-" + std::string(trigger); }

void EventRouter::start_relay(const TriggerSpec& spec) {
  const std::string staging = staging_broker(spec.name);
  if (!brokers_.contains(staging)) {
    Broker added{BrokerSpec{staging}};
    auto head = services_.log.head(staging);  // a trigger made again finds its old staging offsets
    added.head = head ? *head : 0;
    brokers_[staging] = added;
  }
  SourceSpec relay;
  relay.name = staging;
  relay.bootstrap_servers = kafka_->bootstrap_servers;
  relay.topics = {kafka_->topic_prefix + spec.broker};
  relay.broker = staging;
  relay.consumer_group = staging;
  // From the topic's beginning: a group that never committed for a partition (a new trigger, or a
  // partition that had no record yet when fnd was killed) must not skip what that partition holds.
  relay.start_at_latest = false;
  kafka_->relays.relay(std::move(relay));
}

asio::awaitable<void> EventRouter::stop_relay(std::string trigger) {
  if (kafka_ == nullptr) co_return;
  co_await kafka_->relays.drop_relay(staging_broker(trigger));
}

EventRouter::Trigger EventRouter::make_trigger(const TriggerSpec& spec, SystemTime created_at, SystemTime updated_at) {
  Trigger trigger;
  trigger.declared = spec;
  trigger.dispatcher = make_dispatcher(spec);
  trigger.created_at = created_at;
  trigger.updated_at = updated_at;
  if (in_kafka(spec.broker)) start_relay(spec);
  return trigger;
}

Status EventRouter::load() {
  auto stored_brokers = services_.resources.list(kBrokerKind);
  if (!stored_brokers) return stored_brokers.error();
  for (const auto& resource : *stored_brokers) brokers_[resource.name] = Broker{BrokerSpec{resource.name}};
  for (std::string_view always : {kDefaultBroker, kAsyncBroker}) {
    if (brokers_.contains(always)) continue;
    BrokerSpec spec{std::string(always)};
    if (auto put = services_.resources.put(kBrokerKind, spec.name, json::serialize(broker_to_json(spec))); !put) {
      return put.error();
    }
    brokers_[spec.name] = Broker{spec};
  }
  for (auto& [name, broker] : brokers_) {
    auto head = services_.log.head(name);
    if (!head) return head.error();
    broker.head = *head;
  }
  auto stored_triggers = services_.resources.list(kTriggerKind);
  if (!stored_triggers) return stored_triggers.error();
  std::vector<std::string> unreadable;
  for (const auto& resource : *stored_triggers) {
    auto parsed = parse_json(resource.spec);
    Result<TriggerSpec> spec = parsed ? parse_trigger(*parsed) : Result<TriggerSpec>(parsed.error());
    if (!spec || !brokers_.contains(spec->broker)) {
      unreadable.push_back(resource.name);
      spdlog::error("trigger {} is not loaded: {}", resource.name,
                    spec ? fmt::format("its broker {} does not exist", spec->broker) : spec.error().message);
      continue;
    }
    triggers_[resource.name] = make_trigger(*spec, resource.created_at, resource.updated_at);
  }
  spdlog::info("eventing: {} brokers, {} triggers", brokers_.size(), triggers_.size());
  if (!unreadable.empty()) {
    return make_error("trigger_unreadable", fmt::format("{} stored triggers could not be loaded ({}); put them again",
                                                        unreadable.size(), fmt::join(unreadable, ", ")));
  }
  return {};
}

std::unique_ptr<TriggerDispatcher> EventRouter::make_dispatcher(const TriggerSpec& declared) {
  TriggerSpec spec = declared;
  // Following a Kafka broker, the dispatcher reads the trigger's staging broker its relay fills.
  if (in_kafka(declared.broker)) spec.broker = staging_broker(declared.name);
  if (spec.schedule) {
    // A cron trigger delivers its own firings only (and then whatever its filters allow).
    Filter own;
    own.kind = FilterKind::exact;
    own.attributes.emplace("type", std::string(kCronEventType));
    own.attributes.emplace("source", cron_event_source(spec.name));
    spec.filters.insert(spec.filters.begin(), std::move(own));
  }
  DispatcherServices services{
      services_.log, services_.executor, services_.blocking_executor, services_.subscriber, *this, services_.clock,
      sleeper_};
  services.random_seed = std::random_device{}();  // jitter differs between triggers and runs
  auto dispatcher = std::make_unique<TriggerDispatcher>(spec, services);
  return dispatcher;
}

void EventRouter::start() {
  started_ = true;
  for (auto& [name, trigger] : triggers_) {
    trigger.dispatcher->start();
    start_cron(name, trigger);
  }
  asio::co_spawn(services_.executor, compact_periodically(), asio::detached);
}

asio::awaitable<void> EventRouter::compact_periodically() {
  while (started_) {
    maintenance_.expires_after(std::chrono::hours(1));
    auto [cancelled] = co_await maintenance_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (cancelled || !started_) break;
    auto report = co_await on_blocking(services_.blocking_executor,
                                       [this] { return services_.log.compact(std::chrono::system_clock::now()); });
    if (!report) {
      spdlog::warn("event log compaction failed (retried in an hour): {}", report.error().message);
    } else if (report->events_removed > 0) {
      spdlog::info("event log compacted: {} events, {} dedup entries removed", report->events_removed,
                   report->dedup_entries_removed);
    }
  }
}

asio::awaitable<void> EventRouter::stop() {
  started_ = false;
  maintenance_.cancel();
  for (auto& [name, trigger] : triggers_) {
    if (trigger.cron_timer) trigger.cron_timer->cancel();
  }
  for (auto& [name, trigger] : triggers_) co_await trigger.dispatcher->stop();
}

uint64_t EventRouter::slowest_cursor(const std::string& broker) const {
  auto found = brokers_.find(broker);
  uint64_t slowest = found == brokers_.end() ? 0 : found->second.head;
  for (const auto& [name, trigger] : triggers_) {
    if (trigger.dispatcher->spec().broker == broker) slowest = std::min(slowest, trigger.dispatcher->stats().cursor);
  }
  return slowest;
}

void EventRouter::notify(const std::string& broker) {
  for (auto& [name, trigger] : triggers_) {
    if (trigger.dispatcher->spec().broker == broker) trigger.dispatcher->notify_new_events();
  }
}

asio::awaitable<Result<std::vector<store::AppendOutcome>>> EventRouter::publish(std::string broker,
                                                                                std::vector<CloudEvent> events) {
  auto found = brokers_.find(broker);
  if (found == brokers_.end()) co_return broker_not_found(broker);
  if (in_kafka(broker)) co_return co_await publish_to_kafka(std::move(broker), std::move(events));
  const uint64_t backlog = found->second.head - std::min(found->second.head, slowest_cursor(broker));
  if (backlog + events.size() > options_.max_backlog) {
    found->second.refused += events.size();
    Error full = make_error(std::string(kBacklogFull),
                            fmt::format("broker '{}' holds {} events its triggers have not finished "
                                        "(eventing.max_backlog is {}); retry later",
                                        broker, backlog, options_.max_backlog),
                            429);
    full.retry_after_seconds = 1;
    co_return full;
  }
  std::vector<store::NewEvent> records;
  records.reserve(events.size());
  for (const auto& event : events) {
    records.push_back({std::string(event.id()), std::string(event.source()), to_json(event)});
  }
  const size_t count = records.size();
  AppendResult appended = co_await append_durably(services_.log, services_.executor, broker, std::move(records));
  // The broker may have been deleted while the append was under way; its events stay in the log.
  auto again = brokers_.find(broker);
  if (again == brokers_.end()) co_return appended;
  if (!appended) {
    again->second.refused += count;
    co_return appended;
  }
  for (const auto& outcome : *appended) {
    again->second.head = std::max(again->second.head, outcome.offset);
    ++(outcome.duplicate ? again->second.duplicates : again->second.accepted);
  }
  notify(broker);
  co_return appended;
}

asio::awaitable<Result<std::vector<store::AppendOutcome>>> EventRouter::publish_to_kafka(
    std::string broker, std::vector<CloudEvent> events) {
  const auto now = std::chrono::steady_clock::now();
  while (!kafka_seen_order_.empty() && now - kafka_seen_order_.front().first > kafka_->dedup_window) {
    auto seen = kafka_seen_.find(kafka_seen_order_.front().second);
    if (seen != kafka_seen_.end() && seen->second == kafka_seen_order_.front().first) kafka_seen_.erase(seen);
    kafka_seen_order_.pop_front();
  }
  std::vector<store::AppendOutcome> outcomes(events.size());
  std::vector<CloudEvent> fresh;
  std::vector<size_t> fresh_at;
  std::vector<std::string> fresh_keys;
  for (size_t i = 0; i < events.size(); ++i) {
    std::string key = broker;
    key += '\0';
    key += events[i].source();
    key += '\0';
    key += events[i].id();
    const bool repeated_in_batch = std::find(fresh_keys.begin(), fresh_keys.end(), key) != fresh_keys.end();
    if (kafka_seen_.contains(key) || repeated_in_batch) {
      outcomes[i].duplicate = true;
      continue;
    }
    fresh.push_back(std::move(events[i]));
    fresh_at.push_back(i);
    fresh_keys.push_back(std::move(key));
  }
  Result<std::vector<KafkaDelivery>> produced = std::vector<KafkaDelivery>{};
  if (!fresh.empty()) {
    produced = co_await kafka_->sink.produce_all(kafka_->topic_prefix + broker, fresh, kafka_->produce_timeout);
  }
  auto again = brokers_.find(broker);
  if (!produced) {
    if (again != brokers_.end()) again->second.refused += events.size();
    co_return produced.error();
  }
  for (size_t j = 0; j < fresh_at.size(); ++j) {
    outcomes[fresh_at[j]].offset = static_cast<uint64_t>((*produced)[j].offset);
    kafka_seen_.insert_or_assign(fresh_keys[j], now);
    kafka_seen_order_.emplace_back(now, std::move(fresh_keys[j]));
  }
  while (kafka_seen_order_.size() > kKafkaDedupEntries) {
    auto seen = kafka_seen_.find(kafka_seen_order_.front().second);
    if (seen != kafka_seen_.end() && seen->second == kafka_seen_order_.front().first) kafka_seen_.erase(seen);
    kafka_seen_order_.pop_front();
  }
  if (again != brokers_.end()) {
    again->second.accepted += fresh.size();
    again->second.duplicates += events.size() - fresh.size();
    again->second.head += fresh.size();
  }
  co_return outcomes;
}

asio::awaitable<Status> EventRouter::publish(const std::string& broker, const CloudEvent& reply) {
  std::vector<CloudEvent> one{reply};
  // A trigger reading a staging broker replies into the broker it follows.
  std::string target = broker;
  if (auto trigger = triggers_.find(broker.substr(std::min(broker.size(), staging_broker("").size())));
      kafka_ != nullptr && broker.starts_with(staging_broker("")) && trigger != triggers_.end()) {
    target = trigger->second.declared.broker;
  }
  auto appended = co_await publish(target, std::move(one));
  if (!appended) co_return appended.error();
  co_return Status{};
}

asio::awaitable<Result<bool>> EventRouter::put_broker(BrokerSpec spec) {
  if (Status valid = validate_broker_name(spec.name); !valid) co_return valid.error();
  if (spec.name.starts_with(kReservedPrefix)) co_return reserved("broker", spec.name);
  auto put = services_.resources.put(kBrokerKind, spec.name, json::serialize(broker_to_json(spec)));
  if (!put) co_return put.error();
  if (!brokers_.contains(spec.name)) {
    auto head = services_.log.head(spec.name);  // a broker made again finds its old events' offsets
    Broker& added = brokers_[spec.name];
    added.spec = spec;
    added.head = head ? *head : 0;
  }
  co_return *put;
}

asio::awaitable<Status> EventRouter::delete_broker(std::string name) {
  if (name == kDefaultBroker || name.starts_with(kReservedPrefix)) {
    co_return make_error(std::string(kBrokerInUse), fmt::format("broker '{}' is fnd's own and cannot be deleted", name),
                         409);
  }
  if (!brokers_.contains(name)) co_return broker_not_found(name);
  std::vector<std::string> followers;
  for (const auto& [trigger_name, trigger] : triggers_) {
    if (trigger.declared.broker == name) followers.push_back(trigger_name);
  }
  if (!followers.empty()) {
    co_return make_error(
        std::string(kBrokerInUse),
        fmt::format("broker '{}' is followed by triggers {}; delete them first", name, fmt::join(followers, ", ")),
        409);
  }
  auto removed = services_.resources.remove(kBrokerKind, name);
  if (!removed) co_return removed.error();
  brokers_.erase(name);
  co_return Status{};
}

std::vector<BrokerStatus> EventRouter::brokers() const {
  std::vector<BrokerStatus> out;
  for (const auto& [name, broker] : brokers_) out.push_back(*this->broker(name));
  return out;
}

std::optional<BrokerStatus> EventRouter::broker(std::string_view name) const {
  auto found = brokers_.find(name);
  if (found == brokers_.end()) return std::nullopt;
  BrokerStatus status{found->second.spec, found->second.head, {}};
  for (const auto& [trigger_name, trigger] : triggers_) {
    if (trigger.declared.broker == name) status.triggers.push_back(trigger_name);
  }
  return status;
}

asio::awaitable<Result<bool>> EventRouter::put_trigger(TriggerSpec spec) {
  if (Status valid = validate(spec); !valid) co_return valid.error();
  if (spec.name.starts_with(kReservedPrefix)) co_return reserved("trigger", spec.name);
  if (!brokers_.contains(spec.broker)) co_return broker_not_found(spec.broker);
  if (Status usable = services_.subscriber.can_deliver_to(spec.subscriber); !usable) co_return usable.error();
  if (spec.dead_letter) {
    if (Status usable = services_.subscriber.can_deliver_to(*spec.dead_letter); !usable) co_return usable.error();
  }
  auto put = services_.resources.put(kTriggerKind, spec.name, json::serialize(trigger_to_json(spec)));
  if (!put) co_return put.error();
  const SystemTime now = std::chrono::system_clock::now();
  SystemTime created_at = now;
  std::unique_ptr<TriggerDispatcher> old;
  if (auto found = triggers_.find(spec.name); found != triggers_.end()) {
    created_at = found->second.created_at;
    old = std::move(found->second.dispatcher);
    if (found->second.cron_timer) found->second.cron_timer->cancel();
    triggers_.erase(found);
  }
  co_await stop_dispatcher(old.get());
  co_await stop_relay(spec.name);
  if (old && old->spec().broker != spec.broker) {
    // Its place in the old broker's log means nothing in the new one: start at the new head.
    std::string consumer = consumer_name(spec.name);
    auto removed = co_await on_blocking(services_.blocking_executor,
                                        [this, &consumer] { return services_.log.remove_consumer(consumer); });
    if (!removed) co_return removed.error();
  }
  auto& trigger = triggers_[spec.name];
  trigger = make_trigger(spec, created_at, now);
  if (started_) {
    trigger.dispatcher->start();
    start_cron(spec.name, trigger);
  }
  co_return *put;
}

asio::awaitable<Status> EventRouter::delete_trigger(std::string name) {
  if (name.starts_with(kReservedPrefix)) co_return reserved("trigger", name);
  auto found = triggers_.find(name);
  if (found == triggers_.end()) {
    co_return make_error(std::string(kTriggerNotFound), fmt::format("no trigger named '{}'", name), 404);
  }
  auto removed = services_.resources.remove(kTriggerKind, name);
  if (!removed) co_return removed.error();
  auto dispatcher = std::move(found->second.dispatcher);
  if (found->second.cron_timer) found->second.cron_timer->cancel();
  triggers_.erase(found);
  co_await dispatcher->stop();
  co_await stop_relay(name);
  brokers_.erase(staging_broker(name));
  (void)services_.resources.remove(kCronStateKind, name);
  std::string consumer = consumer_name(name);
  auto forgotten = co_await on_blocking(services_.blocking_executor,
                                        [this, &consumer] { return services_.log.remove_consumer(consumer); });
  if (!forgotten) {
    spdlog::warn("trigger {} deleted, but its place in the event log stays: {}", name, forgotten.error().message);
  }
  co_return Status{};
}

std::vector<TriggerStatus> EventRouter::triggers() const {
  std::vector<TriggerStatus> out;
  for (const auto& [name, trigger] : triggers_) out.push_back(*this->trigger(name));
  return out;
}

std::optional<TriggerStatus> EventRouter::trigger(std::string_view name) const {
  auto found = triggers_.find(name);
  if (found == triggers_.end()) return std::nullopt;
  const auto& dispatcher = *found->second.dispatcher;
  return TriggerStatus{found->second.declared, dispatcher.stats(), found->second.created_at, found->second.updated_at};
}

void EventRouter::start_cron(const std::string& name, Trigger& trigger) {
  if (!trigger.dispatcher->spec().schedule) return;
  trigger.cron_timer = std::make_shared<asio::steady_timer>(services_.executor);
  // The dispatcher's spec carries the added filter; the loop needs only the schedule and broker.
  asio::co_spawn(services_.executor, fire_on_schedule(name, trigger.dispatcher->spec(), trigger.cron_timer),
                 asio::detached);
}

asio::awaitable<void> EventRouter::fire_on_schedule(std::string name, TriggerSpec spec,
                                                    std::shared_ptr<asio::steady_timer> timer) {
  auto schedule = CronSchedule::parse(spec.schedule->cron, spec.schedule->time_zone);
  if (!schedule) {
    spdlog::error("cron trigger {} does not fire: {}", name, schedule.error().message);
    co_return;
  }
  // Where the schedule stands: the last firing made, or the trigger's creation.
  SystemTime last = std::chrono::system_clock::now();
  auto state = services_.resources.get(kCronStateKind, name);
  if (state && *state) {
    if (auto at = parse_rfc3339((*state)->spec)) last = *at;
  } else if (auto found = triggers_.find(name); found != triggers_.end()) {
    last = found->second.created_at;
  }
  // Still the live loop of a live trigger (a replaced or deleted trigger cancels its timer, but the
  // loop may be elsewhere than on that timer then).
  auto live = [this, &name, &timer] {
    auto found = triggers_.find(name);
    return started_ && found != triggers_.end() && found->second.cron_timer == timer;
  };
  while (live()) {
    const SystemTime now = std::chrono::system_clock::now();
    std::optional<SystemTime> next = schedule->next_after(last);
    if (!next) {
      spdlog::warn("cron trigger {}: '{}' never fires again", name, spec.schedule->cron);
      co_return;
    }
    // Slots missed while fnd was down: only the latest one fires.
    int skipped = 0;
    for (auto later = schedule->next_after(*next); later && *later <= now && skipped < 1000000; ++skipped) {
      next = later;
      later = schedule->next_after(*next);
    }
    if (*next > now) {
      timer->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(*next - now));
      auto [waited] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
      if (waited) co_return;  // cancelled: the trigger was replaced, deleted or fnd stops
      if (std::chrono::system_clock::now() < *next) continue;  // the wall clock moved back
    }
    CloudEvent firing;
    const std::string slot = format_rfc3339(*next);
    firing.set_attribute("specversion", std::string("1.0"));
    firing.set_attribute("id", fmt::format("{}@{}", name, slot));
    firing.set_attribute("source", cron_event_source(name));
    firing.set_attribute("type", std::string(kCronEventType));
    firing.set_attribute("time", slot);
    firing.set_attribute("datacontenttype", std::string("application/json"));
    firing.data = json::serialize(json::object{{"trigger", name},
                                               {"schedule", spec.schedule->cron},
                                               {"timezone", spec.schedule->time_zone},
                                               {"scheduledTime", slot},
                                               {"missed", skipped}});
    std::vector<CloudEvent> one;
    one.push_back(std::move(firing));
    auto published = co_await publish(spec.broker, std::move(one));
    if (!live()) co_return;
    if (!published) {
      spdlog::warn("cron trigger {}: the firing of {} was not stored ({}); trying again in a second", name, slot,
                   published.error().message);
      timer->expires_after(std::chrono::seconds(1));
      auto [cancelled] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
      if (cancelled) co_return;
      continue;
    }
    last = *next;
    auto kept = services_.resources.put(kCronStateKind, name, slot);
    if (!kept) spdlog::warn("cron trigger {}: its last firing could not be kept: {}", name, kept.error().message);
  }
}

void EventRouter::render_metrics(std::string& out) const {
  auto series = [&out](std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  auto line = [&out](std::string_view name, std::string_view label, std::string_view value, uint64_t number) {
    fmt::format_to(std::back_inserter(out), "{}{{{}=\"{}\"}} {}\n", name, label, escape_label(value), number);
  };
  series("fnd_events_accepted_total", "counter", "Events a broker stored (answered 202).");
  for (const auto& [name, broker] : brokers_) line("fnd_events_accepted_total", "broker", name, broker.accepted);
  series("fnd_events_duplicates_total", "counter", "Events answered 202 but not stored: seen within the dedup window.");
  for (const auto& [name, broker] : brokers_) line("fnd_events_duplicates_total", "broker", name, broker.duplicates);
  series("fnd_events_refused_total", "counter", "Events refused at ingress (backlog full, log queue full, disk full).");
  for (const auto& [name, broker] : brokers_) line("fnd_events_refused_total", "broker", name, broker.refused);
  series("fnd_broker_backlog", "gauge", "Events a broker holds that its slowest trigger has not finished.");
  for (const auto& [name, broker] : brokers_) {
    line("fnd_broker_backlog", "broker", name, broker.head - std::min(broker.head, slowest_cursor(name)));
  }
  struct Field {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    uint64_t DispatcherStats::*member;
  };
  static constexpr Field kFields[] = {
      {"fnd_trigger_delivered_total", "counter", "Events a trigger delivered.", &DispatcherStats::delivered},
      {"fnd_trigger_dead_lettered_total", "counter", "Events a trigger gave up on (sent to its dead-letter sink).",
       &DispatcherStats::dead_lettered},
      {"fnd_trigger_attempts_total", "counter", "Delivery attempts to the subscriber.", &DispatcherStats::attempts},
      {"fnd_trigger_failed_attempts_total", "counter",
       "Delivery attempts that failed (each is retried or dead-lettered).", &DispatcherStats::failed_attempts},
      {"fnd_trigger_filtered_total", "counter", "Events the trigger's filters dropped.", &DispatcherStats::filtered},
      {"fnd_trigger_replies_total", "counter", "Replies published back to the broker.", &DispatcherStats::replies},
      {"fnd_trigger_retrying", "gauge", "Events waiting for a retry now.", &DispatcherStats::retrying},
      {"fnd_trigger_in_flight", "gauge", "Events under way now (retry waits included).", &DispatcherStats::in_flight},
  };
  std::vector<std::pair<std::string_view, DispatcherStats>> stats;
  for (const auto& [name, trigger] : triggers_) stats.emplace_back(name, trigger.dispatcher->stats());
  for (const auto& field : kFields) {
    series(field.name, field.type, field.help);
    for (const auto& [name, snapshot] : stats) line(field.name, "trigger", name, snapshot.*field.member);
  }
  series("fnd_trigger_lag", "gauge", "Events of its broker a trigger has not finished (head - cursor).");
  for (const auto& [name, trigger] : triggers_) {
    auto broker = brokers_.find(trigger.dispatcher->spec().broker);
    const uint64_t head = broker == brokers_.end() ? 0 : broker->second.head;
    const uint64_t cursor = trigger.dispatcher->stats().cursor;
    line("fnd_trigger_lag", "trigger", name, head - std::min(head, cursor));
  }
}

}  // namespace fnd::eventing
