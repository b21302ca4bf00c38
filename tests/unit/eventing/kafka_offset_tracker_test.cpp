#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "eventing/kafka_client.hpp"
#include "kafka_offset_tracker.hpp"

using fnd::eventing::KafkaPartition;
using fnd::eventing::internal::KafkaOffsetTracker;

namespace {

const KafkaPartition kOrders{"orders", 0};
const KafkaPartition kOrdersOne{"orders", 1};

using Commits = std::vector<std::pair<KafkaPartition, int64_t>>;

void hand_out(KafkaOffsetTracker& tracker, const KafkaPartition& partition, std::vector<int64_t> offsets) {
  for (auto offset : offsets) REQUIRE(tracker.handed_out(partition, offset));
}

std::optional<int64_t> durable_position(const KafkaOffsetTracker& tracker, const KafkaPartition& partition) {
  for (const auto& progress : tracker.progress()) {
    if (progress.partition == partition) return progress.durable_position;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("only the contiguous durable prefix becomes committable", "[unit]") {
  KafkaOffsetTracker tracker;
  tracker.assign(kOrders);
  hand_out(tracker, kOrders, {0, 1, 2, 3, 4, 5, 6});
  CHECK(tracker.pending() == 7);

  for (int64_t offset : {0, 1, 2, 5}) CHECK(tracker.mark_durable(kOrders, offset));
  CHECK(durable_position(tracker, kOrders) == 3);
  CHECK(tracker.take_commits() == Commits{{kOrders, 3}});
  CHECK(tracker.take_commits().empty());  // nothing moved since
  CHECK(tracker.pending() == 4);          // 3, 4, 5 (durable behind the gap), 6

  CHECK(tracker.mark_durable(kOrders, 3));
  CHECK(tracker.mark_durable(kOrders, 4));  // closes the gap: 5 was durable already
  CHECK(tracker.take_commits() == Commits{{kOrders, 6}});
  CHECK(tracker.pending() == 1);
}

TEST_CASE("contiguity is over the records handed out, not over consecutive offsets", "[unit]") {
  KafkaOffsetTracker tracker;
  tracker.assign(kOrders);
  hand_out(tracker, kOrders, {10, 12, 15});  // 11, 13, 14: compacted away or transaction markers
  CHECK(tracker.mark_durable(kOrders, 10));
  CHECK(tracker.mark_durable(kOrders, 12));
  CHECK(durable_position(tracker, kOrders) == 13);
  CHECK(tracker.mark_durable(kOrders, 15));
  CHECK(durable_position(tracker, kOrders) == 16);
  CHECK(tracker.pending() == 0);
}

TEST_CASE("marks that do not belong to the current assignment are refused", "[unit]") {
  KafkaOffsetTracker tracker;
  CHECK_FALSE(tracker.handed_out(kOrders, 0));  // not assigned: the record is dropped
  tracker.assign(kOrders);
  hand_out(tracker, kOrders, {0, 1});
  CHECK_FALSE(tracker.mark_durable(kOrders, 7));     // never handed out
  CHECK_FALSE(tracker.mark_durable(kOrdersOne, 0));  // another partition, not assigned
  CHECK(tracker.mark_durable(kOrders, 0));
  CHECK_FALSE(tracker.mark_durable(kOrders, 0));  // committable already: no longer pending
  CHECK(tracker.mark_durable(kOrders, 1));
}

TEST_CASE("revoking returns what is durable and forgets the pending records", "[unit]") {
  KafkaOffsetTracker tracker;
  tracker.assign(kOrders);
  tracker.assign(kOrdersOne);
  hand_out(tracker, kOrders, {0, 1, 2, 3});
  hand_out(tracker, kOrdersOne, {40});
  CHECK(tracker.mark_durable(kOrders, 0));
  CHECK(tracker.mark_durable(kOrders, 2));

  CHECK(tracker.revoke(kOrders) == 1);
  CHECK_FALSE(tracker.assigned(kOrders));
  CHECK_FALSE(tracker.mark_durable(kOrders, 1));      // its new owner gets record 1 again
  CHECK(tracker.pending() == 1);                      // only partition 1's record
  CHECK(tracker.revoke(kOrdersOne) == std::nullopt);  // nothing durable there

  // Assigned again later: the partition starts over from wherever Kafka resumes it.
  tracker.assign(kOrders);
  hand_out(tracker, kOrders, {1});
  CHECK(durable_position(tracker, kOrders) == 1);
}

TEST_CASE("a revoke does not commit again what Kafka confirmed", "[unit]") {
  KafkaOffsetTracker tracker;
  tracker.assign(kOrders);
  hand_out(tracker, kOrders, {0, 1});
  CHECK(tracker.mark_durable(kOrders, 0));
  CHECK(tracker.take_commits() == Commits{{kOrders, 1}});
  tracker.commit_succeeded(kOrders, 1);
  CHECK(tracker.progress().front().committed == 1);
  CHECK(tracker.revoke(kOrders) == std::nullopt);
}

TEST_CASE("a failed commit is offered again", "[unit]") {
  KafkaOffsetTracker tracker;
  tracker.assign(kOrders);
  hand_out(tracker, kOrders, {0, 1, 2});
  CHECK(tracker.mark_durable(kOrders, 0));
  CHECK(tracker.take_commits() == Commits{{kOrders, 1}});
  tracker.commit_failed(kOrders, 1);
  CHECK(tracker.take_commits() == Commits{{kOrders, 1}});

  // A failure of an older request while a newer one is out changes nothing.
  CHECK(tracker.mark_durable(kOrders, 1));
  CHECK(tracker.take_commits() == Commits{{kOrders, 2}});
  tracker.commit_failed(kOrders, 1);
  CHECK(tracker.take_commits().empty());
  tracker.commit_succeeded(kOrders, 2);
  CHECK(tracker.progress().front().committed == 2);

  tracker.commit_succeeded(KafkaPartition{"gone", 0}, 5);  // revoked meanwhile: ignored
  CHECK(tracker.progress().size() == 1);
}

TEST_CASE("a log that goes back starts the partition over", "[unit]") {
  KafkaOffsetTracker tracker;
  tracker.assign(kOrders);
  hand_out(tracker, kOrders, {5, 6});
  CHECK(tracker.mark_durable(kOrders, 5));
  CHECK(durable_position(tracker, kOrders) == 6);
  hand_out(tracker, kOrders, {3});  // an offset reset to an earlier position
  CHECK(durable_position(tracker, kOrders) == 3);
  CHECK(tracker.pending() == 1);
  CHECK_FALSE(tracker.mark_durable(kOrders, 6));
  CHECK(tracker.mark_durable(kOrders, 3));
  CHECK(durable_position(tracker, kOrders) == 4);
}

TEST_CASE("progress lists every assigned partition in order", "[unit]") {
  KafkaOffsetTracker tracker;
  tracker.assign(kOrdersOne);
  tracker.assign(kOrders);
  hand_out(tracker, kOrdersOne, {7, 8});
  auto progress = tracker.progress();
  REQUIRE(progress.size() == 2);
  CHECK(progress[0].partition == kOrders);
  CHECK(progress[0].durable_position == std::nullopt);
  CHECK(progress[0].pending == 0);
  CHECK(progress[1].partition == kOrdersOne);
  CHECK(progress[1].durable_position == 7);
  CHECK(progress[1].pending == 2);
  CHECK(progress[1].committed == std::nullopt);
}
