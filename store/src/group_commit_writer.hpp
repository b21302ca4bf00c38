// A writer thread doing group commit over one SQLite connection, private to the store module
// (the event log's and the state store's). It knows nothing of events or keys; it runs jobs.
//
// Callers on any thread submit WriteJobs into a bounded queue. The thread takes what is queued
// (up to max_batch weight, at least one job), applies every job in ONE transaction, each inside a
// savepoint of its own (a job's failure rolls back that job only), commits, and then completes
// every job. MaintenanceTasks (compaction) run between batches, one step at a time, each step in
// transactions of its own, so that long work never holds back a commit for long.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "connection.hpp"
#include "core/error.hpp"
#include "prepared_statement.hpp"

namespace fnd::store::internal {

class WriteJob {
 public:
  virtual ~WriteJob() = default;
  // Runs on the writer thread inside the batch's transaction and this job's savepoint. An error
  // rolls the savepoint back: nothing of this job is stored, the other jobs go on.
  virtual Status apply() = 0;
  // Runs once on the writer thread after the batch: `outcome` is apply()'s error when apply
  // failed, else the commit's outcome.
  virtual void complete(Status outcome) = 0;
};

class MaintenanceTask {
 public:
  virtual ~MaintenanceTask() = default;
  // One bounded chunk of work in transactions of its own; true when the task is finished.
  virtual Result<bool> step() = 0;
  // Runs once on the writer thread when step() finished the task, failed, or the writer closed.
  virtual void complete(Status outcome) = 0;
};

struct GroupCommitLimits {
  size_t max_batch = 1000;    // weight per transaction (a heavier single job still goes alone)
  size_t max_queued = 10000;  // weight waiting in the queue
};

// The errors submit() answers with, in the words of the writer's owner.
struct WriterErrors {
  Error (*backlog_full)(size_t queued_weight, size_t limit);  // 429, retryable
  Error (*closed)();                                          // 503, retryable

  // kLogBacklogFull and kEventLogClosed.
  static WriterErrors event_log();
};

class GroupCommitWriter {
 public:
  // `connection` must outlive the writer and be used by no other thread from now on. Prepares
  // its transaction statements; the thread starts with start().
  static Result<std::unique_ptr<GroupCommitWriter>> create(Connection& connection, GroupCommitLimits limits,
                                                           WriterErrors errors = WriterErrors::event_log());
  ~GroupCommitWriter();  // close()
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  void start();
  // Queues `job` weighing `weight` (its events; 1 for bookkeeping). Errors: errors.backlog_full
  // when the queue cannot take it, errors.closed after close(); the job is then dropped without
  // complete(). Never blocks on the writer. Safe from any thread.
  Status submit(std::unique_ptr<WriteJob> job, size_t weight);
  // Errors: errors.closed.
  Status submit(std::unique_ptr<MaintenanceTask> task);
  // Refuses new work, commits what is queued, completes pending maintenance with errors.closed
  // and joins the thread. Idempotent; safe from any thread but the writer's.
  void close();

  bool on_writer_thread() const { return std::this_thread::get_id() == thread_id_.load(); }
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }
  uint64_t queued() const;

 private:
  struct Queued {
    std::unique_ptr<WriteJob> job;
    size_t weight;
  };
  struct Statements {
    PreparedStatement begin, commit, rollback, savepoint, release, rollback_to;
  };

  GroupCommitWriter(Connection& connection, GroupCommitLimits limits, WriterErrors errors, Statements statements);
  void run();
  void commit_batch(std::deque<Queued>& batch);
  Status execute(PreparedStatement& statement);

  Connection& connection_;
  const GroupCommitLimits limits_;
  const WriterErrors errors_;
  Statements statements_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> jobs_;  // bounded: weight <= limits_.max_queued
  size_t queued_weight_ = 0;
  std::deque<std::unique_ptr<MaintenanceTask>> tasks_;  // a handful at most (compactions)
  bool closing_ = false;

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<std::thread::id> thread_id_{};
  std::mutex join_mutex_;  // close() from two threads at once joins once
  std::thread thread_;
};

}  // namespace fnd::store::internal
