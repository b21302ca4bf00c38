// The scheduler module's settings, with their defaults (packaging/fnd.yaml documents each key).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "config/option_binder.hpp"
#include "scheduler/autoscaler.hpp"

namespace fnd::scheduler {

// Stem cells kept ready per runtime (0 turns a runtime's pool off; binary functions have none).
struct StemCellSettings {
  uint32_t python3 = 2;
  uint32_t shell = 1;
  uint32_t node = 1;
  uint64_t idle_memory = 256ULL << 20;  // a cell's memory limit until a function takes it
  // After a cell fails to start, the pool waits this long (doubling up to 5 minutes) before trying
  // that runtime again, so a missing interpreter does not spin.
  std::chrono::milliseconds retry_delay = std::chrono::seconds(5);

  bool operator==(const StemCellSettings&) const = default;
};

struct SchedulerOptions {
  // Sum of resources.memory over all instances (running and starting); 0 = 75% of the host's
  // memory. When a start would pass it, idle instances of other functions are stopped, least
  // recently used first.
  uint64_t memory_budget = 0;
  StemCellSettings stem_cells;
  // Containers created ahead for functions that cannot use a stem cell; 0 = none.
  uint32_t precreated_max = 16;
  // Ceiling for a spec's scale.max and scale.min: a deploy asking for more is refused.
  uint32_t max_scale = 1000;
  size_t max_queued_per_revision = 1000;  // waiting requests per revision before 503 queue_full
  std::chrono::milliseconds reap_interval = std::chrono::seconds(1);  // also the autoscaler's sample interval
  AutoscalerSettings autoscaler;  // windows, thresholds; per-revision target/min/max come from the spec

  bool operator==(const SchedulerOptions&) const = default;
};

// Binds scheduler.*, and limits.max_scale.
void bind_options(config::OptionBinder& binder, SchedulerOptions& options);

}  // namespace fnd::scheduler
