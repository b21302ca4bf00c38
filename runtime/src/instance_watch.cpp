#include "instance_watch.hpp"

#include <fcntl.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cgroups.hpp"
#include "core/units.hpp"

namespace fnd::runtime::internal {

namespace asio = boost::asio;

namespace {
constexpr size_t kMaxLogLine = 16 * 1024;
}  // namespace

asio::awaitable<void> pump_output(std::shared_ptr<Instance> instance, int fd, store::LogStream stream, store::LogStore& logs) {
  auto executor = co_await asio::this_coro::executor;
  asio::readable_pipe pipe(executor, fd);
  std::string pending;
  std::array<char, 8192> buffer;
  auto emit = [&instance, stream, &logs](std::string line) {
    if (stream == store::LogStream::stderr_stream) instance->record_stderr_line(line);
    // A stem cell that no function has taken yet speaks only for the runtime's bootstrap.
    if (instance->function().empty()) spdlog::warn("stem cell {}: {}", instance->id(), line);
    else logs.append(instance->function(), instance->id(), stream, std::move(line));
  };
  while (true) {
    auto [ec, n] = co_await pipe.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
    pending.append(buffer.data(), n);
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      emit(pending.substr(start, nl - start));
    }
    pending.erase(0, start);
    if (pending.size() > kMaxLogLine) emit(std::exchange(pending, {}));
    if (ec) break;
  }
  if (!pending.empty()) emit(std::move(pending));
  instance->output_stream_closed();
}

asio::awaitable<void> watch_exit(std::shared_ptr<Instance> instance, const std::string& cgroup_name,
                                 ChildTracker& children, store::LogStore& logs) {
  UniqueFd pidfd(::fcntl(instance->pidfd(), F_DUPFD_CLOEXEC, 0));
  ExitStatus status = co_await wait_for_exit(pidfd);
  children.untrack(instance->pid());
  InstanceExit exit{status.code, status.signal, status.signaled, false, instance->stop_requested(), status.known};
  // The OOM killer's verdict must be read before the container (and its cgroup) is deleted.
  exit.out_of_memory = oom_kill_count(cgroup_name) > 0;
  std::string what = exit.out_of_memory ? fmt::format("was killed for running out of memory (limit {})",
                                                      format_bytes(instance->memory_limit()))
                     : exit.requested   ? std::string("stopped")
                                        : exit.describe();
  instance->exited(std::move(exit));
  if (instance->function().empty()) spdlog::info("stem cell {} {}", instance->id(), what);
  else logs.append(instance->function(), instance->id(), store::LogStream::system, "instance " + what);
}

}  // namespace fnd::runtime::internal
