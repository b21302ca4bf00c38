// Key/value state for functions: the storage engine behind the mesh's `PUT /v1/state/{key}`, the
// operators' `/api/v1/state/...` and `fnctl state`. The HTTP side lives in the daemon; this is
// the store.
//
// It lives in its own SQLite file (STATE_DIR/state.db), apart from fnd.db and events.db, with
// WAL and synchronous=FULL: a write whose caller heard "ok" survives kill -9 and power loss.
//
// Stores
// - Every function has its own store, named "fn:NAME" (function_store(NAME)). It springs into
//   existence with its first write and is always usable by that function.
// - Shared stores, "shared:NAME" (shared_store(NAME)), exist once created and list the functions
//   granted access. Using a shared store that was not created is 404 kStateStoreNotFound.
// - may_access(function, store) says whether a function may use a store: its own, or a shared
//   one that grants it. This store does not enforce it: the daemon asks before each call.
// - Deleting a store makes its keys vanish at once; their space is reclaimed later by
//   purge_expired(), in chunks. A store of the same name made later starts empty and never
//   matches an ETag given out by the deleted one.
//
// Keys, values, ETags, TTL
// - A key is 1-512 bytes of printable ASCII without spaces (0x21-0x7E): 400 kInvalidStateKey.
//   A value is any bytes up to options.max_value_bytes: 413 kStateValueTooLarge.
// - Each store has a quota on the bytes of its keys plus values (options.max_store_bytes): a
//   write beyond it is 507 kStateQuotaExceeded, whose message gives the store's usage.
// - Every successful put gives the key a new ETag: a strong, opaque, quoted string
//   ("\"12-345\"") that no earlier value of any key of the store had. Compare ETags only for
//   equality. Preconditions: if_match (an ETag, or "*" for "the key exists") and
//   if_none_match_any (If-None-Match: *, "the key does not exist"). A failed precondition is
//   412 kStatePreconditionFailed naming the key; If-Match on a missing key fails.
// - A put may carry a TTL. A key whose expiry has passed (by the injected clock's wall time) is
//   gone at once for every call, preconditions included, and its row is removed later by
//   purge_expired(). A put without TTL makes the key permanent again.
// - usage() counts keys and bytes until they are removed: an expired key stops counting when
//   purge_expired() removes it, or when a write to its store needs the room (a write that would
//   exceed the quota first removes expired keys of that store).
//
// Writes and group commit
//   One writer thread owns the write connection. Every write (put, del, transact, and the store
//   management calls) is queued; the writer takes what is queued (up to options.max_batch
//   operations), applies it in ONE SQLite transaction, each write in a savepoint of its own,
//   commits (one fsync) and then completes every caller. Concurrent writers thus share fsyncs,
//   and a completion always follows its commit. Writes apply in the order they were queued, so a
//   precondition sees every write queued before it. The queue is bounded
//   (options.max_queued_writes operations and options.max_queued_bytes of keys and values):
//   beyond it writes fail at once with the retryable 429 kStateBacklogFull; no call waits for room.
//   One write's failure (a precondition, the quota) fails only that write; a failed commit (a full
//   disk: 507 kInsufficientStorage) fails every write of the batch, none of which is stored.
//
// Threads
//   Every public call is safe from any thread between open() and destruction. Blocking writes
//   wait for the commit: keep them off io threads (use the _async ones there). Reads run on a
//   small pool of read connections (options.read_connections) and never wait behind a commit;
//   they block on disk I/O (usually microseconds from SQLite's page cache). Each _async call
//   either returns an error (and its callback never runs) or returns ok and its callback runs
//   exactly once, on the writer thread, after the commit, with what the blocking call would have
//   returned. Callbacks must return quickly, must not throw and must not call a blocking write of
//   this store (that would wait for the very thread it runs on: it aborts the process as a bug).
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
class StateStoreCore;
}

// Error codes of the state store (kInsufficientStorage, 507, comes from code_store.hpp).
inline constexpr std::string_view kInvalidStateKey = "invalid_state_key";                  // 400
inline constexpr std::string_view kInvalidStateStore = "invalid_state_store";              // 400: a bad store name
inline constexpr std::string_view kInvalidStateRequest = "invalid_state_request";          // 400: a bad TTL, limit...
inline constexpr std::string_view kStateKeyNotFound = "state_key_not_found";               // 404
inline constexpr std::string_view kStateStoreNotFound = "state_store_not_found";           // 404
inline constexpr std::string_view kStateStoreExists = "state_store_exists";                // 409
inline constexpr std::string_view kStatePreconditionFailed = "state_precondition_failed";  // 412
inline constexpr std::string_view kStateValueTooLarge = "state_value_too_large";           // 413
inline constexpr std::string_view kStateRequestTooLarge = "state_request_too_large";       // 413: too many keys/ops
inline constexpr std::string_view kStateBacklogFull = "state_backlog_full";                // 429, retryable
inline constexpr std::string_view kStateStoreClosed = "state_store_closed";                // 503, retryable
inline constexpr std::string_view kStateQuotaExceeded = "state_quota_exceeded";            // 507
inline constexpr std::string_view kInvalidStateStoreOptions = "invalid_state_store_options";  // 500, at open
inline constexpr std::string_view kStateStoreDamaged = "state_store_damaged";                 // 500, at open
inline constexpr std::string_view kStateStoreTooNew = "state_store_too_new";                  // 500, at open

bool is_state_key_not_found(const Error& error);
bool is_state_precondition_failed(const Error& error);
// true for the 429 a full write queue gives: shed load, retry after error.retry_after_seconds.
bool is_state_backlog_full(const Error& error);

// "fn:NAME" and "shared:NAME". Names are not checked here; every call taking a store does.
std::string function_store(std::string_view function);
std::string shared_store(std::string_view name);
// ok when `store` is "fn:" or "shared:" followed by a valid name (core/names.hpp); else 400
// kInvalidStateStore.
Status validate_state_store(std::string_view store);
// ok for 1-512 bytes of 0x21-0x7E; else 400 kInvalidStateKey.
Status validate_state_key(std::string_view key);

struct StateStoreOptions {
  uint64_t max_value_bytes = 1ULL << 20;   // a value above it: kStateValueTooLarge
  uint64_t max_store_bytes = 64ULL << 20;  // per store, keys + values: kStateQuotaExceeded
  size_t max_keys_per_request = 100;       // ops of transact(), keys of get_many(): kStateRequestTooLarge
  size_t max_list_limit = 1000;            // list() returns at most this many keys per page
  // Most operations in one SQLite transaction (one fsync); a bigger single write goes alone.
  size_t max_batch = 1000;
  // Operations (a put or del is one; a transaction counts its ops) waiting for the writer. Must be
  // at least max_keys_per_request.
  size_t max_queued_writes = 10000;
  // Bytes of keys and values waiting for the writer (what the queue holds in memory). Must be at
  // least max_value_bytes + 512.
  uint64_t max_queued_bytes = 64ULL << 20;
  // Rows purge_expired() removes per transaction, so writes interleave with a long purge.
  size_t purge_chunk = 5000;
  size_t read_connections = 4;  // concurrent readers
};

// What a write demands of the key's current state; the default demands nothing.
struct Precondition {
  // The key must exist with exactly this ETag (as given out, quotes included), or, for "*", exist.
  std::optional<std::string> if_match;
  // The key must not exist (HTTP If-None-Match: *): create-only.
  bool if_none_match_any = false;
};

struct PutOptions {
  Precondition condition;
  // The key expires this long after the write is applied; nullopt: never. Must be positive.
  std::optional<std::chrono::milliseconds> ttl;
};

struct StateEntry {
  std::string value;
  std::string etag;
  std::optional<SystemTime> expires_at;  // millisecond precision
};

struct PutOutcome {
  std::string etag;      // the key's new ETag
  bool created = false;  // true: the key did not exist (HTTP 201)
};

// One operation of a transaction.
struct StateOp {
  enum class Kind { put, del };
  Kind kind = Kind::put;
  std::string key;
  std::string value;   // put only
  PutOptions options;  // del uses options.condition only

  static StateOp put(std::string key, std::string value, PutOptions options = {});
  static StateOp del(std::string key, Precondition condition = {});
};

// Per operation of a transaction, in order.
struct OpOutcome {
  std::string etag;      // put: the new ETag; del: empty
  bool existed = false;  // whether the key existed before this operation
};

// What get_many says of one key, in the order asked.
struct BulkEntry {
  std::string key;
  std::optional<StateEntry> entry;  // nullopt: missing (or expired)
};

struct KeyInfo {
  std::string key;
  std::string etag;
  uint64_t value_bytes = 0;
  std::optional<SystemTime> expires_at;
};

struct KeyPage {
  std::vector<KeyInfo> keys;  // in key order (bytewise)
  // Set when more keys follow: pass it as after_key for the next page.
  std::optional<std::string> next_after;
};

struct StoreUsage {
  uint64_t keys = 0;
  uint64_t bytes = 0;  // keys + values
  uint64_t quota_bytes = 0;
};

struct StoreInfo {
  std::string name;  // "fn:NAME" or "shared:NAME"
  StoreUsage usage;
  std::vector<std::string> granted;  // shared stores: the functions granted, sorted
};

struct PurgeReport {
  uint64_t expired_removed = 0;             // expired keys removed
  uint64_t deleted_store_keys_removed = 0;  // keys of deleted stores removed
  uint64_t pages_reclaimed = 0;             // database pages given back to the file system
};

// Counters of this process's StateStore (not persisted); commits < writes shows group commit.
struct StateStoreStats {
  uint64_t commits = 0;                // transactions committed by the writer
  uint64_t writes = 0;                 // put/del operations committed (each op of a transaction)
  uint64_t precondition_failures = 0;  // writes refused with kStatePreconditionFailed
  uint64_t quota_rejections = 0;       // writes refused with kStateQuotaExceeded
  uint64_t rejected_backlog = 0;       // writes refused with kStateBacklogFull
  uint64_t expired_removed = 0;        // expired keys removed (purge and quota reclaim)
  uint64_t queued = 0;                 // operations waiting now
  uint64_t queued_bytes = 0;           // their keys and values
};

class StateStore {
 public:
  using PutCallback = std::function<void(Result<PutOutcome>)>;
  using DeleteCallback = std::function<void(Result<bool>)>;
  using TransactionCallback = std::function<void(Result<std::vector<OpOutcome>>)>;

  // Opens (creating if needed) the store at `path` in WAL mode with synchronous=FULL, migrates
  // its schema forward and starts the writer thread. `clock` must outlive the store and be safe
  // to call from any thread (readers and the writer read it); `wall_at_start` is the wall time
  // clock.now() stands for at this call (expiry times are wall times, so they survive restarts).
  // Errors: kInvalidStateStoreOptions, kStateStoreDamaged (not a database, or a corrupt one: the
  // message says how to recover), kStateStoreTooNew, store_error. Blocks on disk I/O.
  static Result<std::unique_ptr<StateStore>> open(const std::string& path, const StateStoreOptions& options,
                                                  const Clock& clock,
                                                  SystemTime wall_at_start = std::chrono::system_clock::now());
  // close(), then releases the connections.
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Stops accepting writes (they then fail with kStateStoreClosed), commits what is queued,
  // completes its callers and stops the writer. Reads keep working. Idempotent; blocks until the
  // writer is done (so never from a completion callback).
  void close();

  // --- reads (a read connection; never wait behind a commit) -------------------------------
  // Every read of a shared store that does not exist is 404 kStateStoreNotFound, and every
  // read validates the store and keys (400).

  // The live value of `key`. Errors: kStateKeyNotFound (missing or expired), store_error.
  Result<StateEntry> get(std::string_view store, std::string_view key);
  // Up to options.max_keys_per_request keys, read at one instant (one snapshot); a missing
  // key is reported as missing, not as an error. Errors: kStateRequestTooLarge.
  Result<std::vector<BulkEntry>> get_many(std::string_view store, const std::vector<std::string>& keys);
  // Live keys starting with `prefix` (empty: all) that sort after `after_key` (empty: from the
  // start), at most min(limit, options.max_list_limit), limit 0 meaning the maximum.
  Result<KeyPage> list(std::string_view store, std::string_view prefix, std::string_view after_key, size_t limit);

  // --- writes (blocking: return after the commit; _async: callback after the commit) -------

  // Sets `key` to `value`. Errors: kInvalidStateKey, kInvalidStateStore, kInvalidStateRequest
  // (a TTL not positive), kStateValueTooLarge, kStateStoreNotFound, kStatePreconditionFailed,
  // kStateQuotaExceeded, kStateBacklogFull, kStateStoreClosed, kInsufficientStorage,
  // store_error.
  Result<PutOutcome> put(std::string_view store, std::string_view key, std::string value, PutOptions options = {});
  Status put_async(std::string_view store, std::string_view key, std::string value, PutOptions options,
                   PutCallback done);
  // Removes `key`; true when a live key was removed, false when there was none (which is not an
  // error unless a precondition demanded the key). Errors as put.
  Result<bool> del(std::string_view store, std::string_view key, Precondition condition = {});
  Status del_async(std::string_view store, std::string_view key, Precondition condition, DeleteCallback done);
  // Applies `ops` in order, all or nothing, in one SQLite transaction: each op's precondition is
  // checked against the state left by the ops before it. The first op that fails fails the whole
  // transaction (412 kStatePreconditionFailed names its key) and nothing is stored. An empty
  // list returns at once. Errors: those of put, and kStateRequestTooLarge (more than
  // options.max_keys_per_request ops, or more bytes than options.max_queued_bytes).
  Result<std::vector<OpOutcome>> transact(std::string_view store, std::vector<StateOp> ops);
  // For an empty list, `done` runs at once on the calling thread.
  Status transact_async(std::string_view store, std::vector<StateOp> ops, TransactionCallback done);

  // --- stores (blocking) -------------------------------------------------------------------

  // Creates an empty shared store "shared:NAME". Errors: kInvalidStateStore, kStateStoreExists,
  // and the write errors of put.
  Status create_shared_store(std::string_view name);
  // Deletes a store (its keys vanish at once; see the top of this file); false when it did not
  // exist. A function store's grants elsewhere are kept: remove_function() drops those too.
  Result<bool> delete_store(std::string_view store);
  // Lets `function` use the shared store `store`; false when it already could. Errors:
  // kInvalidStateStore (not a shared store, or a bad function name), kStateStoreNotFound.
  Result<bool> grant(std::string_view store, std::string_view function);
  // Takes that back; false when it was not granted. Errors as grant.
  Result<bool> revoke(std::string_view store, std::string_view function);
  // For a deleted function: deletes its store and revokes its grants on shared stores (a function
  // created later under the same name starts with neither). Returns the keys its store had.
  Result<uint64_t> remove_function(std::string_view function);

  // Whether `function` may use `store`: its own store, or a shared one that exists and grants it.
  Result<bool> may_access(std::string_view function, std::string_view store);
  // The store's keys and bytes; a function store never written reports zero. Errors:
  // kStateStoreNotFound (a shared store), kInvalidStateStore.
  Result<StoreUsage> usage(std::string_view store);
  // Every store that exists (function stores once written), sorted by name.
  Result<std::vector<StoreInfo>> list_stores();

  // --- maintenance -------------------------------------------------------------------------

  // Removes the keys that expired at or before `now` and the keys of deleted stores, then gives
  // freed pages back (incremental vacuum). Runs on the writer thread in chunks of
  // options.purge_chunk rows, each its own transaction, so writes keep flowing in between.
  // Call it periodically from a maintenance thread. Errors: kStateStoreClosed, store_error.
  // Blocks until done.
  Result<PurgeReport> purge_expired(SystemTime now);

  StateStoreStats stats() const;
  const std::string& path() const;

 private:
  explicit StateStore(std::unique_ptr<internal::StateStoreCore> core);
  std::unique_ptr<internal::StateStoreCore> core_;
};

}  // namespace fnd::store
