#include "container_launcher.hpp"

#include <spdlog/spdlog.h>

namespace fnd::scheduler::internal {

namespace asio = boost::asio;

asio::awaitable<Result<std::shared_ptr<runtime::Instance>>> ContainerLauncher::start(const store::Revision& revision) {
  if (runtime::ContainerRuntime::stem_cell_can_serve(revision.spec)) {
    if (auto cell = cells_.take(revision.spec.runtime)) {
      Status specialized = co_await runtime_.specialize(cell, revision);
      if (specialized) co_return cell;
      if (specialized.error().code != runtime::kStemCellUnusable) co_return specialized.error();
      spdlog::warn("{}; starting a plain instance instead", specialized.error().message);
      co_await runtime_.stop(cell, true);
    }
  }
  if (auto created = precreated_.take(revision)) {
    Status started = co_await runtime_.start_created(created);
    if (started) co_return created;
    if (started.error().code != runtime::kPrecreatedUnusable) co_return started.error();
    spdlog::warn("{}; starting a plain instance instead", started.error().message);
    co_await runtime_.stop(created, true);
  }
  co_return co_await runtime_.start(revision);
}

asio::awaitable<void> ContainerLauncher::stop(std::shared_ptr<runtime::Instance> instance, bool kill) {
  co_await runtime_.stop(std::move(instance), kill);
}

void ContainerLauncher::prepare(std::shared_ptr<const store::Revision> revision) { precreated_.prepare(std::move(revision)); }

void ContainerLauncher::forget(const std::string& function) { precreated_.forget(function); }

}  // namespace fnd::scheduler::internal
