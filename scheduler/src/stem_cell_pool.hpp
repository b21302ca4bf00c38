// Stem cells: per runtime, containers started ahead with the runtime's bootstrap running and no
// function, so that a cold start only mounts the code and loads the handler. The pool refills in
// the background, one cell at a time. A taken cell serves that one function for its whole life;
// it never comes back to the pool.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>

#include "config/function_spec.hpp"
#include "core/notifier.hpp"
#include "runtime/instance.hpp"
#include "scheduler/options.hpp"

namespace fnd::runtime {
class ContainerRuntime;
}

namespace fnd::scheduler::internal {

struct StemCellCounts {
  uint32_t ready = 0;
  uint32_t target = 0;
  uint64_t taken = 0;
  uint64_t start_failures = 0;
};

class StemCellPool {
 public:
  StemCellPool(boost::asio::any_io_executor executor, runtime::ContainerRuntime& runtime, StemCellSettings settings);

  // Starts filling the pools in the background.
  void start();
  // A ready cell of `kind`, or nullptr when there is none (the caller then starts a plain instance).
  std::shared_ptr<runtime::Instance> take(config::RuntimeKind kind);
  // A cell no function had taken has ended (crashed, or stopped by shutdown).
  void cell_exited(const std::shared_ptr<runtime::Instance>& cell);
  // Stops refilling and stops the cells that no function took.
  boost::asio::awaitable<void> shutdown();

  StemCellCounts counts(config::RuntimeKind kind) const;
  // Appends fnd_stem_cells_ready, fnd_stem_cells_taken_total and fnd_stem_cell_start_failures_total.
  void render_metrics(std::string& out) const;

 private:
  struct RuntimePool {
    uint32_t target = 0;
    std::deque<std::shared_ptr<runtime::Instance>> ready;
    uint64_t taken = 0;
    uint64_t start_failures = 0;
    std::chrono::milliseconds backoff{0};
    std::chrono::steady_clock::time_point retry_at{};
  };
  boost::asio::awaitable<void> fill();
  void drop_dead(RuntimePool& pool);

  boost::asio::any_io_executor executor_;
  runtime::ContainerRuntime& runtime_;
  StemCellSettings settings_;
  config::ResourceLimits idle_limits_;
  std::map<config::RuntimeKind, RuntimePool> pools_;
  Notifier changed_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point last_take_{};
  bool filling_ = false;
  Notifier fill_done_;
};

}  // namespace fnd::scheduler::internal
