// The durable, append-only event log behind fnd's CloudEvents brokers: a broker appends an event
// here and answers 202 only once append() has returned, i.e. once the event is committed to disk.
//
// It lives in its own SQLite file (STATE_DIR/events.db), apart from fnd.db, so that its write
// load and its sync mode (synchronous=FULL: an acknowledged event survives kill -9 and power
// loss) never slow the control plane.
//
// Model
// - Offsets are per broker: the n-th event a broker accepted has offset n (1, 2, 3, ...), with
//   no gaps, and offsets keep counting across restarts and compaction. 0 means "before the first
//   event". head(broker) is the last offset given out.
// - Duplicates: an event whose (broker, source, id) was accepted less than
//   options.dedup_window ago is not stored again; append reports the earlier offset and
//   duplicate = true. The window runs from the first acceptance (a duplicate does not extend it).
// - A consumer (a trigger or a sink, by name) follows one broker. Its cursor is the offset
//   through which everything is finished (delivered or dead-lettered): every event with
//   offset <= cursor is done, so it reads on from read(broker, cursor, ...). Between the cursor
//   and head, the log keeps per-offset delivery bookkeeping (attempts, next attempt time, outcome)
//   so that a restarted fnd resumes retries and never redelivers what was finished.
// - Compaction removes events older than options.retention that every consumer of their broker
//   has finished (offset <= its cursor); an event some consumer has not finished is never removed.
//
// Group commit
//   One writer thread owns the write connection. Every write (appends and consumer bookkeeping
//   alike) is queued; the writer takes what is queued (up to options.max_batch events), applies
//   it in ONE transaction, commits (one fsync), then completes every caller. Concurrent writers
//   thus share fsyncs. The queue is bounded (options.max_queued_events, counting each event of
//   an append and each bookkeeping call as one): beyond it writes fail at once with the
//   retryable 429 kLogBacklogFull; no call ever blocks waiting for queue space.
//   One write's failure (an unknown consumer, say) fails only that write; a failed commit (a full
//   disk: 507 kInsufficientStorage) fails every write of the batch, none of which is then stored.
//
// Threads
//   Every public call is safe from any thread, at any time between open() and destruction.
//   Blocking calls (everything without _async) wait for disk I/O: keep them off io threads.
//   Reads use their own connection, so they never wait behind a group commit (they do wait for
//   one another: there is one read connection). Each _async call either returns an error (and its
//   callback never runs) or returns ok and its callback runs exactly once, on the writer thread,
//   with the same result the blocking call would have returned. Completion callbacks run on the
//   writer thread: they must return quickly, must not throw, and must not call a blocking
//   write of this log (that would wait for the very thread it runs on: it aborts the process as a
//   bug). Post back to your own executor from the callback.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "store/code_store.hpp"  // kInsufficientStorage: 507 when the disk is full

namespace fnd::store {

namespace internal {
class EventLogCore;
}

// Error codes of the event log (kInsufficientStorage, 507, comes from code_store.hpp).
inline constexpr std::string_view kLogBacklogFull = "log_backlog_full";                   // 429, retryable
inline constexpr std::string_view kEventLogClosed = "event_log_closed";                   // 503, retryable
inline constexpr std::string_view kEventBatchTooLarge = "event_batch_too_large";          // 413
inline constexpr std::string_view kInvalidEvent = "invalid_event";                        // 400
inline constexpr std::string_view kConsumerNotFound = "consumer_not_found";               // 404
inline constexpr std::string_view kConsumerOnOtherBroker = "consumer_on_other_broker";    // 409
inline constexpr std::string_view kOffsetOutOfRange = "offset_out_of_range";              // 400
inline constexpr std::string_view kDeliveryFinished = "delivery_finished";                // 409
inline constexpr std::string_view kInvalidEventLogOptions = "invalid_event_log_options";  // 500, at open
inline constexpr std::string_view kEventLogDamaged = "event_log_damaged";                 // 500, at open
inline constexpr std::string_view kEventLogTooNew = "event_log_too_new";                  // 500, at open

// true for the 429 a full write queue gives: shed load, retry after error.retry_after_seconds.
bool is_log_backlog_full(const Error& error);
// true when the disk holding the log is full (507).
bool is_insufficient_storage(const Error& error);

struct EventLogOptions {
  // An event whose (broker, source, id) was accepted this recently is a duplicate; 0 turns
  // duplicate suppression off.
  std::chrono::milliseconds dedup_window = std::chrono::minutes(10);
  // compact() removes finished events older than this.
  std::chrono::milliseconds retention = std::chrono::hours(24);
  // Most events written in one transaction (one fsync). An append bigger than this still goes
  // in one transaction of its own.
  size_t max_batch = 1000;
  // Most events (plus bookkeeping calls) waiting for the writer; beyond it, kLogBacklogFull.
  size_t max_queued_events = 10000;
  // Events compact() removes per transaction, so that appends interleave with a long compaction.
  size_t compaction_chunk = 5000;
};

// An event to append. The payload is the structured-mode JSON CloudEvent; the log stores the
// bytes as given and never parses them. id and source must not be empty.
struct NewEvent {
  std::string id;
  std::string source;
  std::string payload;
};

struct AppendOutcome {
  uint64_t offset = 0;     // where the event is (for a duplicate: where the earlier one is)
  bool duplicate = false;  // true: not stored again
};

struct LoggedEvent {
  uint64_t offset = 0;
  std::string id;
  std::string source;
  std::string payload;
  SystemTime received_at;  // when the writer accepted it (millisecond precision)
};

enum class DeliveryOutcome { delivered, dead_lettered };

// An offset past the cursor with attempts recorded and no outcome yet: a retry to resume.
struct PendingDelivery {
  uint64_t offset = 0;
  uint32_t attempts = 0;
  SystemTime next_attempt_at;
  std::string last_error;
};

// What describe shows of a consumer. delivered and dead_lettered count since the consumer was
// first seen and survive restarts; retrying is the number of pending deliveries now.
struct ConsumerCounters {
  std::string broker;
  uint64_t cursor = 0;
  uint64_t delivered = 0;
  uint64_t dead_lettered = 0;
  uint64_t retrying = 0;
  std::string last_error;  // empty: none yet
  std::optional<SystemTime> last_error_at;
};

struct CompactionReport {
  uint64_t events_removed = 0;
  uint64_t dedup_entries_removed = 0;
  uint64_t pages_reclaimed = 0;  // database pages given back to the file system
};

// Counters of this process's EventLog (not persisted); the commit count shows group commit.
struct EventLogStats {
  uint64_t commits = 0;           // transactions committed by the writer
  uint64_t events_stored = 0;     // appended events actually written
  uint64_t duplicates = 0;        // appended events suppressed as duplicates
  uint64_t rejected_backlog = 0;  // writes refused with kLogBacklogFull
  uint64_t queued = 0;            // events + bookkeeping calls waiting now
};

class EventLog {
 public:
  using AppendCallback = std::function<void(Result<std::vector<AppendOutcome>>)>;
  using StatusCallback = std::function<void(Status)>;

  // Opens (creating if needed) the log at `path` in WAL mode with synchronous=FULL and
  // auto_vacuum=INCREMENTAL, migrates its schema forward and starts the writer thread. `clock`
  // must outlive the log; `wall_at_start` is the wall time clock.now() stands for at this call
  // (received_at, the dedup window and retry times are wall times, so they survive restarts).
  // Errors: kInvalidEventLogOptions, kEventLogDamaged (not a database, or a corrupt one: the
  // message says how to recover), kEventLogTooNew, store_error. Blocks on disk I/O.
  static Result<std::unique_ptr<EventLog>> open(const std::string& path, const EventLogOptions& options,
                                                const Clock& clock,
                                                SystemTime wall_at_start = std::chrono::system_clock::now());
  // close(), then releases the connections.
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Stops accepting writes (they then fail with kEventLogClosed), commits every write already
  // queued, completes its callers and stops the writer thread. Reads keep working. Idempotent;
  // blocks until the writer is done (so never from a completion callback).
  void close();

  // --- appending ---------------------------------------------------------------------------

  // Makes `events` durable in one transaction and returns, per event and in order, its offset and
  // whether it was a duplicate (duplicates within `events` itself included). An empty list
  // returns at once. Errors: kInvalidEvent (empty broker, id or source), kEventBatchTooLarge
  // (more events than max_queued_events), kLogBacklogFull, kEventLogClosed,
  // kInsufficientStorage, store_error; on any error none of the events is stored.
  // Blocks until committed (one fsync, shared with concurrent writers).
  Result<std::vector<AppendOutcome>> append(std::string_view broker, std::vector<NewEvent> events);
  // The same without blocking, for io threads. An error returned here (validation, a full queue,
  // a closed log) means the callback will never run. Otherwise `done` runs exactly once, on the
  // writer thread, after the commit (or its failure); for an empty list, at once on the calling
  // thread.
  Status append_async(std::string_view broker, std::vector<NewEvent> events, AppendCallback done);

  // --- reading (own connection; never waits behind a commit) -------------------------------

  // Up to `limit` events of `broker` with offset > after_offset, in offset order. Events removed
  // by compaction are not returned; an unknown broker has none. Errors: store_error.
  Result<std::vector<LoggedEvent>> read(std::string_view broker, uint64_t after_offset, size_t limit);
  // The last offset `broker` gave out; 0 for a broker with no events yet.
  Result<uint64_t> head(std::string_view broker);
  // head(broker) - the lowest cursor of its consumers; head(broker) when it has none.
  Result<uint64_t> backlog(std::string_view broker);

  // --- consumers ---------------------------------------------------------------------------

  // Moves the cursor of `consumer` to `offset` (everything <= offset is finished), subscribing
  // it to `broker` when it is new, and drops its bookkeeping at or below `offset`. A cursor
  // never moves back. Errors: kConsumerOnOtherBroker, kOffsetOutOfRange (beyond head, or below
  // the current cursor), and the write errors of append. Blocks until committed.
  Status set_cursor(std::string_view consumer, std::string_view broker, uint64_t offset);
  Status set_cursor_async(std::string_view consumer, std::string_view broker, uint64_t offset, StatusCallback done);
  // The consumer's cursor; nullopt for an unknown consumer.
  Result<std::optional<uint64_t>> cursor(std::string_view consumer);

  // Records that delivery attempt `attempt_number` (1 = the first) of `offset` failed or is under
  // way, when the next is due, and why the last failed (empty: no error to record). A non-empty
  // `last_error` also becomes the consumer's last error. Errors: kConsumerNotFound,
  // kOffsetOutOfRange (0 or beyond head), kDeliveryFinished (at or below the cursor, or already
  // finished), and the write errors of append. Blocks until committed.
  Status record_attempt(std::string_view consumer, uint64_t offset, uint32_t attempt_number, SystemTime next_attempt_at,
                        std::string_view last_error);
  Status record_attempt_async(std::string_view consumer, uint64_t offset, uint32_t attempt_number,
                              SystemTime next_attempt_at, std::string_view last_error, StatusCallback done);

  // Marks `offset` finished for `consumer` and counts it (delivered or dead-lettered; a
  // dead-letter's `detail` becomes the consumer's last error). Idempotent: finishing a finished
  // offset, or one at or below the cursor, changes nothing. Errors: kConsumerNotFound,
  // kOffsetOutOfRange, and the write errors of append. Blocks until committed.
  Status finish(std::string_view consumer, uint64_t offset, DeliveryOutcome outcome, std::string_view detail);
  Status finish_async(std::string_view consumer, uint64_t offset, DeliveryOutcome outcome, std::string_view detail,
                      StatusCallback done);

  // Deliveries past the cursor with attempts but no outcome, in offset order (at most `limit`).
  // Empty for an unknown consumer.
  Result<std::vector<PendingDelivery>> unfinished(std::string_view consumer, size_t limit);
  // Offsets past the cursor already finished, in order (at most `limit`): skip them on resume,
  // and advance the cursor over them once they are contiguous with it.
  Result<std::vector<uint64_t>> finished_past_cursor(std::string_view consumer, size_t limit);
  Result<std::optional<ConsumerCounters>> counters(std::string_view consumer);

  // Forgets the consumer, its cursor and bookkeeping (its events become compactable); false when
  // there was none. Blocks until committed.
  Result<bool> remove_consumer(std::string_view consumer);

  // --- maintenance -------------------------------------------------------------------------

  // Removes, per broker, the events received before now - retention that every consumer of the
  // broker has finished, and dedup entries accepted before now - dedup_window; then gives freed
  // pages back (incremental vacuum). Runs on the writer thread in chunks of
  // options.compaction_chunk, each its own transaction, so appends keep flowing in between.
  // Errors: kEventLogClosed, store_error. Blocks until done: call it from a maintenance thread.
  Result<CompactionReport> compact(SystemTime now);

  EventLogStats stats() const;
  const std::string& path() const;

 private:
  explicit EventLog(std::unique_ptr<internal::EventLogCore> core);
  std::unique_ptr<internal::EventLogCore> core_;
};

}  // namespace fnd::store
