// What the scheduler needs from a runtime: start and stop instances. ContainerLauncher is the real
// one; unit tests give a fake. Private to the scheduler module.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "runtime/instance.hpp"
#include "store/function_repository.hpp"

namespace fnd::scheduler::internal {

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

}  // namespace fnd::scheduler::internal
