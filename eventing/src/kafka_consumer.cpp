#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "eventing/kafka_client.hpp"
#include "kafka_config.hpp"
#include "kafka_connection_monitor.hpp"
#include "kafka_handles.hpp"
#include "kafka_offset_tracker.hpp"

namespace fnd::eventing {
namespace {

using internal::error_text;
using internal::RdKafkaPartitionListPtr;

// How long rd_kafka_consumer_poll() waits when nothing is queued, so that stop is noticed.
constexpr int kPollMilliseconds = 100;

KafkaRecord to_record(const rd_kafka_message_t& message) {
  KafkaRecord record;
  if (message.key) record.key.emplace(static_cast<const char*>(message.key), message.key_len);
  if (message.payload) record.value.emplace(static_cast<const char*>(message.payload), message.len);
  rd_kafka_headers_t* headers = nullptr;  // owned by the message
  if (rd_kafka_message_headers(&message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      // KafkaHeaders cannot hold a null header value: it reads as empty.
      record.headers.emplace_back(name, value ? std::string(static_cast<const char*>(value), size) : std::string());
    }
  }
  return record;
}

RdKafkaPartitionListPtr partition_list(const std::vector<std::pair<KafkaPartition, int64_t>>& offsets) {
  RdKafkaPartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [partition, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), partition.topic.c_str(), partition.partition)->offset = offset;
  }
  return list;
}

std::vector<KafkaPartition> partitions_of(const rd_kafka_topic_partition_list_t& list) {
  std::vector<KafkaPartition> partitions;
  partitions.reserve(static_cast<std::size_t>(list.cnt));
  for (int i = 0; i < list.cnt; ++i) partitions.push_back({list.elems[i].topic, list.elems[i].partition});
  return partitions;
}

// Commits and waits at most `timeout` for Kafka's answer. (rd_kafka_commit(..., 0) can wait
// forever when the group is torn down while the commit is queued.)
rd_kafka_resp_err_t commit_and_wait(rd_kafka_t* handle, const rd_kafka_topic_partition_list_t& offsets,
                                    std::chrono::milliseconds timeout) {
  internal::RdKafkaQueuePtr answers(rd_kafka_queue_new(handle));
  if (auto err = rd_kafka_commit_queue(handle, &offsets, answers.get(), nullptr, nullptr);
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return err;
  }
  internal::RdKafkaEventPtr answer(rd_kafka_queue_poll(answers.get(), static_cast<int>(timeout.count())));
  if (!answer) return RD_KAFKA_RESP_ERR__TIMED_OUT;
  if (auto err = rd_kafka_event_error(answer.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) return err;
  if (const auto* committed = rd_kafka_event_topic_partition_list(answer.get())) {
    for (int i = 0; i < committed->cnt; ++i) {
      if (committed->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) return committed->elems[i].err;
    }
  }
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

// Whether the configured assignors rebalance incrementally. Read from the configuration once:
// rd_kafka_rebalance_protocol() asks the group thread and can block forever during close.
bool is_cooperative(const rd_kafka_conf_t& conf) {
  std::array<char, 256> strategy{};
  std::size_t size = strategy.size();
  if (rd_kafka_conf_get(&conf, "partition.assignment.strategy", strategy.data(), &size) != RD_KAFKA_CONF_OK) {
    return false;
  }
  // librdkafka refuses to mix cooperative and eager assignors.
  return std::string_view(strategy.data()).find("cooperative") != std::string_view::npos;
}

std::chrono::milliseconds remaining(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

// A handler that throws would unwind through librdkafka's C frames: crash loudly instead.
void run_handler(const KafkaBatchHandler& handler, std::vector<KafkaConsumedRecord> batch) noexcept {
  if (handler) handler(std::move(batch));
}

}  // namespace

struct KafkaConsumer::Impl {
  Impl(const KafkaSettings& s, const KafkaConsumerSettings& c, KafkaBatchHandler handler)
      : settings(s),
        consumer(c),
        on_records(std::move(handler)),
        monitor(s.health_check_interval, s.health_check_timeout) {}

  // The consumer's thread: fetches, hands out batches, serves rebalances and commit results
  // (librdkafka runs those callbacks inside rd_kafka_consumer_poll()).
  void run(const std::stop_token& stop) {
    auto next_commit = std::chrono::steady_clock::now() + consumer.commit_interval;
    while (!stop.stop_requested()) {
      std::size_t pending = 0;
      {
        std::lock_guard lock(mutex);
        pending = tracker.pending();
      }
      std::size_t room = consumer.max_pending_records - std::min(pending, consumer.max_pending_records);
      apply_pause(room == 0);
      // At least one: a record fetched before a pause is still handed out, never dropped.
      collect_batch(std::clamp<std::size_t>(room, 1, consumer.max_batch_records));
      if (!batch.empty()) {
        monitor.on_answer();
        run_handler(on_records, std::exchange(batch, {}));
      }
      if (auto now = std::chrono::steady_clock::now(); now >= next_commit) {
        next_commit = now + consumer.commit_interval;
        commit_durable();
      }
    }
    shut_down();
  }

  // Leaves the group from this thread, the one that serves rebalances. The subscription goes
  // first, while the group is alive, so that the revoke it causes (which commits what is
  // durable) runs here before the group is torn down: librdkafka 2.0 hangs when a revoke is
  // served after that. Records fetched from now on are never handed out.
  void shut_down() {
    closing = true;
    close_deadline = std::chrono::steady_clock::now() + settings.close_timeout;
    if (auto err = rd_kafka_unsubscribe(handle.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      monitor.note_error("leaving the kafka subscription failed: " + error_text(err));
    }
    // Until the revoke is served and an empty poll shows that no rebalance is queued.
    while (remaining(close_deadline).count() > 0) {
      bool tracking = false;
      {
        std::lock_guard lock(mutex);
        tracking = tracker.assigned_count() > 0;
      }
      internal::RdKafkaMessagePtr message(rd_kafka_consumer_poll(handle.get(), kPollMilliseconds));
      if (!message && !tracking) break;
    }
    internal::RdKafkaQueuePtr queue(rd_kafka_queue_get_consumer(handle.get()));
    internal::RdKafkaErrorPtr error(rd_kafka_consumer_close_queue(handle.get(), queue.get()));
    if (error) {
      close_error = std::string("leaving kafka consumer group failed: ") + rd_kafka_error_string(error.get());
      return;
    }
    while (!rd_kafka_consumer_closed(handle.get()) && remaining(close_deadline).count() > 0) {
      internal::RdKafkaMessagePtr message(rd_kafka_consumer_poll(handle.get(), kPollMilliseconds));
    }
    left_group = rd_kafka_consumer_closed(handle.get()) != 0;
  }

  void collect_batch(std::size_t limit) {
    while (batch.size() < limit) {
      internal::RdKafkaMessagePtr message(rd_kafka_consumer_poll(handle.get(), batch.empty() ? kPollMilliseconds : 0));
      if (!message) return;
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        on_message_error(*message);
        return;
      }
      KafkaPartition partition{rd_kafka_topic_name(message->rkt), message->partition};
      {
        std::lock_guard lock(mutex);
        // Not assigned any more: its new owner fetches it again from the committed offset.
        if (!tracker.handed_out(partition, message->offset)) continue;
      }
      batch.push_back({std::move(partition.topic), partition.partition, message->offset, to_record(*message)});
    }
  }

  void on_message_error(const rd_kafka_message_t& message) {
    if (message.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
    std::string reason = rd_kafka_message_errstr(&message);
    if (message.rkt) reason = std::string("topic '") + rd_kafka_topic_name(message.rkt) + "': " + reason;
    monitor.on_error(handle.get(), message.err, reason);
  }

  // Pauses fetching while max_pending_records are pending; librdkafka drops what it prefetched
  // for a paused partition and fetches it again on resume.
  void apply_pause(bool pause) {
    if (pause == paused && !assignment_changed) return;
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(handle.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    RdKafkaPartitionListPtr assigned(raw);
    auto err = pause ? rd_kafka_pause_partitions(handle.get(), assigned.get())
                     : rd_kafka_resume_partitions(handle.get(), assigned.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      monitor.note_error("could not " + std::string(pause ? "pause" : "resume") +
                         " kafka partitions: " + error_text(err));
      return;
    }
    paused = pause;
    assignment_changed = false;
  }

  // Sends the durable positions that moved; Kafka's answer comes to on_commit().
  void commit_durable() {
    std::vector<std::pair<KafkaPartition, int64_t>> commits;
    {
      std::lock_guard lock(mutex);
      commits = tracker.take_commits();
    }
    if (commits.empty()) return;
    auto list = partition_list(commits);
    if (auto err = rd_kafka_commit(handle.get(), list.get(), 1); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      monitor.note_error("committing kafka offsets failed: " + error_text(err));
      std::lock_guard lock(mutex);
      for (const auto& [partition, position] : commits) tracker.commit_failed(partition, position);
    }
  }

  void assign(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions) {
    // While closing, partitions are taken (librdkafka waits for that) but nothing is tracked, so
    // nothing is handed out or committed.
    if (!closing) {
      std::lock_guard lock(mutex);
      for (const auto& partition : partitions_of(*partitions)) tracker.assign(partition);
    }
    // Resume from the committed offset, never from a position this member held before.
    RdKafkaPartitionListPtr from_committed(rd_kafka_topic_partition_list_copy(partitions));
    for (int i = 0; i < from_committed->cnt; ++i) from_committed->elems[i].offset = RD_KAFKA_OFFSET_STORED;
    if (cooperative) {
      internal::RdKafkaErrorPtr error(rd_kafka_incremental_assign(rk, from_committed.get()));
      if (error) monitor.note_error(std::string("kafka assignment failed: ") + rd_kafka_error_string(error.get()));
    } else if (auto err = rd_kafka_assign(rk, from_committed.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      monitor.note_error("kafka assignment failed: " + error_text(err));
    }
    assignment_changed = true;
  }

  // Commits exactly what is durable (unless the partitions are lost: another member owns them
  // already) before letting them go, then forgets their pending records.
  void revoke(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions) {
    bool lost = rd_kafka_assignment_lost(rk) != 0;
    std::vector<std::pair<KafkaPartition, int64_t>> commits;
    auto revoked = partitions_of(*partitions);
    {
      std::lock_guard lock(mutex);
      for (const auto& partition : revoked) {
        auto position = tracker.revoke(partition);
        if (position && !lost) commits.emplace_back(partition, *position);
      }
    }
    // Records fetched but not handed out yet go to the new owner.
    std::erase_if(batch, [&](const KafkaConsumedRecord& record) {
      return std::find(revoked.begin(), revoked.end(), KafkaPartition{record.topic, record.partition}) != revoked.end();
    });
    if (!commits.empty()) {
      auto timeout = closing ? std::min(settings.socket_timeout, remaining(close_deadline)) : settings.socket_timeout;
      auto list = partition_list(commits);
      if (auto err = commit_and_wait(rk, *list, timeout); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::string text = "committing durable kafka offsets on revoke failed: " + error_text(err);
        monitor.note_error(text);
        if (closing) close_commit_error = text;
      }
    }
    if (cooperative) {
      internal::RdKafkaErrorPtr error(rd_kafka_incremental_unassign(rk, partitions));
      if (error) monitor.note_error(std::string("kafka unassignment failed: ") + rd_kafka_error_string(error.get()));
    } else {
      rd_kafka_assign(rk, nullptr);
    }
    assignment_changed = true;
  }

  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                           void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    switch (err) {
      case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        self->assign(rk, partitions);
        break;
      case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        self->revoke(rk, partitions);
        break;
      default: {
        // librdkafka asks for the assignment to be cleared; nothing can be committed safely.
        self->monitor.note_error("kafka rebalance failed: " + error_text(err));
        {
          std::lock_guard lock(self->mutex);
          self->tracker.clear();
        }
        self->batch.clear();
        rd_kafka_assign(rk, nullptr);
        self->assignment_changed = true;
        break;
      }
    }
  }

  static void on_commit(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets,
                        void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET || !offsets) return;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      self->monitor.note_error("committing kafka offsets failed: " + error_text(err));
    }
    std::lock_guard lock(self->mutex);
    for (int i = 0; i < offsets->cnt; ++i) {
      const auto& element = offsets->elems[i];
      KafkaPartition partition{element.topic, element.partition};
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR && element.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        self->tracker.commit_succeeded(partition, element.offset);
      } else {
        self->tracker.commit_failed(partition, element.offset);
      }
    }
  }

  static void on_error(rd_kafka_t* handle, int err, const char* reason, void* opaque) {
    static_cast<Impl*>(opaque)->monitor.on_error(handle, static_cast<rd_kafka_resp_err_t>(err), reason);
  }

  const KafkaSettings settings;
  const KafkaConsumerSettings consumer;
  const KafkaBatchHandler on_records;
  internal::KafkaConnectionMonitor monitor;
  internal::RdKafkaPtr handle;

  mutable std::mutex mutex;  // guards tracker
  internal::KafkaOffsetTracker tracker;

  bool cooperative = false;  // the assignors' rebalance protocol, fixed at creation

  // Only the consumer's thread touches these (close() reads them after joining it).
  std::vector<KafkaConsumedRecord> batch;
  bool paused = false;
  bool assignment_changed = false;
  bool closing = false;
  std::chrono::steady_clock::time_point close_deadline;
  std::optional<std::string> close_commit_error;
  std::optional<std::string> close_error;
  bool left_group = false;

  std::mutex close_mutex;  // serializes close()
  bool closed = false;
  Status close_status;
  std::jthread poller;
};

Result<std::unique_ptr<KafkaConsumer>> KafkaConsumer::create(const KafkaSettings& settings,
                                                             const KafkaConsumerSettings& consumer,
                                                             KafkaBatchHandler on_records) {
  if (auto valid = validate(settings); !valid) return valid.error();
  if (auto valid = validate(consumer); !valid) return valid.error();
  auto impl = std::make_unique<Impl>(settings, consumer, std::move(on_records));
  const internal::KafkaProperties defaults = {
      // A new group reads its topics from the start: events published before it existed count.
      {"auto.offset.reset", "earliest"},
  };
  auto heartbeat = std::max<int64_t>(1, consumer.session_timeout.count() / 3);
  const internal::KafkaProperties forced = {
      {"group.id", consumer.group_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"session.timeout.ms", internal::milliseconds_property(consumer.session_timeout)},
      {"heartbeat.interval.ms", std::to_string(heartbeat)},
  };
  auto conf = internal::make_conf(settings, defaults, forced);
  if (!conf) return conf.error();
  impl->cooperative = is_cooperative(*conf->get());
  rd_kafka_conf_set_opaque(conf->get(), impl.get());
  rd_kafka_conf_set_rebalance_cb(conf->get(), &Impl::on_rebalance);
  rd_kafka_conf_set_offset_commit_cb(conf->get(), &Impl::on_commit);
  rd_kafka_conf_set_error_cb(conf->get(), &Impl::on_error);
  auto handle = internal::make_handle(RD_KAFKA_CONSUMER, *conf);
  if (!handle) return handle.error();
  impl->handle = std::move(*handle);
  // Errors, logs and rebalances all come through rd_kafka_consumer_poll() on one thread.
  rd_kafka_poll_set_consumer(impl->handle.get());

  RdKafkaPartitionListPtr topics(rd_kafka_topic_partition_list_new(static_cast<int>(consumer.topics.size())));
  for (const auto& topic : consumer.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (auto err = rd_kafka_subscribe(impl->handle.get(), topics.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return internal::settings_error("kafka refused the subscription to the consumer's topics: " + error_text(err));
  }
  impl->poller = std::jthread([raw = impl.get()](std::stop_token stop) { raw->run(stop); });
  impl->monitor.start(impl->handle.get());
  return std::unique_ptr<KafkaConsumer>(new KafkaConsumer(std::move(impl)));
}

KafkaConsumer::KafkaConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaConsumer::~KafkaConsumer() {
  auto closed = close();
  if (!closed) spdlog::warn("kafka consumer of group '{}': {}", impl_->consumer.group_id, closed.error().message);
  // Before the state its callbacks use goes away.
  if (impl_->left_group) {
    impl_->handle.reset();
  } else {
    // rd_kafka_destroy() would try to leave the group again, without a deadline.
    rd_kafka_destroy_flags(impl_->handle.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }
}

Status KafkaConsumer::close() {
  assert(std::this_thread::get_id() != impl_->poller.get_id() && "close() from the batch handler never returns");
  std::lock_guard close_lock(impl_->close_mutex);
  if (impl_->closed) return impl_->close_status;
  impl_->closed = true;
  impl_->poller.request_stop();
  impl_->poller.join();  // the thread leaves the group before it ends
  impl_->monitor.stop();
  const std::string group = "'" + impl_->consumer.group_id + "'";
  if (impl_->close_commit_error) {
    impl_->close_status = make_error(
        std::string(kKafkaCommitFailed),
        *impl_->close_commit_error + " (group " + group + "); records after the last commit will be delivered again",
        503);
  } else if (impl_->close_error || !impl_->left_group) {
    impl_->close_status =
        make_error(std::string(kKafkaCloseTimeout),
                   impl_->close_error.value_or("kafka consumer group " + group + " was not left within close_timeout") +
                       "; its partitions move to other members after the session timeout",
                   503);
  }
  return impl_->close_status;
}

bool KafkaConsumer::mark_durable(std::string_view topic, int32_t partition, int64_t offset) {
  std::lock_guard lock(impl_->mutex);
  return impl_->tracker.mark_durable(KafkaPartition{std::string(topic), partition}, offset);
}

std::vector<KafkaPartitionProgress> KafkaConsumer::partitions() const {
  std::vector<KafkaPartitionProgress> all;
  {
    std::lock_guard lock(impl_->mutex);
    all = impl_->tracker.progress();
  }
  for (auto& progress : all) {
    int64_t low = RD_KAFKA_OFFSET_INVALID;
    int64_t high = RD_KAFKA_OFFSET_INVALID;
    // Cached from fetch responses: no request to Kafka.
    auto err = rd_kafka_get_watermark_offsets(impl_->handle.get(), progress.partition.topic.c_str(),
                                              progress.partition.partition, &low, &high);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 && progress.durable_position) {
      progress.lag = std::max<int64_t>(0, high - *progress.durable_position);
    }
  }
  return all;
}

KafkaClientState KafkaConsumer::state() const { return impl_->monitor.state(); }

}  // namespace fnd::eventing
