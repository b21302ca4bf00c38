// Starts an instance from a stem cell of the function's runtime when one is ready (and the
// function can use one), else from the function's pre-created container when there is one, else
// as a plain container. Private to the scheduler module.
#pragma once

#include "instance_launcher.hpp"
#include "precreated_pool.hpp"
#include "runtime/container_runtime.hpp"
#include "stem_cell_pool.hpp"

namespace fnd::scheduler::internal {

class ContainerLauncher final : public InstanceLauncher {
 public:
  ContainerLauncher(runtime::ContainerRuntime& runtime, StemCellPool& cells, PrecreatedPool& precreated)
      : runtime_(runtime), cells_(cells), precreated_(precreated) {}
  boost::asio::awaitable<Result<std::shared_ptr<runtime::Instance>>> start(const store::Revision& revision) override;
  boost::asio::awaitable<void> stop(std::shared_ptr<runtime::Instance> instance, bool kill) override;
  void prepare(std::shared_ptr<const store::Revision> revision) override;
  void forget(const std::string& function) override;

 private:
  runtime::ContainerRuntime& runtime_;
  StemCellPool& cells_;
  PrecreatedPool& precreated_;
};

}  // namespace fnd::scheduler::internal
