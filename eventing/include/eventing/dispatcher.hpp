// TriggerDispatcher: the engine that runs one trigger over the durable event log. It reads the
// trigger's broker after the trigger's cursor, filters each event, delivers the matching ones to
// the subscriber at least once under the delivery policy (retries with backoff, Retry-After,
// dead-lettering), publishes the subscriber's replies back to the broker, and moves the cursor
// over what is finished. The daemon wires it to HTTP, the function Invoker and Kafka through the
// Subscriber and ReplyPublisher interfaces below.
//
// Durability (what survives a restart)
//   The trigger is the log consumer "trigger:<name>" (consumer_name()). A new consumer starts at
//   the broker's head: a new trigger sees the events appended after it, as in Knative (see
//   DispatcherOptions::deliver_existing_events). Every failed attempt is recorded
//   (EventLog::record_attempt) before the retry is waited for; a finished event is recorded
//   (EventLog::finish, delivered or dead_lettered) and only then may the cursor pass it; the
//   cursor never passes an unfinished offset. A restarted dispatcher skips the finished offsets
//   past the cursor and resumes each unfinished one with its attempt count and its recorded
//   next-attempt time. Events the filters drop are not written: the cursor simply moves over them
//   (a restart before it has moved filters them again, with the same result).
//   At least once: a delivery under way when fnd stops (or crashes) is made again after restart.
//   An attempt is recorded once it has failed, so an attempt cut short by a crash is not counted:
//   across a crash the subscriber may see one attempt more than retries + 1, never one fewer.
//   Attempt numbers in the log: 1 to retries + 1 are the subscriber's attempts; the dead-letter
//   sink's attempts follow (retries + 2, ...), so a restart resumes the right phase.
//
// Dead letters
//   When the subscriber has refused the event (a 4xx that is not retried) or every retry has
//   failed, the event goes to the trigger's dead-letter destination, with the extensions
//     fnderrordest  the subscriber's destination as text ("function:billing")
//     fnderrorcode  the last HTTP status as text ("503"), or the error code ("timeout")
//     fnderrordata  base64 of the start of the last response body (at most 1 KiB of body);
//                   omitted when the body was empty (and when resuming after a restart, since
//                   the log keeps only the error text)
//   and is delivered there with the same policy. It is then finished as dead_lettered (whether
//   or not the sink took it: the failure of both is the detail). Without a dead-letter
//   destination it is finished as dead_lettered at once, with the error as detail.
//
// Replies
//   A 2xx that carries a CloudEvent is a reply: it is appended to the trigger's broker (through
//   the ReplyPublisher) before the original is finished, with the hop counter extension
//   fndttl = (the incoming event's fndttl, or 255 when absent or not a number) - 1. A reply whose
//   fndttl would be 0 or less is dropped and counted (replies_dropped), which ends reply loops.
//   A retryable publish failure (Error::retryable, 429, 503, 507) makes the attempt a failed one
//   (the event is delivered again after backoff); any other failure drops the reply, counts it
//   (replies_failed) and finishes the original as delivered.
//
// Ordering
//   unordered: at most ordering.max_in_flight events under way at once (an event waiting for its
//   retry is under way). ordered: one event under way per `partitionkey` value (events without
//   one share the key ""), in log order; other keys proceed while one waits for a retry.
//
// Threads and waiting
//   Everything runs as coroutines on `executor` (one io thread). Log reads run on
//   `blocking_executor`; log writes use the _async calls, whose completions are posted back to
//   `executor`; the io thread never blocks. Every wait (backoff, Retry-After, a recorded
//   next-attempt time) is a Sleeper wait on the injected Clock; waiting for new events is a
//   notification (notify_new_events()), never a polling timer: an idle dispatcher wakes nothing.
//   Log errors (a full queue, a full disk) are retried every options.log_retry_delay.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/time.hpp"
#include "eventing/cloud_event.hpp"
#include "eventing/delivery.hpp"
#include "eventing/sleeper.hpp"
#include "eventing/trigger.hpp"
#include "store/event_log.hpp"

namespace fnd::eventing {

// 409: the trigger's log consumer follows another broker (the trigger was re-pointed: remove the
// consumer "trigger:<name>" from the log first, which restarts it at the new broker's head).
inline constexpr std::string_view kTriggerOnOtherBroker = "trigger_on_other_broker";

// "trigger:" + the trigger's name: its consumer in the event log.
std::string consumer_name(std::string_view trigger_name);

// Delivers one event to a destination (a function, a URL, a Kafka topic). Implemented by the
// daemon. Called on the dispatcher's io thread, possibly many times at once; the returned
// coroutine must not block that thread. It never fails: every outcome is an AttemptResult (a
// timeout after `timeout` is status 0 with kAttemptTimeout, an unreachable destination status 0
// with kConnectionFailed). `destination` and `event` stay valid until the coroutine completes.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  virtual boost::asio::awaitable<AttemptResult> deliver(const Destination& destination, const CloudEvent& event,
                                                        std::chrono::milliseconds timeout) = 0;
  // Whether this subscriber can deliver to `destination` at all (a kafka: destination needs a
  // Kafka cluster): checked when a trigger is declared. Errors: 422, saying what is missing.
  virtual Status can_deliver_to(const Destination& destination) const {
    (void)destination;
    return {};
  }
};

// Appends a reply event to a broker (durably, as POST /events/{broker} does). Called on the
// dispatcher's io thread; must not block it. The error says whether trying again may help
// (Error::retryable, or 429/503/507).
class ReplyPublisher {
 public:
  virtual ~ReplyPublisher() = default;
  virtual boost::asio::awaitable<Status> publish(const std::string& broker, const CloudEvent& reply) = 0;
};

// The collaborators; the daemon owns them and they must outlive the dispatcher.
struct DispatcherServices {
  store::EventLog& log;
  boost::asio::any_io_executor executor;           // the io thread everything runs on
  boost::asio::any_io_executor blocking_executor;  // a thread pool for the log's blocking reads
  Subscriber& subscriber;
  ReplyPublisher& replies;
  const Clock& clock;
  Sleeper& sleeper;  // waits on `clock`
  // The wall time clock.now() stands for when the dispatcher is constructed: the log keeps
  // next-attempt times as wall times, the dispatcher waits on `clock`.
  SystemTime wall_now = std::chrono::system_clock::now();
  uint64_t random_seed = 0;  // for the jitter of retry delays
};

struct DispatcherOptions {
  size_t read_batch = 100;  // events per log read
  // How far past the cursor the reader may run (bounds what a restart re-reads and the
  // bookkeeping it loads); reading pauses there until the oldest unfinished event is finished.
  uint64_t max_window = 10000;
  // ordered: most events read and not finished (under way or waiting behind their key).
  size_t max_ordered_backlog = 1000;
  // The wait before retrying a failed log read or write.
  std::chrono::milliseconds log_retry_delay = std::chrono::seconds(1);
  // A new consumer starts before the broker's first event instead of at its head.
  bool deliver_existing_events = false;
};

enum class DispatcherState { created, starting, running, failed, stopped };
std::string_view to_string(DispatcherState state);

// Counters since start() (the log's ConsumerCounters keep the lifetime totals) and gauges now.
struct DispatcherStats {
  DispatcherState state = DispatcherState::created;
  uint64_t cursor = 0;              // the committed cursor
  uint64_t read_through = 0;        // the last offset read
  uint64_t delivered = 0;           // finished as delivered
  uint64_t dead_lettered = 0;       // finished as dead_lettered (sent to the sink, or recorded)
  uint64_t dead_letter_failed = 0;  // of those, the dead-letter sink refused or kept failing
  uint64_t filtered = 0;            // events the filters dropped
  uint64_t attempts = 0;            // attempts made to the subscriber
  uint64_t failed_attempts = 0;
  uint64_t dead_letter_attempts = 0;  // attempts made to the dead-letter sink
  uint64_t replies = 0;               // replies published
  uint64_t replies_dropped = 0;       // replies whose fndttl ran out
  uint64_t replies_failed = 0;        // replies the broker refused for good
  uint64_t in_flight = 0;             // now: events under way (retry waits included)
  uint64_t retrying = 0;              // now: events waiting for a retry
  uint64_t queued = 0;                // now (ordered): events waiting behind an earlier one of their key
  std::string last_error;             // empty: none yet
  std::optional<SystemTime> last_error_at;
};

namespace internal {
class DispatcherEngine;
}

class TriggerDispatcher {
 public:
  // `spec` must be valid (validate(spec)). Does no I/O.
  TriggerDispatcher(TriggerSpec spec, DispatcherServices services, DispatcherOptions options = {});
  // Call stop() first and let it complete: destroying a running dispatcher is a bug (asserted).
  ~TriggerDispatcher();
  TriggerDispatcher(const TriggerDispatcher&) = delete;
  TriggerDispatcher& operator=(const TriggerDispatcher&) = delete;

  // Starts the engine. Once, from the io thread (or before the io_context runs). A consumer on
  // another broker puts the dispatcher in the failed state (stats().last_error says why,
  // kTriggerOnOtherBroker); other log errors are retried. Later, a log write that waiting cannot
  // mend (the consumer removed from the log under a running trigger) fails it too: it winds down
  // as stop() would, leaving what is unfinished unfinished in the log.
  void start();
  // Stops reading, ends the waits for a retry, and completes once no coroutine of the dispatcher
  // runs any more: attempts under way at the subscriber are waited for (they are bounded by the
  // policy's timeout) and then abandoned unless they succeeded (their events are delivered again
  // after a restart). Call from the io thread; idempotent; a dispatcher never started stops at once.
  boost::asio::awaitable<void> stop();

  // After each append to the trigger's broker (replies included). Safe from any thread at any
  // time while the dispatcher exists; notifications while one is pending coalesce.
  void notify_new_events();

  // A snapshot; safe from any thread.
  DispatcherStats stats() const;
  const TriggerSpec& spec() const;

 private:
  std::shared_ptr<internal::DispatcherEngine> engine_;
};

}  // namespace fnd::eventing
