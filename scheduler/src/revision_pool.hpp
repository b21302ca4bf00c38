// One revision's instances and the requests waiting for them. Private to the scheduler module.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/notifier.hpp"
#include "core/time.hpp"
#include "runtime/instance.hpp"
#include "scheduler/autoscaler.hpp"
#include "store/function_repository.hpp"

namespace fnd::scheduler::internal {

struct Slot {
  std::shared_ptr<runtime::Instance> instance;
  uint32_t in_flight = 0;
  SteadyTime last_used;
  SystemTime last_used_wall;
  bool recycle = false;
  bool prewarmed = false;  // started ahead of an expected call and not used yet
};

struct RevisionPool {
  RevisionPool(std::shared_ptr<const store::Revision> live, const AutoscalerSettings& base);

  std::shared_ptr<const store::Revision> revision;
  Autoscaler autoscaler;
  ScalingDecision last_decision;
  std::vector<Slot> slots;
  uint32_t starting = 0;
  uint64_t start_failures = 0;
  std::optional<Error> last_start_error;
  bool retired = false;
  Notifier changed;  // a slot freed, an instance started or ended, the pool retired

  uint64_t memory_per_instance() const { return revision->spec.resources.memory_bytes; }
  Slot* find(const runtime::Instance& instance);
  // Least outstanding requests among ready instances with a free concurrency slot.
  Slot* least_loaded_free_slot();
  void erase(const runtime::Instance& instance);
};

// function -> revision number -> pool
using PoolMap = std::map<std::string, std::map<uint32_t, std::shared_ptr<RevisionPool>>, std::less<>>;

}  // namespace fnd::scheduler::internal
