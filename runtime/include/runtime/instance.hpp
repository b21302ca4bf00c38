// One running container serving one revision of a function, and the pooled keep-alive
// connections to its $PORT.
//
// Not thread safe: use from the io_context's thread only. Instances are shared_ptr-owned by the
// ContainerRuntime that started them; holders may keep them past their exit (state() == stopped).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/notifier.hpp"
#include "core/time.hpp"

namespace fnd::runtime {

namespace internal {
class NetworkNamespace;
}

enum class InstanceState { starting, ready, stopping, stopped };
std::string_view to_string(InstanceState state);

// How an instance came to be: a plain container (OCI run), a stem cell given the function, or a
// container created ahead (OCI create) and started on demand.
enum class InstanceOrigin { container, stem_cell, precreated };
std::string_view to_string(InstanceOrigin origin);  // "container", "stem cell", "pre-created"

// How an instance ended.
struct InstanceExit {
  int code = 0;
  int signal = 0;
  bool signaled = false;
  bool out_of_memory = false;  // the memory cgroup's OOM killer fired
  bool requested = false;      // fnd stopped it (keep-alive, delete, timeout, shutdown)
  bool status_known = true;
  std::string describe() const;  // "exited with status 3", "was killed by signal 9 (SIGKILL)"
};

class Instance {
 public:
  Instance(std::string id, std::string function, uint32_t revision, uint64_t memory_limit,
           std::unique_ptr<internal::NetworkNamespace> netns, uint16_t port);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  const std::string& id() const { return id_; }
  // Empty while the instance is a stem cell that no function has taken yet.
  const std::string& function() const { return function_; }
  InstanceOrigin origin() const { return origin_; }
  // Whether it was started as a stem cell (it keeps saying so after a function took it).
  bool from_stem_cell() const { return origin_ == InstanceOrigin::stem_cell; }
  uint32_t revision() const { return revision_; }
  uint64_t memory_limit() const { return memory_limit_; }
  int pid() const { return pid_; }
  InstanceState state() const { return state_; }
  SystemTime started_at() const { return started_at_; }

  // A connection to the function's $PORT: a pooled idle one when there is one, else a new one
  // opened inside the instance's network namespace.
  boost::asio::awaitable<Result<boost::asio::ip::tcp::socket>> connection();
  // Opens a new connection (no pool).
  boost::asio::awaitable<Result<boost::asio::ip::tcp::socket>> connect();
  // Returns a connection that is ready for its next request; kept unless the pool is full or
  // the instance is going away.
  void keep_idle_connection(boost::asio::ip::tcp::socket socket);

  const std::optional<InstanceExit>& exit() const { return exit_; }
  // Waits until the instance has exited, at most `within`; true when it has.
  boost::asio::awaitable<bool> wait_for_exit(std::chrono::milliseconds within);
  // The first lines the instance wrote to stderr (for start-failure messages).
  const std::string& stderr_head() const { return stderr_head_; }

 private:
  friend class ContainerRuntime;

  std::string id_;
  std::string function_;
  uint32_t revision_;
  uint64_t memory_limit_;
  std::unique_ptr<internal::NetworkNamespace> netns_;
  uint16_t port_;
  int pid_ = -1;
  int pidfd_ = -1;
  InstanceOrigin origin_ = InstanceOrigin::container;
  bool created_only_ = false;  // pre-created: its process waits for the start signal
  int control_fd_ = -1;  // a stem cell's end of its control socket
  InstanceState state_ = InstanceState::starting;
  bool stop_requested_ = false;
  SystemTime started_at_ = std::chrono::system_clock::now();
  std::vector<boost::asio::ip::tcp::socket> idle_connections_;
  size_t max_idle_connections_ = 64;
  std::optional<InstanceExit> exit_;
  Notifier exited_;
  bool cleaned_up_ = false;
  Notifier cleanup_done_;
  std::string stderr_head_;
  int open_output_streams_ = 2;
  Notifier output_closed_;
};

}  // namespace fnd::runtime
