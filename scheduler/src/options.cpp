#include "scheduler/options.hpp"

namespace fnd::scheduler {

void bind_options(config::OptionBinder& binder, SchedulerOptions& options) {
  binder.bytes("scheduler.memory_budget", options.memory_budget);
  binder.count("scheduler.stem_cells.python3", options.stem_cells.python3, 64);
  binder.count("scheduler.stem_cells.shell", options.stem_cells.shell, 64);
  binder.count("scheduler.stem_cells.node", options.stem_cells.node, 64);
  binder.bytes("scheduler.stem_cells.idle_memory", options.stem_cells.idle_memory);
  binder.count("scheduler.precreated_max", options.precreated_max, 64);
  binder.count("limits.max_scale", options.max_scale, 10000);
}

}  // namespace fnd::scheduler
