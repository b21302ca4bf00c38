#include "eventing/dispatcher.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "core/base64.hpp"
#include "core/error.hpp"
#include "core/notifier.hpp"
#include "core/time.hpp"
#include "encoding.hpp"
#include "eventing/cloud_event.hpp"
#include "eventing/delivery.hpp"
#include "eventing/event_format.hpp"
#include "eventing/filter.hpp"
#include "eventing/sleeper.hpp"
#include "eventing/trigger.hpp"
#include "store/event_log.hpp"

namespace fnd::eventing {

namespace asio = boost::asio;

std::string consumer_name(std::string_view trigger_name) { return "trigger:" + std::string(trigger_name); }

std::string_view to_string(DispatcherState state) {
  switch (state) {
    case DispatcherState::created:
      return "created";
    case DispatcherState::starting:
      return "starting";
    case DispatcherState::running:
      return "running";
    case DispatcherState::failed:
      return "failed";
    case DispatcherState::stopped:
      return "stopped";
  }
  return "created";
}

namespace internal {

namespace {

constexpr std::string_view kTtlExtension = "fndttl";
constexpr int64_t kDefaultTtl = 255;
constexpr std::string_view kPartitionKeyExtension = "partitionkey";
constexpr SteadyTime kForever = SteadyTime::max();

// The hop counter of an event: its fndttl (an Integer, or a String of digits as the binary
// bindings give it), 255 when absent or unreadable.
int64_t ttl_of(const CloudEvent& event) {
  const AttributeValue* value = event.attribute(kTtlExtension);
  if (value == nullptr) return kDefaultTtl;
  if (const auto* number = std::get_if<int64_t>(value)) return *number;
  if (const auto* text = std::get_if<std::string>(value)) {
    int64_t number = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), number);
    if (ec == std::errc() && end == text->data() + text->size()) return number;
  }
  return kDefaultTtl;
}

std::string partition_key_of(const CloudEvent& event) {
  const AttributeValue* value = event.attribute(kPartitionKeyExtension);
  return value == nullptr ? std::string() : to_canonical_string(*value);
}

// fnderrorcode: the HTTP status as text, or the error code.
std::string error_code_of(const AttemptResult& result) {
  if (result.status != 0) return std::to_string(result.status);
  return result.error.empty() ? std::string("error") : result.error;
}

// The error text kept in the log. Its first word is the error code: a dead letter made after a
// restart (when only this text is left) takes fnderrorcode from it.
std::string describe_failure(const Destination& destination, const AttemptResult& result) {
  std::string text = fmt::format("{} from {}", error_code_of(result), to_string(destination));
  if (!result.body.empty()) text += ": " + quote_for_message(result.body);
  return text;
}

std::string code_from_error_text(std::string_view text) {
  const std::string_view code = text.substr(0, text.find(' '));
  return code.empty() ? std::string("error") : std::string(code);
}

bool is_retryable_publish_error(const Error& error) {
  return error.retryable || error.http_status == 429 || error.http_status == 503 || error.http_status == 507;
}

// A log write that waiting will not mend: the trigger's consumer was removed under it (the
// trigger is being deleted) or re-pointed, or its bookkeeping disagrees with the log. Anything
// else (a full queue, a full disk, an I/O error) is tried again.
bool is_permanent_log_error(const Error& error) {
  return error.code == store::kConsumerNotFound || error.code == store::kConsumerOnOtherBroker ||
         error.code == store::kOffsetOutOfRange;
}

}  // namespace

// One event read from the log and not finished yet.
struct Delivery {
  uint64_t offset = 0;
  std::optional<CloudEvent> event;  // nullopt: the stored payload is not an event (`unreadable` says why)
  std::string unreadable;
  std::string key;         // ordered mode: its partition key
  uint32_t attempts = 0;   // recorded attempts, subscriber's and then the dead-letter sink's
  SteadyTime next_at{};    // when the next attempt is due
  std::string last_error;  // the subscriber's last failure
};

class DispatcherEngine : public std::enable_shared_from_this<DispatcherEngine> {
 public:
  DispatcherEngine(TriggerSpec spec, DispatcherServices services, DispatcherOptions options)
      : spec_(std::move(spec)),
        s_(services),
        options_(options),
        consumer_(consumer_name(spec_.name)),
        steady_at_start_(services.clock.now()),
        wall_at_start_(services.wall_now),
        rng_(services.random_seed) {}

  ~DispatcherEngine() { assert(active_ == 0 && "stop() the dispatcher and let it complete before destroying it"); }

  const TriggerSpec& spec() const { return spec_; }

  void start() {
    assert(state_ == DispatcherState::created && "start() a dispatcher once");
    set_state(DispatcherState::starting);
    ++active_;
    asio::co_spawn(s_.executor, run_reader(), asio::detached);
  }

  asio::awaitable<void> stop() {
    stopping_ = true;
    s_.sleeper.wake_all();
    changed_.notify_all();
    while (active_ > 0) co_await idle_.wait_until(kForever);
    if (state_ != DispatcherState::failed) set_state(DispatcherState::stopped);
  }

  void notify_new_events() {
    // One wake-up in flight is enough: the reader clears the flag before each read.
    if (new_events_.exchange(true)) return;
    asio::post(s_.executor, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->changed_.notify_all();
    });
  }

  DispatcherStats stats() const {
    std::lock_guard lock(stats_mutex_);
    return stats_;
  }

 private:
  // Counts a coroutine of this engine while it runs: stop() waits for the count to reach 0.
  struct Running {
    DispatcherEngine* engine;
    ~Running() {
      if (--engine->active_ == 0) engine->idle_.notify_all();
    }
  };

  // --- the reader --------------------------------------------------------------------------

  asio::awaitable<void> run_reader() {
    Running running{this};
    if (!co_await initialize()) co_return;
    set_state(DispatcherState::running);
    while (!stopping_) {
      if (read_after_ - cursor_ >= options_.max_window) {
        co_await changed_.wait_until(kForever);
        continue;
      }
      new_events_.store(false);
      const uint64_t room = options_.max_window - (read_after_ - cursor_);
      const size_t limit = static_cast<size_t>(std::min<uint64_t>(options_.read_batch, room));
      auto batch = co_await read_blocking<std::vector<store::LoggedEvent>>(
          [this, after = read_after_, limit] { return s_.log.read(spec_.broker, after, limit); });
      if (stopping_) break;
      if (!batch) {
        note_error(fmt::format("reading broker '{}' failed: {}", spec_.broker, batch.error().message));
        co_await pause();
        continue;
      }
      if (batch->empty()) {
        // Caught up: only an append (or stop) gives the reader work, not a finished delivery.
        while (!new_events_.load() && !stopping_) co_await changed_.wait_until(kForever);
        continue;
      }
      for (store::LoggedEvent& logged : *batch) {
        if (!co_await take(std::move(logged))) break;
      }
      advance_cursor();
    }
  }

  // Loads the consumer (creating it at the broker's head when new) and what a previous run left:
  // false when stopping or failed.
  asio::awaitable<bool> initialize() {
    while (!stopping_) {
      auto counters =
          co_await read_blocking<std::optional<store::ConsumerCounters>>([this] { return s_.log.counters(consumer_); });
      if (!counters) {
        note_error(fmt::format("reading the trigger's state failed: {}", counters.error().message));
        co_await pause();
        continue;
      }
      if (!counters->has_value()) {
        uint64_t start = 0;
        if (!options_.deliver_existing_events) {
          auto head = co_await read_blocking<uint64_t>([this] { return s_.log.head(spec_.broker); });
          if (!head) {
            note_error(fmt::format("reading broker '{}' failed: {}", spec_.broker, head.error().message));
            co_await pause();
            continue;
          }
          start = *head;
        }
        Status created = co_await log_write([this, start](store::EventLog::StatusCallback done) {
          return s_.log.set_cursor_async(consumer_, spec_.broker, start, std::move(done));
        });
        if (!created) {
          if (created.error().code == store::kConsumerOnOtherBroker) co_return fail(created.error());
          note_error(
              fmt::format("subscribing the trigger to broker '{}' failed: {}", spec_.broker, created.error().message));
          co_await pause();
          continue;
        }
        cursor_ = start;
      } else {
        const store::ConsumerCounters& found = **counters;
        if (found.broker != spec_.broker) {
          co_return fail(make_error(std::string(kTriggerOnOtherBroker),
                                    fmt::format("trigger '{}' has been following broker '{}', not '{}': remove its "
                                                "event consumer '{}' to start it at the new broker's head",
                                                spec_.name, found.broker, spec_.broker, consumer_),
                                    409));
        }
        auto pending = co_await read_blocking<std::vector<store::PendingDelivery>>(
            [this] { return s_.log.unfinished(consumer_, static_cast<size_t>(options_.max_window)); });
        auto finished = co_await read_blocking<std::vector<uint64_t>>(
            [this] { return s_.log.finished_past_cursor(consumer_, static_cast<size_t>(options_.max_window)); });
        if (!pending || !finished) {
          note_error(fmt::format("reading the trigger's deliveries failed: {}",
                                 (!pending ? pending.error() : finished.error()).message));
          co_await pause();
          continue;
        }
        cursor_ = found.cursor;
        for (store::PendingDelivery& delivery : *pending) resume_.emplace(delivery.offset, std::move(delivery));
        finished_on_disk_.insert(finished->begin(), finished->end());
      }
      read_after_ = cursor_;
      update_stats([](DispatcherStats&) {});
      co_return true;
    }
    co_return false;
  }

  // Takes one event read from the log: skips it, filters it or hands it to a delivery (waiting
  // for room first). false when stopping.
  asio::awaitable<bool> take(store::LoggedEvent logged) {
    const uint64_t offset = logged.offset;
    if (finished_on_disk_.erase(offset) > 0) {
      read_after_ = offset;
      co_return true;
    }
    Delivery delivery;
    delivery.offset = offset;
    auto parsed = parse_json_event(logged.payload);
    if (parsed) {
      const FilterVerdict verdict = evaluate(spec_.filters, *parsed);
      if (!verdict.matches) {
        resume_.erase(offset);
        read_after_ = offset;
        update_stats([](DispatcherStats& stats) { ++stats.filtered; });
        co_return true;
      }
      delivery.key = partition_key_of(*parsed);
      delivery.event = std::move(parsed).value();
    } else {
      delivery.unreadable = parsed.error().message;
    }
    delivery.next_at = s_.clock.now();
    if (auto resumed = resume_.find(offset); resumed != resume_.end()) {
      delivery.attempts = resumed->second.attempts;
      delivery.next_at = steady_of(resumed->second.next_attempt_at);
      delivery.last_error = std::move(resumed->second.last_error);
      resume_.erase(resumed);
    }
    const size_t room =
        spec_.ordering.mode == OrderingMode::ordered ? options_.max_ordered_backlog : spec_.ordering.max_in_flight;
    while (open_.size() >= room && !stopping_) co_await changed_.wait_until(kForever);
    if (stopping_) co_return false;
    open_.insert(offset);
    read_after_ = offset;
    dispatch(std::move(delivery));
    co_return true;
  }

  void dispatch(Delivery delivery) {
    if (spec_.ordering.mode == OrderingMode::ordered && delivery.event) {
      auto [waiting, fresh] = keys_.try_emplace(delivery.key);
      if (!fresh) {
        waiting->second.push_back(std::move(delivery));
        ++queued_;
        update_stats([](DispatcherStats&) {});
        return;
      }
      // The key is copied before the call: its parameters are built in no set order, and the
      // Delivery one is moved from `delivery`.
      std::string key = delivery.key;
      ++active_;
      asio::co_spawn(s_.executor, run_key(std::move(key), std::move(delivery)), asio::detached);
      return;
    }
    ++active_;
    asio::co_spawn(s_.executor, run_one(std::move(delivery)), asio::detached);
  }

  asio::awaitable<void> run_one(Delivery delivery) {
    Running running{this};
    update_stats([](DispatcherStats&) {});
    co_await deliver(delivery);
  }

  // Delivers the events of one partition key in order, one at a time.
  asio::awaitable<void> run_key(std::string key, Delivery delivery) {
    Running running{this};
    update_stats([](DispatcherStats&) {});
    while (co_await deliver(delivery) && !stopping_) {
      auto waiting = keys_.find(key);
      if (waiting->second.empty()) {
        keys_.erase(waiting);
        co_return;
      }
      delivery = std::move(waiting->second.front());
      waiting->second.pop_front();
      --queued_;
      update_stats([](DispatcherStats&) {});
    }
  }

  // --- one event ---------------------------------------------------------------------------

  // true once the event is finished in the log; false when abandoned (stopping).
  asio::awaitable<bool> deliver(Delivery& delivery) {
    if (!delivery.event) {
      co_return co_await finish(delivery, store::DeliveryOutcome::dead_lettered,
                                "the stored event is not a valid CloudEvent: " + delivery.unreadable, false);
    }
    const DeliveryPolicy& policy = spec_.delivery;
    const uint32_t budget = policy.retries + 1;
    std::optional<AttemptResult> last;
    while (delivery.attempts < budget) {
      if (!co_await wait_for_attempt(delivery)) co_return false;
      const uint32_t attempt = delivery.attempts + 1;
      AttemptResult result = co_await s_.subscriber.deliver(spec_.subscriber, *delivery.event, policy.timeout);
      update_stats([](DispatcherStats& stats) { ++stats.attempts; });
      AttemptVerdict verdict = classify(result);
      std::string failure;
      if (verdict == AttemptVerdict::delivered) {
        if (result.reply) {
          Status published = co_await publish_reply(*delivery.event, std::move(*result.reply));
          if (!published) {
            verdict = AttemptVerdict::retry;
            failure = fmt::format("{} publishing the reply to broker '{}': {}", published.error().code, spec_.broker,
                                  published.error().message);
            result = AttemptResult{};
            result.error = published.error().code;
          }
        }
        if (verdict == AttemptVerdict::delivered) {
          co_return co_await finish(delivery, store::DeliveryOutcome::delivered, "", false);
        }
      }
      if (stopping_) co_return false;
      if (failure.empty()) failure = describe_failure(spec_.subscriber, result);
      delivery.last_error = failure;
      delivery.attempts = attempt;
      note_error(failure);
      update_stats([](DispatcherStats& stats) { ++stats.failed_attempts; });
      last = std::move(result);
      if (verdict == AttemptVerdict::dead_letter || attempt == budget) break;
      delivery.next_at = s_.clock.now() + retry_delay(policy, attempt, *last, draw());
      co_await record_attempt(delivery);
    }
    co_return co_await dead_letter(delivery, std::move(last));
  }

  // The dead-letter phase: attempts budget + 1 to 2 * budget go to the dead-letter sink.
  asio::awaitable<bool> dead_letter(Delivery& delivery, std::optional<AttemptResult> last) {
    if (!spec_.dead_letter) {
      co_return co_await finish(delivery, store::DeliveryOutcome::dead_lettered, delivery.last_error, false);
    }
    const DeliveryPolicy& policy = spec_.delivery;
    const uint32_t budget = policy.retries + 1;
    CloudEvent letter = *delivery.event;
    letter.set_attribute("fnderrordest", to_string(spec_.subscriber));
    if (last) {
      letter.set_attribute("fnderrorcode", error_code_of(*last));
      if (!last->body.empty()) {
        letter.set_attribute("fnderrordata",
                             base64_encode(std::string_view(last->body).substr(0, kMaxResponseBodyKept)));
      }
    } else {
      letter.set_attribute("fnderrorcode", code_from_error_text(delivery.last_error));
    }
    if (delivery.attempts < budget) {
      delivery.attempts = budget;
      delivery.next_at = s_.clock.now();
    }
    std::string sink_failure = "its last failure was before a restart";
    while (delivery.attempts < 2 * budget) {
      if (!co_await wait_for_attempt(delivery)) co_return false;
      const uint32_t attempt = delivery.attempts + 1;
      AttemptResult result = co_await s_.subscriber.deliver(*spec_.dead_letter, letter, policy.timeout);
      update_stats([](DispatcherStats& stats) { ++stats.dead_letter_attempts; });
      const AttemptVerdict verdict = classify(result);
      if (verdict == AttemptVerdict::delivered) {
        co_return co_await finish(delivery, store::DeliveryOutcome::dead_lettered, delivery.last_error, false);
      }
      if (stopping_) co_return false;
      sink_failure = describe_failure(*spec_.dead_letter, result);
      note_error("dead-letter sink: " + sink_failure);
      delivery.attempts = attempt;
      if (verdict == AttemptVerdict::dead_letter || attempt == 2 * budget) break;
      delivery.next_at = s_.clock.now() + retry_delay(policy, attempt - budget, result, draw());
      // The subscriber's failure stays the recorded error: a dead letter made after a restart
      // takes fnderrorcode from it.
      co_await record_attempt(delivery);
    }
    co_return co_await finish(delivery, store::DeliveryOutcome::dead_lettered,
                              fmt::format("{}; the dead-letter sink failed too: {}", delivery.last_error, sink_failure),
                              true);
  }

  // Waits until the delivery's next attempt is due: false when stopping.
  asio::awaitable<bool> wait_for_attempt(Delivery& delivery) {
    if (s_.clock.now() >= delivery.next_at) co_return !stopping_;
    ++retrying_;
    update_stats([](DispatcherStats&) {});
    const bool due = co_await wait_until(delivery.next_at);
    --retrying_;
    update_stats([](DispatcherStats&) {});
    co_return due;
  }

  // Publishes a reply with its hop counter decremented. An error only when worth another attempt.
  asio::awaitable<Status> publish_reply(const CloudEvent& original, CloudEvent reply) {
    const int64_t ttl = ttl_of(original) - 1;
    if (ttl <= 0) {
      update_stats([](DispatcherStats& stats) { ++stats.replies_dropped; });
      co_return Status{};
    }
    reply.set_attribute(std::string(kTtlExtension), ttl);
    Status published = co_await s_.replies.publish(spec_.broker, reply);
    if (published) {
      update_stats([](DispatcherStats& stats) { ++stats.replies; });
      co_return Status{};
    }
    if (is_retryable_publish_error(published.error())) co_return published;
    note_error(fmt::format("a reply was dropped: broker '{}' refused it: {}", spec_.broker, published.error().message));
    update_stats([](DispatcherStats& stats) { ++stats.replies_failed; });
    co_return Status{};
  }

  asio::awaitable<void> record_attempt(const Delivery& delivery) {
    const SystemTime next_at = wall_of(delivery.next_at);
    Status recorded = co_await log_write([this, &delivery, next_at](store::EventLog::StatusCallback done) {
      return s_.log.record_attempt_async(consumer_, delivery.offset, delivery.attempts, next_at, delivery.last_error,
                                         std::move(done));
    });
    // The retry goes ahead regardless; a restart before it resumes from the last recorded attempt.
    if (!recorded) {
      note_error(fmt::format("recording attempt {} of event {} failed: {}", delivery.attempts, delivery.offset,
                             recorded.error().message));
    }
  }

  // Records the outcome, then frees the event's place and lets the cursor move. false when the
  // outcome could not be recorded (stopping, or an error that waiting does not mend).
  asio::awaitable<bool> finish(Delivery& delivery, store::DeliveryOutcome outcome, std::string detail,
                               bool sink_failed) {
    while (true) {
      Status finished = co_await log_write([this, &delivery, outcome, &detail](store::EventLog::StatusCallback done) {
        return s_.log.finish_async(consumer_, delivery.offset, outcome, detail, std::move(done));
      });
      if (finished) break;
      note_error(
          fmt::format("recording the outcome of event {} failed: {}", delivery.offset, finished.error().message));
      if (stopping_) co_return false;
      if (is_permanent_log_error(finished.error())) co_return halt(finished.error());
      co_await pause();
      if (stopping_) co_return false;
    }
    open_.erase(delivery.offset);
    update_stats([outcome, sink_failed](DispatcherStats& stats) {
      if (outcome == store::DeliveryOutcome::delivered) {
        ++stats.delivered;
      } else {
        ++stats.dead_lettered;
        if (sink_failed) ++stats.dead_letter_failed;
      }
    });
    advance_cursor();
    changed_.notify_all();
    co_return true;
  }

  // --- the cursor --------------------------------------------------------------------------

  // Moves the cursor over the finished prefix: everything read below the oldest open event.
  // One write at a time; the next starts when it completes.
  void advance_cursor() {
    if (cursor_writing_ || stopping_) return;
    const uint64_t target = open_.empty() ? read_after_ : *open_.begin() - 1;
    if (target <= cursor_) return;
    cursor_writing_ = true;
    ++active_;
    asio::co_spawn(s_.executor, write_cursor(target), asio::detached);
  }

  asio::awaitable<void> write_cursor(uint64_t target) {
    Running running{this};
    Status moved = co_await log_write([this, target](store::EventLog::StatusCallback done) {
      return s_.log.set_cursor_async(consumer_, spec_.broker, target, std::move(done));
    });
    if (moved) {
      cursor_ = target;
      update_stats([](DispatcherStats&) {});
      changed_.notify_all();
    } else if (is_permanent_log_error(moved.error())) {
      halt(moved.error());
    } else {
      note_error(fmt::format("moving the cursor to {} failed: {}", target, moved.error().message));
      co_await pause();
    }
    cursor_writing_ = false;
    advance_cursor();
  }

  // --- helpers -----------------------------------------------------------------------------

  // A log write through its _async call, resumed on the io thread. `start` queues the write
  // with the callback it is given and returns what the _async call returned.
  template <typename Start>
  asio::awaitable<Status> log_write(Start start) {
    co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(Status)>(
        [this, &start](auto handler) {
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          // Keeps the io_context running while the writer thread holds the callback.
          auto work = asio::prefer(s_.executor, asio::execution::outstanding_work.tracked);
          Status queued = start([shared, work](Status outcome) {
            asio::post(work, [shared, outcome = std::move(outcome)]() mutable { (*shared)(std::move(outcome)); });
          });
          if (!queued) {
            asio::post(s_.executor, [shared, queued = std::move(queued)]() mutable { (*shared)(std::move(queued)); });
          }
        },
        asio::use_awaitable);
  }

  // A blocking log read on the blocking executor (optional: co_spawn needs a default-constructible result).
  template <typename T, typename Read>
  asio::awaitable<Result<T>> read_blocking(Read read) {
    std::optional<Result<T>> out = co_await asio::co_spawn(
        s_.blocking_executor, [&read]() -> asio::awaitable<std::optional<Result<T>>> { co_return read(); },
        asio::use_awaitable);
    co_return std::move(*out);
  }

  // false when stopping.
  asio::awaitable<bool> wait_until(SteadyTime at) {
    while (!stopping_ && s_.clock.now() < at) co_await s_.sleeper.sleep_until(at);
    co_return !stopping_;
  }

  asio::awaitable<void> pause() { co_await wait_until(s_.clock.now() + options_.log_retry_delay); }

  double draw() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

  SystemTime wall_of(SteadyTime at) const {
    return wall_at_start_ + std::chrono::duration_cast<SystemTime::duration>(at - steady_at_start_);
  }
  SteadyTime steady_of(SystemTime at) const {
    return steady_at_start_ + std::chrono::duration_cast<SteadyTime::duration>(at - wall_at_start_);
  }

  bool fail(const Error& error) {
    note_error(error.message);
    set_state(DispatcherState::failed);
    return false;
  }

  // Fails the running dispatcher: every coroutine winds down as for stop(); what is unfinished
  // stays so in the log. stop() is still to be called.
  bool halt(const Error& error) {
    fail(error);
    stopping_ = true;
    s_.sleeper.wake_all();
    changed_.notify_all();
    return false;
  }

  void set_state(DispatcherState state) {
    state_ = state;
    update_stats([state](DispatcherStats& stats) { stats.state = state; });
  }

  void note_error(std::string message) {
    const SystemTime at = wall_of(s_.clock.now());
    update_stats([&message, at](DispatcherStats& stats) {
      stats.last_error = std::move(message);
      stats.last_error_at = at;
    });
  }

  // Applies `change` and refreshes the gauges, under the lock stats() takes.
  template <typename Change>
  void update_stats(Change change) {
    std::lock_guard lock(stats_mutex_);
    change(stats_);
    stats_.cursor = cursor_;
    stats_.read_through = read_after_;
    stats_.in_flight = open_.size() - queued_;
    stats_.queued = queued_;
    stats_.retrying = retrying_;
  }

  const TriggerSpec spec_;
  const DispatcherServices s_;
  const DispatcherOptions options_;
  const std::string consumer_;
  const SteadyTime steady_at_start_;
  const SystemTime wall_at_start_;
  std::mt19937_64 rng_;

  // io thread only.
  DispatcherState state_ = DispatcherState::created;
  bool stopping_ = false;
  size_t active_ = 0;    // coroutines of this engine alive now
  uint64_t cursor_ = 0;  // the committed cursor
  bool cursor_writing_ = false;
  uint64_t read_after_ = 0;                            // every offset up to here is read: finished, filtered or open
  std::set<uint64_t> open_;                            // read and not finished (under way, or waiting behind their key)
  std::map<std::string, std::deque<Delivery>> keys_;   // ordered: the keys under way and their waiting events
  size_t queued_ = 0;                                  // events in keys_' queues
  size_t retrying_ = 0;                                // deliveries waiting for their next attempt
  std::map<uint64_t, store::PendingDelivery> resume_;  // what a previous run left unfinished
  std::set<uint64_t> finished_on_disk_;                // what a previous run finished past the cursor
  Notifier changed_;  // the reader waits here: new events, a free slot, a moved cursor, stop
  Notifier idle_;     // stop() waits here for active_ to reach 0

  std::atomic<bool> new_events_{false};  // any thread

  mutable std::mutex stats_mutex_;
  DispatcherStats stats_;
};

}  // namespace internal

TriggerDispatcher::TriggerDispatcher(TriggerSpec spec, DispatcherServices services, DispatcherOptions options)
    : engine_(std::make_shared<internal::DispatcherEngine>(std::move(spec), services, options)) {}

TriggerDispatcher::~TriggerDispatcher() = default;

void TriggerDispatcher::start() { engine_->start(); }

asio::awaitable<void> TriggerDispatcher::stop() { return engine_->stop(); }

void TriggerDispatcher::notify_new_events() { engine_->notify_new_events(); }

DispatcherStats TriggerDispatcher::stats() const { return engine_->stats(); }

const TriggerSpec& TriggerDispatcher::spec() const { return engine_->spec(); }

}  // namespace fnd::eventing
