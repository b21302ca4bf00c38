#include "memory_budget.hpp"

#include <algorithm>

namespace fnd::scheduler::internal {

uint64_t MemoryBudget::reserved(const PoolMap& pools) const {
  uint64_t total = 0;
  for (const auto& [function, revisions] : pools) {
    for (const auto& [number, pool] : revisions) total += (pool->slots.size() + pool->starting) * pool->memory_per_instance();
  }
  return total;
}

std::optional<std::vector<MemoryBudget::Eviction>> MemoryBudget::make_room(const RevisionPool& requester,
                                                                           const PoolMap& pools) const {
  std::vector<Eviction> evictions;
  if (!limited()) return evictions;
  const uint64_t needed = requester.memory_per_instance();
  if (!could_ever_fit(needed)) return std::nullopt;  // evicting everyone would not be enough
  uint64_t reserved_now = reserved(pools);
  if (reserved_now + needed <= bytes_) return evictions;
  struct Candidate {
    SteadyTime last_used;
    std::shared_ptr<RevisionPool> pool;
    std::shared_ptr<runtime::Instance> instance;
  };
  std::vector<Candidate> idle;
  for (const auto& [function, revisions] : pools) {
    for (const auto& [number, pool] : revisions) {
      if (pool.get() == &requester) continue;
      for (const auto& slot : pool->slots) {
        if (slot.in_flight == 0) idle.push_back({slot.last_used, pool, slot.instance});
      }
    }
  }
  std::sort(idle.begin(), idle.end(), [](const Candidate& a, const Candidate& b) { return a.last_used < b.last_used; });
  for (auto& candidate : idle) {
    if (reserved_now + needed <= bytes_) break;
    reserved_now -= candidate.pool->memory_per_instance();
    evictions.push_back({std::move(candidate.pool), std::move(candidate.instance)});
  }
  if (reserved_now + needed > bytes_) return std::nullopt;
  return evictions;
}

}  // namespace fnd::scheduler::internal
