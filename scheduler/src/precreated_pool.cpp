#include "precreated_pool.hpp"

#include <fmt/format.h>

#include <boost/asio.hpp>

#include "runtime/container_runtime.hpp"
#include <spdlog/spdlog.h>

namespace fnd::scheduler::internal {

namespace asio = boost::asio;

PrecreatedPool::PrecreatedPool(asio::any_io_executor executor, runtime::ContainerRuntime& runtime, size_t max)
    : executor_(std::move(executor)), runtime_(runtime), max_(max) {}

bool PrecreatedPool::wants(const config::FunctionSpec& spec) { return !runtime::ContainerRuntime::stem_cell_can_serve(spec); }

void PrecreatedPool::prepare(std::shared_ptr<const store::Revision> revision) {
  if (max_ == 0 || stopping_ || !revision || !wants(revision->spec)) return;
  Entry& entry = entries_[revision->function];
  if (entry.revision && entry.revision->number == revision->number) return;
  entry.revision = std::move(revision);
  if (entry.instance) discard(std::exchange(entry.instance, nullptr));
  create_in_background(entry.revision->function);
}

std::shared_ptr<runtime::Instance> PrecreatedPool::take(const store::Revision& revision) {
  auto it = entries_.find(revision.function);
  if (it == entries_.end() || !it->second.revision || it->second.revision->number != revision.number) return nullptr;
  Entry& entry = it->second;
  entry.last_used = std::chrono::steady_clock::now();
  auto instance = std::exchange(entry.instance, nullptr);
  if (instance && instance->exit()) instance = nullptr;
  create_in_background(revision.function);
  return instance;
}

void PrecreatedPool::forget(const std::string& function) {
  auto it = entries_.find(function);
  if (it == entries_.end()) return;
  if (it->second.instance) discard(std::move(it->second.instance));
  entries_.erase(it);
}

size_t PrecreatedPool::created() const {
  size_t n = 0;
  for (const auto& [function, entry] : entries_) n += entry.instance && !entry.instance->exit() ? 1 : 0;
  return n;
}

bool PrecreatedPool::make_room(const std::string& keep) {
  if (created() < max_) return true;
  auto victim = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->first == keep || !it->second.instance) continue;
    if (victim == entries_.end() || it->second.last_used < victim->second.last_used) victim = it;
  }
  if (victim == entries_.end()) return false;
  discard(std::exchange(victim->second.instance, nullptr));
  return true;
}

void PrecreatedPool::create_in_background(const std::string& function) {
  auto it = entries_.find(function);
  if (it == entries_.end() || it->second.creating || it->second.instance || stopping_) return;
  if (!make_room(function)) return;
  it->second.creating = true;
  asio::co_spawn(executor_, [this, function]() -> asio::awaitable<void> {
    // Creating keeps the io thread busy for a few ms (network namespace, bundle, spawn): let a
    // cold start that just took this function's container finish first.
    asio::steady_timer pause(executor_, std::chrono::milliseconds(30));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    while (true) {
      auto it = entries_.find(function);
      if (it == entries_.end() || stopping_) co_return;
      auto revision = it->second.revision;
      auto created = co_await runtime_.create(*revision);
      it = entries_.find(function);  // the map may have changed while we waited
      if (!created) {
        spdlog::warn("cannot pre-create a container for function '{}': {}", function, created.error().message);
        if (it != entries_.end()) it->second.creating = false;
        co_return;
      }
      if (it == entries_.end() || stopping_) {
        discard(std::move(*created));
        co_return;
      }
      if (it->second.revision->number != revision->number) {
        discard(std::move(*created));  // deployed again meanwhile: create the new revision's
        continue;
      }
      it->second.instance = std::move(*created);
      it->second.creating = false;
      co_return;
    }
  }, asio::detached);
}

void PrecreatedPool::discard(std::shared_ptr<runtime::Instance> instance) {
  asio::co_spawn(executor_, [this, instance = std::move(instance)]() -> asio::awaitable<void> {
    co_await runtime_.stop(instance, true);
  }, asio::detached);
}

asio::awaitable<void> PrecreatedPool::shutdown() {
  stopping_ = true;
  for (auto& [function, entry] : entries_) {
    if (entry.instance) co_await runtime_.stop(std::exchange(entry.instance, nullptr), true);
  }
}

}  // namespace fnd::scheduler::internal

namespace fnd::scheduler::internal {

void PrecreatedPool::render_metrics(std::string& out) const {
  out += fmt::format("# HELP fnd_precreated_containers Containers created ahead and not started yet.\n"
                     "# TYPE fnd_precreated_containers gauge\nfnd_precreated_containers {}\n", created());
}

}  // namespace fnd::scheduler::internal
