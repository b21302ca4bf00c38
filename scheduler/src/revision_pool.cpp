#include "revision_pool.hpp"

#include <algorithm>

namespace fnd::scheduler::internal {

namespace {

AutoscalerSettings settings_for(const store::Revision& revision, AutoscalerSettings settings) {
  settings.target = revision.spec.scale.effective_target();
  settings.min_scale = revision.spec.scale.min;
  settings.max_scale = revision.spec.scale.max;
  return settings;
}

}  // namespace

RevisionPool::RevisionPool(std::shared_ptr<const store::Revision> live, const AutoscalerSettings& base)
    : revision(std::move(live)), autoscaler(settings_for(*revision, base)) {}

Slot* RevisionPool::find(const runtime::Instance& instance) {
  for (auto& slot : slots) {
    if (slot.instance.get() == &instance) return &slot;
  }
  return nullptr;
}

Slot* RevisionPool::least_loaded_free_slot() {
  Slot* best = nullptr;
  for (auto& slot : slots) {
    if (slot.instance->state() != runtime::InstanceState::ready || slot.recycle) continue;
    if (slot.in_flight >= revision->spec.scale.concurrency) continue;
    if (!best || slot.in_flight < best->in_flight) best = &slot;
  }
  return best;
}

void RevisionPool::erase(const runtime::Instance& instance) {
  std::erase_if(slots, [&](const Slot& s) { return s.instance.get() == &instance; });
}

}  // namespace fnd::scheduler::internal
