#include "group_commit_writer.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "store/event_log.hpp"

namespace fnd::store::internal {

namespace {

Error log_backlog_full(size_t queued, size_t limit) {
  Error e = make_error(std::string(kLogBacklogFull),
                       fmt::format("the event log's write queue is full ({} of {} queued events wait for the disk); "
                                   "retry shortly",
                                   queued, limit),
                       429);
  e.retryable = true;
  e.retry_after_seconds = 1;
  return e;
}

Error log_closed() {
  Error e = make_error(std::string(kEventLogClosed), "the event log is shutting down; retry once fnd is back", 503);
  e.retryable = true;
  e.retry_after_seconds = 1;
  return e;
}

}  // namespace

WriterErrors WriterErrors::event_log() { return WriterErrors{&log_backlog_full, &log_closed}; }

Result<std::unique_ptr<GroupCommitWriter>> GroupCommitWriter::create(Connection& connection, GroupCommitLimits limits,
                                                                     WriterErrors errors) {
  auto prepare = [&](std::string_view sql) { return PreparedStatement::prepare(connection, sql); };
  auto begin = prepare("BEGIN IMMEDIATE;");
  auto commit = prepare("COMMIT;");
  auto rollback = prepare("ROLLBACK;");
  auto savepoint = prepare("SAVEPOINT job;");
  auto release = prepare("RELEASE job;");
  auto rollback_to = prepare("ROLLBACK TO job;");
  for (const auto* r : {&begin, &commit, &rollback, &savepoint, &release, &rollback_to}) {
    if (!*r) return r->error();
  }
  Statements statements{std::move(*begin),     std::move(*commit),  std::move(*rollback),
                        std::move(*savepoint), std::move(*release), std::move(*rollback_to)};
  return std::unique_ptr<GroupCommitWriter>(new GroupCommitWriter(connection, limits, errors, std::move(statements)));
}

GroupCommitWriter::GroupCommitWriter(Connection& connection, GroupCommitLimits limits, WriterErrors errors,
                                     Statements statements)
    : connection_(connection), limits_(limits), errors_(errors), statements_(std::move(statements)) {}

GroupCommitWriter::~GroupCommitWriter() { close(); }

void GroupCommitWriter::start() {
  thread_ = std::thread([this] {
    thread_id_.store(std::this_thread::get_id());
    run();
    // Thread ids are reused: a later thread must not pass for the writer.
    thread_id_.store(std::thread::id());
  });
}

Status GroupCommitWriter::submit(std::unique_ptr<WriteJob> job, size_t weight) {
  {
    std::lock_guard lock(mutex_);
    if (closing_) return errors_.closed();
    if (queued_weight_ + weight > limits_.max_queued) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return errors_.backlog_full(queued_weight_, limits_.max_queued);
    }
    queued_weight_ += weight;
    jobs_.push_back({std::move(job), weight});
  }
  wake_.notify_one();
  return {};
}

Status GroupCommitWriter::submit(std::unique_ptr<MaintenanceTask> task) {
  {
    std::lock_guard lock(mutex_);
    if (closing_) return errors_.closed();
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
  return {};
}

void GroupCommitWriter::close() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  wake_.notify_one();
  std::lock_guard lock(join_mutex_);
  if (thread_.joinable()) thread_.join();
}

uint64_t GroupCommitWriter::queued() const {
  std::lock_guard lock(mutex_);
  return queued_weight_;
}

void GroupCommitWriter::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return closing_ || !jobs_.empty() || !tasks_.empty(); });
    if (closing_ && jobs_.empty() && tasks_.empty()) break;

    std::deque<Queued> batch;
    size_t weight = 0;
    while (!jobs_.empty() && (batch.empty() || weight + jobs_.front().weight <= limits_.max_batch)) {
      weight += jobs_.front().weight;
      batch.push_back(std::move(jobs_.front()));
      jobs_.pop_front();
    }
    queued_weight_ -= weight;
    std::unique_ptr<MaintenanceTask> task;
    if (!tasks_.empty()) {
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    const bool closing = closing_;
    lock.unlock();

    if (!batch.empty()) commit_batch(batch);
    // One maintenance step per round: under a steady stream of appends compaction still
    // progresses, and no append waits for more than one step.
    std::optional<Status> finished;
    if (task && closing) {
      finished = errors_.closed();
    } else if (task) {
      auto done = task->step();
      if (!done)
        finished = done.error();
      else if (*done)
        finished = Status{};
    }
    if (task && finished) task->complete(std::move(*finished));

    lock.lock();
    if (task && !finished) tasks_.push_front(std::move(task));
  }
}

Status GroupCommitWriter::execute(PreparedStatement& statement) { return statement.use().run(); }

void GroupCommitWriter::commit_batch(std::deque<Queued>& batch) {
  std::vector<Status> applied(batch.size());
  Status committed = execute(statements_.begin);
  if (committed) {
    for (size_t i = 0; i < batch.size(); ++i) {
      if (Status st = execute(statements_.savepoint); !st) {
        committed = st;
        break;
      }
      applied[i] = batch[i].job->apply();
      if (applied[i]) {
        if (Status st = execute(statements_.release); !st) {
          committed = st;
          break;
        }
        continue;
      }
      // Some errors (I/O, a full disk during a spill) make SQLite roll back the whole
      // transaction on its own: then nothing of the batch survives.
      if (sqlite3_get_autocommit(connection_.db.get()) != 0) {
        committed = applied[i];
        break;
      }
      Status undone = execute(statements_.rollback_to);
      if (undone) undone = execute(statements_.release);
      if (!undone) {
        committed = undone;
        break;
      }
    }
    if (committed) committed = execute(statements_.commit);
    if (!committed && sqlite3_get_autocommit(connection_.db.get()) == 0) (void)execute(statements_.rollback);
    if (committed) commits_.fetch_add(1, std::memory_order_relaxed);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].job->complete(committed ? std::move(applied[i]) : committed);
  }
}

}  // namespace fnd::store::internal
