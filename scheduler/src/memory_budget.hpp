// The host-wide budget for instances' memory: the sum of their resources.memory, starting ones
// included. It only decides; stopping the instances it names is the scheduler's job. Private to
// the scheduler module.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "revision_pool.hpp"

namespace fnd::scheduler::internal {

class MemoryBudget {
 public:
  // 0 = unlimited.
  explicit MemoryBudget(uint64_t bytes) : bytes_(bytes) {}

  uint64_t bytes() const { return bytes_; }
  bool limited() const { return bytes_ > 0; }
  // Whether one instance of this size could fit at all, in an otherwise empty budget.
  bool could_ever_fit(uint64_t needed) const { return !limited() || needed <= bytes_; }
  // Memory reserved by every instance of `pools`, running and starting.
  uint64_t reserved(const PoolMap& pools) const;

  struct Eviction {
    std::shared_ptr<RevisionPool> pool;
    std::shared_ptr<runtime::Instance> instance;
  };
  // What must stop so that `requester` can start one more instance: idle instances of other
  // revisions, least recently used first. Empty when it fits already; nullopt when it cannot fit
  // even after stopping every idle instance (or ever).
  std::optional<std::vector<Eviction>> make_room(const RevisionPool& requester, const PoolMap& pools) const;

 private:
  uint64_t bytes_;
};

}  // namespace fnd::scheduler::internal
