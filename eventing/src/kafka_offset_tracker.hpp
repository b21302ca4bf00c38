// Which records of each assigned partition a consumer handed out, which of them the caller made
// durable, and so which position may be committed: the offset after the contiguous durable
// prefix of the handed-out records. Offsets need not be consecutive (compacted topics,
// transaction markers): contiguity is over the records handed out, in offset order.
//
// Pure bookkeeping, no librdkafka and no time: the consumer feeds it and guards it with its
// mutex. Not thread safe. Private to the eventing module.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "eventing/kafka_client.hpp"

namespace fnd::eventing::internal {

class KafkaOffsetTracker {
 public:
  // Starts tracking a partition (a no-op if it is tracked already).
  void assign(const KafkaPartition& partition);
  // Stops tracking it and forgets its pending records. Returns the position to commit: the
  // durable position when records became committable since the last confirmed commit, else
  // nullopt (where the partition started needs no commit).
  std::optional<int64_t> revoke(const KafkaPartition& partition);
  // Forgets every partition, committing nothing (the assignment was lost).
  void clear() { partitions_.clear(); }
  bool assigned(const KafkaPartition& partition) const;
  std::size_t assigned_count() const { return partitions_.size(); }

  // The record at `offset` is being handed out. false when the partition is not assigned (drop
  // the record: its owner fetches it again). A lower offset than the durable position means the
  // log went back (an offset reset): the partition starts over from there.
  bool handed_out(const KafkaPartition& partition, int64_t offset);
  // true when the record was handed out in the current assignment (marking twice is fine).
  bool mark_durable(const KafkaPartition& partition, int64_t offset);

  // Durable positions that moved since they were last taken; each is then considered requested.
  std::vector<std::pair<KafkaPartition, int64_t>> take_commits();
  // Kafka's answer to a commit of `position`; unassigned partitions are ignored.
  void commit_succeeded(const KafkaPartition& partition, int64_t position);
  // A failed commit is offered again by the next take_commits().
  void commit_failed(const KafkaPartition& partition, int64_t position);

  std::size_t pending() const;  // handed out and not yet committable, over all partitions
  // The assigned partitions in order; `lag` is left for the consumer to fill.
  std::vector<KafkaPartitionProgress> progress() const;

 private:
  struct PartitionState {
    std::map<int64_t, bool> outstanding;      // handed out, not yet committable -> durable?
    std::optional<int64_t> durable_position;  // set by the first record handed out
    bool advanced = false;                    // a record became committable since then
    std::optional<int64_t> requested;         // last position taken for a commit
    std::optional<int64_t> committed;         // last position Kafka confirmed
  };

  std::map<KafkaPartition, PartitionState> partitions_;
};

}  // namespace fnd::eventing::internal
