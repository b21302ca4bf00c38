#include "stem_cell_pool.hpp"

#include <boost/asio.hpp>
#include <fmt/format.h>

#include "core/units.hpp"
#include "runtime/container_runtime.hpp"
#include <spdlog/spdlog.h>

namespace fnd::scheduler::internal {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr auto kMaxBackoff = std::chrono::milliseconds(5min);
constexpr auto kIdleCheck = 1s;  // how often a quiet pool looks for cells that died
// Starting a cell keeps the io thread busy for a few ms (network namespace, bundle, spawn): wait
// this long after a take so that the cold start that took the cell finishes first.
constexpr auto kRefillDelay = 30ms;
}  // namespace

StemCellPool::StemCellPool(asio::any_io_executor executor, runtime::ContainerRuntime& runtime, StemCellSettings settings)
    : executor_(std::move(executor)),
      runtime_(runtime),
      settings_(settings),
      idle_limits_{settings.idle_memory, 0, config::ResourceLimits{}.pids} {
  const std::pair<config::RuntimeKind, uint32_t> kSizes[] = {{config::RuntimeKind::python3, settings_.python3},
                                                              {config::RuntimeKind::shell, settings_.shell},
                                                              {config::RuntimeKind::node, settings_.node}};
  for (const auto& [kind, size] : kSizes) {
    if (size > 0) pools_[kind].target = size;
  }
}

void StemCellPool::render_metrics(std::string& out) const {
  constexpr config::RuntimeKind kKinds[] = {config::RuntimeKind::python3, config::RuntimeKind::shell, config::RuntimeKind::node};
  out += "# HELP fnd_stem_cells_ready Stem cells started and waiting for a function, by runtime.\n"
         "# TYPE fnd_stem_cells_ready gauge\n";
  for (auto kind : kKinds) out += fmt::format("fnd_stem_cells_ready{{runtime=\"{}\"}} {}\n", config::to_string(kind), counts(kind).ready);
  out += "# HELP fnd_stem_cells_taken_total Stem cells given to a function, by runtime.\n"
         "# TYPE fnd_stem_cells_taken_total counter\n";
  for (auto kind : kKinds) out += fmt::format("fnd_stem_cells_taken_total{{runtime=\"{}\"}} {}\n", config::to_string(kind), counts(kind).taken);
  out += "# HELP fnd_stem_cell_start_failures_total Stem cells that failed to start, by runtime.\n"
         "# TYPE fnd_stem_cell_start_failures_total counter\n";
  for (auto kind : kKinds) {
    out += fmt::format("fnd_stem_cell_start_failures_total{{runtime=\"{}\"}} {}\n", config::to_string(kind),
                       counts(kind).start_failures);
  }
}

void StemCellPool::start() {
  if (pools_.empty() || filling_) return;
  filling_ = true;
  asio::co_spawn(executor_, fill(), asio::detached);
}

std::shared_ptr<runtime::Instance> StemCellPool::take(config::RuntimeKind kind) {
  auto it = pools_.find(kind);
  if (it == pools_.end() || stopping_) return nullptr;
  RuntimePool& pool = it->second;
  drop_dead(pool);
  if (pool.ready.empty()) return nullptr;
  auto cell = std::move(pool.ready.front());
  pool.ready.pop_front();
  ++pool.taken;
  last_take_ = std::chrono::steady_clock::now();
  changed_.notify_all();
  return cell;
}

void StemCellPool::cell_exited(const std::shared_ptr<runtime::Instance>&) { changed_.notify_all(); }

void StemCellPool::drop_dead(RuntimePool& pool) {
  std::erase_if(pool.ready, [](const auto& cell) { return cell->exit().has_value(); });
}

asio::awaitable<void> StemCellPool::fill() {
  asio::steady_timer pause(executor_);
  while (!stopping_) {
    if (auto calm_at = last_take_ + kRefillDelay; std::chrono::steady_clock::now() < calm_at) {
      pause.expires_at(calm_at);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    bool started = false;
    auto now = std::chrono::steady_clock::now();
    for (auto& [kind, pool] : pools_) {
      drop_dead(pool);
      if (pool.ready.size() >= pool.target || now < pool.retry_at) continue;
      started = true;
      auto cell = co_await runtime_.start_stem_cell(kind, idle_limits_);
      if (stopping_) {
        if (cell) co_await runtime_.stop(*cell, true);
        break;
      }
      if (!cell) {
        ++pool.start_failures;
        pool.backoff = pool.backoff.count() == 0 ? settings_.retry_delay : std::min(pool.backoff * 2, kMaxBackoff);
        pool.retry_at = std::chrono::steady_clock::now() + pool.backoff;
        spdlog::warn("cannot start a {} stem cell (next try in {}): {}", config::to_string(kind),
                     format_duration(pool.backoff), cell.error().message);
        continue;
      }
      pool.backoff = std::chrono::milliseconds(0);
      pool.ready.push_back(std::move(*cell));
    }
    if (!started && !stopping_) co_await changed_.wait_until(std::chrono::steady_clock::now() + kIdleCheck);
  }
  filling_ = false;
  fill_done_.notify_all();
}

asio::awaitable<void> StemCellPool::shutdown() {
  stopping_ = true;
  changed_.notify_all();
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (filling_ && std::chrono::steady_clock::now() < deadline) co_await fill_done_.wait_until(deadline);
  for (auto& [kind, pool] : pools_) {
    while (!pool.ready.empty()) {
      auto cell = std::move(pool.ready.front());
      pool.ready.pop_front();
      co_await runtime_.stop(cell, true);
    }
  }
}

StemCellCounts StemCellPool::counts(config::RuntimeKind kind) const {
  auto it = pools_.find(kind);
  if (it == pools_.end()) return {};
  uint32_t ready = 0;
  for (const auto& cell : it->second.ready) ready += cell->exit() ? 0 : 1;
  return {ready, it->second.target, it->second.taken, it->second.start_failures};
}

}  // namespace fnd::scheduler::internal
