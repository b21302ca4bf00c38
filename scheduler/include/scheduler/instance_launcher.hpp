// What the scheduler needs from a runtime: start and stop instances. ContainerRuntime is the real
// one (ContainerLauncher); tests may give a fake.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>

#include "core/error.hpp"
#include "runtime/instance.hpp"
#include "store/function_repository.hpp"

namespace fnd::runtime {
class ContainerRuntime;
}

namespace fnd::scheduler {

class StemCellPool;
class PrecreatedPool;

class InstanceLauncher {
 public:
  virtual ~InstanceLauncher() = default;
  // Resolves once the instance accepts connections, or with why it could not start.
  virtual boost::asio::awaitable<Result<std::shared_ptr<runtime::Instance>>> start(const store::Revision& revision) = 0;
  // Resolves once the instance is gone. `kill` skips the graceful SIGTERM period.
  virtual boost::asio::awaitable<void> stop(std::shared_ptr<runtime::Instance> instance, bool kill) = 0;
  // `revision` is now its function's latest: the launcher may get ready to start it.
  virtual void prepare(std::shared_ptr<const store::Revision> /*revision*/) {}
  // The function was deleted: drop whatever was readied for it.
  virtual void forget(const std::string& /*function*/) {}
};

// Starts an instance from a stem cell of the function's runtime when one is ready (and the
// function can use one), else from the function's pre-created container when there is one, else
// as a plain container.
class ContainerLauncher final : public InstanceLauncher {
 public:
  explicit ContainerLauncher(runtime::ContainerRuntime& runtime, StemCellPool* cells = nullptr,
                             PrecreatedPool* precreated = nullptr)
      : runtime_(runtime), cells_(cells), precreated_(precreated) {}
  boost::asio::awaitable<Result<std::shared_ptr<runtime::Instance>>> start(const store::Revision& revision) override;
  boost::asio::awaitable<void> stop(std::shared_ptr<runtime::Instance> instance, bool kill) override;
  void prepare(std::shared_ptr<const store::Revision> revision) override;
  void forget(const std::string& function) override;

 private:
  runtime::ContainerRuntime& runtime_;
  StemCellPool* cells_;
  PrecreatedPool* precreated_;
};

}  // namespace fnd::scheduler
