#include "runtime/instance.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <fmt/format.h>

#include "netns.hpp"
#include "process.hpp"

namespace fnd::runtime {

namespace asio = boost::asio;
using asio::ip::tcp;

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
                   std::unique_ptr<internal::NetworkNamespace> netns, uint16_t port)
    : id_(std::move(id)),
      function_(std::move(function)),
      revision_(revision),
      memory_limit_(memory_limit),
      netns_(std::move(netns)),
      port_(port) {}

Instance::~Instance() {
  if (pidfd_ >= 0) ::close(pidfd_);
  if (control_fd_ >= 0) ::close(control_fd_);
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
  spdlog::debug("instance {}: connected fd {}", id_, socket.native_handle());
  co_return std::move(socket);
}

asio::awaitable<Result<tcp::socket>> Instance::connection() {
  // A pooled connection the function has closed meanwhile is caught by the caller's retry on a
  // fresh connection; probing each one here would cost syscalls on every invocation.
  if (!idle_connections_.empty()) {
    tcp::socket socket = std::move(idle_connections_.back());
    idle_connections_.pop_back();
    co_return std::move(socket);
  }
  co_return co_await connect();
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

}  // namespace fnd::runtime
