#include "kafka_offset_tracker.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace fnd::eventing::internal {

void KafkaOffsetTracker::assign(const KafkaPartition& partition) { partitions_.try_emplace(partition); }

std::optional<int64_t> KafkaOffsetTracker::revoke(const KafkaPartition& partition) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return std::nullopt;
  std::optional<int64_t> position = it->second.durable_position;
  if (!it->second.advanced || position == it->second.committed) position.reset();
  partitions_.erase(it);
  return position;
}

bool KafkaOffsetTracker::assigned(const KafkaPartition& partition) const { return partitions_.contains(partition); }

bool KafkaOffsetTracker::handed_out(const KafkaPartition& partition, int64_t offset) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return false;
  auto& state = it->second;
  if (state.durable_position && offset < *state.durable_position) {
    state.outstanding.clear();
    state.durable_position.reset();
    state.advanced = false;
  }
  if (!state.durable_position) state.durable_position = offset;
  state.outstanding.try_emplace(offset, false);
  return true;
}

bool KafkaOffsetTracker::mark_durable(const KafkaPartition& partition, int64_t offset) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return false;
  auto& state = it->second;
  auto record = state.outstanding.find(offset);
  if (record == state.outstanding.end()) return false;
  record->second = true;
  while (!state.outstanding.empty() && state.outstanding.begin()->second) {
    state.durable_position = state.outstanding.begin()->first + 1;
    state.advanced = true;
    state.outstanding.erase(state.outstanding.begin());
  }
  return true;
}

std::vector<std::pair<KafkaPartition, int64_t>> KafkaOffsetTracker::take_commits() {
  std::vector<std::pair<KafkaPartition, int64_t>> commits;
  for (auto& [partition, state] : partitions_) {
    if (!state.advanced || state.durable_position == state.requested) continue;
    state.requested = state.durable_position;
    commits.emplace_back(partition, *state.durable_position);
  }
  return commits;
}

void KafkaOffsetTracker::commit_succeeded(const KafkaPartition& partition, int64_t position) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return;
  // Answers to two commits may cross; Kafka holds the later request, which take_commits() made
  // with the higher position unless the log went back.
  if (!it->second.committed || position > *it->second.committed || position == it->second.requested) {
    it->second.committed = position;
  }
}

void KafkaOffsetTracker::commit_failed(const KafkaPartition& partition, int64_t position) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return;
  if (it->second.requested == position) it->second.requested = it->second.committed;
}

std::size_t KafkaOffsetTracker::pending() const {
  std::size_t total = 0;
  for (const auto& [partition, state] : partitions_) total += state.outstanding.size();
  return total;
}

std::vector<KafkaPartitionProgress> KafkaOffsetTracker::progress() const {
  std::vector<KafkaPartitionProgress> all;
  all.reserve(partitions_.size());
  for (const auto& [partition, state] : partitions_) {
    all.push_back({.partition = partition,
                   .durable_position = state.durable_position,
                   .committed = state.committed,
                   .pending = state.outstanding.size(),
                   .lag = std::nullopt});
  }
  return all;
}

}  // namespace fnd::eventing::internal
