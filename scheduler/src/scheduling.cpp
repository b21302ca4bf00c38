#include "scheduler/scheduling.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "container_launcher.hpp"
#include "instance_invoker.hpp"
#include "precreated_pool.hpp"
#include "runtime/container_runtime.hpp"
#include "scheduler.hpp"
#include "scheduler/function_directory.hpp"
#include "stem_cell_pool.hpp"

namespace fnd::scheduler {

namespace asio = boost::asio;

namespace {

uint64_t effective_budget(uint64_t configured, uint64_t host_memory) {
  if (configured > 0) return configured;
  return host_memory / 4 * 3;  // the rest for fnd, the kernel and the host's other work
}

}  // namespace

struct Scheduling::Parts {
  Parts(SchedulingContext& context, const SchedulerOptions& options)
      : runtime(context.runtime),
        budget(effective_budget(options.memory_budget, context.host_memory_bytes)),
        cells(context.executor, context.runtime, options.stem_cells),
        precreated(context.executor, context.runtime, options.precreated_max),
        launcher(context.runtime, cells, precreated),
        scheduler(context.executor, launcher, context.clock, options, budget, &context.metrics),
        invoker(directory, scheduler, context.metrics, context.runtime.options().start_timeout),
        deployments(context.executor, context.repository, context.code, context.disk_reserve, context.logs, directory,
                    scheduler, context.blocking_executor,
                    config::SpecLimits{context.host_memory_bytes, budget, options.max_scale}) {}

  runtime::ContainerRuntime& runtime;
  uint64_t budget;
  FunctionDirectory directory;
  internal::StemCellPool cells;
  internal::PrecreatedPool precreated;
  internal::ContainerLauncher launcher;
  Scheduler scheduler;
  InstanceInvoker invoker;
  Deployments deployments;
};

Scheduling::Scheduling(SchedulingContext context, SchedulerOptions options)
    : parts_(std::make_unique<Parts>(context, options)) {
  Parts& parts = *parts_;
  context.runtime.on_instance_exit([&parts](const std::shared_ptr<runtime::Instance>& instance) {
    if (instance->function().empty()) parts.cells.cell_exited(instance);
    else parts.scheduler.instance_exited(instance);
  });
  // Gauges read at scrape time (on the io_context's thread, like everything they read).
  context.metrics.add_collector([&parts](std::string& out) {
    parts.cells.render_metrics(out);
    parts.precreated.render_metrics(out);
    size_t waiting = parts.precreated.created();
    for (auto kind : {config::RuntimeKind::python3, config::RuntimeKind::shell, config::RuntimeKind::node}) {
      waiting += parts.cells.counts(kind).ready;
    }
    size_t live = parts.runtime.live_instances();
    out += fmt::format("# HELP fnd_instances Function instances running or starting (stem cells and pre-created "
                       "containers not included).\n# TYPE fnd_instances gauge\nfnd_instances {}\n",
                       live > waiting ? live - waiting : 0);
  });
}

Scheduling::~Scheduling() = default;

Invoker& Scheduling::invoker() { return parts_->invoker; }
Deployments& Scheduling::deployments() { return parts_->deployments; }
const FunctionStatus& Scheduling::status() const { return parts_->scheduler; }
uint64_t Scheduling::memory_budget() const { return parts_->budget; }

Status Scheduling::start() {
  if (Status loaded = parts_->deployments.load(); !loaded) return loaded;
  parts_->scheduler.start();
  parts_->deployments.start_code_collection(std::chrono::hours(1), std::chrono::hours(1));
  parts_->cells.start();
  return {};
}

asio::awaitable<void> Scheduling::shutdown() {
  parts_->deployments.stop();
  co_await parts_->scheduler.shutdown();
  co_await parts_->cells.shutdown();
  co_await parts_->precreated.shutdown();
}

}  // namespace fnd::scheduler
