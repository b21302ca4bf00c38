#include "runtime/instance.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cassert>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "netns.hpp"
#include "process.hpp"

namespace fnd::runtime {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr size_t kStderrHeadLines = 20;
constexpr size_t kStderrHeadBytes = 4096;
}  // namespace

std::string_view to_string(InstanceState state) {
  switch (state) {
    case InstanceState::starting: return "starting";
    case InstanceState::ready: return "ready";
    case InstanceState::stopping: return "stopping";
    case InstanceState::stopped: return "stopped";
  }
  return "?";
}

std::string_view to_string(InstanceOrigin origin) {
  switch (origin) {
    case InstanceOrigin::container: return "container";
    case InstanceOrigin::stem_cell: return "stem cell";
    case InstanceOrigin::precreated: return "pre-created";
  }
  return "?";
}

std::string InstanceExit::describe() const {
  return internal::ExitStatus{code, signal, signaled, status_known}.describe();
}

Instance::Instance(std::string id, std::string function, uint32_t revision, uint64_t memory_limit,
                   std::unique_ptr<internal::NetworkNamespace> netns, uint16_t port, InstanceOrigin origin)
    : id_(std::move(id)),
      function_(std::move(function)),
      revision_(revision),
      memory_limit_(memory_limit),
      netns_(std::move(netns)),
      port_(port),
      origin_(origin) {}

Instance::Instance(std::string id, std::string function, uint32_t revision, uint64_t memory_limit)
    : Instance(std::move(id), std::move(function), revision, memory_limit, nullptr, 0) {}

Instance::~Instance() {
  if (pidfd_ >= 0) ::close(pidfd_);
  if (control_fd_ >= 0) ::close(control_fd_);
}

std::string Instance::netns_path() const { return netns_ ? netns_->path() : std::string(); }

void Instance::launched(int pid, int pidfd) {
  assert(state_ == InstanceState::starting && pidfd_ < 0 && "an instance is launched once, while starting");
  pid_ = pid;
  pidfd_ = pidfd;
}

void Instance::became_ready() {
  assert(state_ == InstanceState::starting && "only a starting instance becomes ready");
  state_ = InstanceState::ready;
}

void Instance::assigned(std::string function, uint32_t revision, uint64_t memory_limit) {
  assert(origin_ == InstanceOrigin::stem_cell && function_.empty() && state_ == InstanceState::ready &&
         "only a ready stem cell no function took can be assigned");
  function_ = std::move(function);
  revision_ = revision;
  memory_limit_ = memory_limit;
  state_ = InstanceState::starting;
}

void Instance::stopping() {
  if (state_ == InstanceState::stopped) return;
  stop_requested_ = true;
  state_ = InstanceState::stopping;
  idle_connections_.clear();
}

void Instance::exited(InstanceExit exit) {
  assert(!exit_ && "an instance exits once");
  exit_ = std::move(exit);
  state_ = InstanceState::stopped;
  idle_connections_.clear();
  exited_.notify_all();
}

void Instance::cleaned_up() {
  netns_.reset();
  cleaned_up_ = true;
  cleanup_done_.notify_all();
}

void Instance::set_control_fd(int fd) {
  assert(control_fd_ < 0 && "a stem cell has one control socket");
  control_fd_ = fd;
}

void Instance::record_stderr_line(std::string_view line) {
  if (stderr_head_.size() >= kStderrHeadBytes ||
      static_cast<size_t>(std::count(stderr_head_.begin(), stderr_head_.end(), '\n')) >= kStderrHeadLines) {
    return;
  }
  stderr_head_.append(line.substr(0, kStderrHeadBytes - stderr_head_.size()));
  stderr_head_ += '\n';
}

void Instance::output_stream_closed() {
  --open_output_streams_;
  output_closed_.notify_all();
}

asio::awaitable<Result<tcp::socket>> Instance::connect() {
  auto executor = co_await asio::this_coro::executor;
  if (!netns_) co_return make_error("instance_stopped", fmt::format("instance {} has stopped", id_), 502);
  auto fd = netns_->open_tcp_socket();
  if (!fd) co_return fd.error();
  tcp::socket socket(executor);
  boost::system::error_code ec;
  socket.assign(tcp::v4(), *fd, ec);
  if (ec) {
    ::close(*fd);
    co_return make_error("connect_failed", fmt::format("socket for instance {}: {}", id_, ec.message()));
  }
  auto [connect_ec] = co_await socket.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port_),
                                                    asio::as_tuple(asio::use_awaitable));
  if (connect_ec) {
    Error e = make_error("connect_failed", fmt::format("connecting to instance {} on port {}: {}", id_, port_, connect_ec.message()), 502);
    e.retryable = connect_ec == asio::error::connection_refused;
    co_return e;
  }
  socket.set_option(tcp::no_delay(true), ec);
  co_return std::move(socket);
}

std::optional<tcp::socket> Instance::take_idle_connection() {
  if (idle_connections_.empty()) return std::nullopt;
  tcp::socket socket = std::move(idle_connections_.back());
  idle_connections_.pop_back();
  return socket;
}

void Instance::pool_idle_connections_for(uint32_t concurrency) {
  max_idle_connections_ = std::clamp<size_t>(concurrency, 64, 1024);
}

void Instance::keep_idle_connection(tcp::socket socket) {
  if (state_ != InstanceState::ready || idle_connections_.size() >= max_idle_connections_) return;
  idle_connections_.push_back(std::move(socket));
}

asio::awaitable<bool> Instance::wait_for_exit(std::chrono::milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (!exit_ && std::chrono::steady_clock::now() < deadline) {
    co_await exited_.wait_until(deadline);
  }
  co_return exit_.has_value();
}

asio::awaitable<bool> Instance::wait_for_cleanup(std::chrono::steady_clock::time_point deadline) {
  while (!cleaned_up_ && std::chrono::steady_clock::now() < deadline) co_await cleanup_done_.wait_until(deadline);
  co_return cleaned_up_;
}

asio::awaitable<void> Instance::wait_for_output(std::chrono::steady_clock::time_point deadline) {
  while (open_output_streams_ > 0 && std::chrono::steady_clock::now() < deadline) co_await output_closed_.wait_until(deadline);
}

}  // namespace fnd::runtime
