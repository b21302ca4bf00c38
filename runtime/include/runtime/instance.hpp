// One running container serving one revision of a function, and the pooled keep-alive
// connections to its $PORT.
//
// The instance owns its state machine; the runtime that started it drives it through the
// transition methods below, each of which checks that it is allowed (a broken invariant is a bug
// and aborts):
//
//     starting --launched--> starting --became_ready--> ready --stopping--> stopping --exited--> stopped
//                                                          \--assigned (stem cell)--> starting
//     any state --exited--> stopped   (the process ended on its own: crash, OOM kill)
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
#include <string_view>
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
           std::unique_ptr<internal::NetworkNamespace> netns, uint16_t port,
           InstanceOrigin origin = InstanceOrigin::container);
  // An instance with no network namespace: never connected to (a scheduler's test double).
  Instance(std::string id, std::string function, uint32_t revision, uint64_t memory_limit);
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
  // A pidfd for the instance's process, -1 before it was launched. Owned by the instance.
  int pidfd() const { return pidfd_; }
  InstanceState state() const { return state_; }
  SystemTime started_at() const { return started_at_; }
  // Whether fnd asked it to stop (so its end is no crash).
  bool stop_requested() const { return stop_requested_; }
  // The path a container's OCI config uses to join its network namespace.
  std::string netns_path() const;

  // A pooled idle connection to the function's $PORT, if there is one (no suspension: this is
  // the warm path). One the function has closed meanwhile is caught by the caller's retry on a
  // fresh connection; probing each one here would cost syscalls on every invocation.
  std::optional<boost::asio::ip::tcp::socket> take_idle_connection();
  // Opens a new connection (no pool). Errors: 502 connect_failed (retryable when refused).
  boost::asio::awaitable<Result<boost::asio::ip::tcp::socket>> connect();
  // Returns a connection that is ready for its next request; kept unless the pool is full or
  // the instance is going away.
  void keep_idle_connection(boost::asio::ip::tcp::socket socket);
  // How many idle connections are pooled: the function's concurrency (each request in flight may
  // leave one behind), so a dispatcher with that many in flight reuses them instead of opening
  // and closing one per request. At least 64, at most 1024.
  void pool_idle_connections_for(uint32_t concurrency);

  const std::optional<InstanceExit>& exit() const { return exit_; }
  // Waits until the instance has exited, at most `within`; true when it has.
  boost::asio::awaitable<bool> wait_for_exit(std::chrono::milliseconds within);
  // Waits until the runtime has removed its container, bundle and namespace, at most until
  // `deadline`; true when it has.
  boost::asio::awaitable<bool> wait_for_cleanup(std::chrono::steady_clock::time_point deadline);
  // Waits until both output streams (stdout, stderr) are closed, at most until `deadline`.
  boost::asio::awaitable<void> wait_for_output(std::chrono::steady_clock::time_point deadline);
  // The first lines the instance wrote to stderr (for start-failure messages).
  const std::string& stderr_head() const { return stderr_head_; }

  // --- Transitions (driven by the runtime) ---
  // The OCI runtime handed the process over: `pidfd` (owned from now on) watches it.
  void launched(int pid, int pidfd);
  // It accepts connections on $PORT.
  void became_ready();
  // A stem cell is given to a function for the rest of its life; it is starting again until
  // the function's handler is loaded.
  void assigned(std::string function, uint32_t revision, uint64_t memory_limit);
  // fnd asked it to stop: pooled connections are dropped, no new ones are kept.
  void stopping();
  // Its process ended (asked or not).
  void exited(InstanceExit exit);
  // Its container, bundle and namespace are gone.
  void cleaned_up();
  bool is_cleaned_up() const { return cleaned_up_; }
  // A pre-created instance waits for its start signal until start() is called.
  bool created_only() const { return created_only_; }
  void set_created_only(bool created_only) { created_only_ = created_only; }
  // A stem cell's end of its control socket (owned from now on), -1 for other instances.
  int control_fd() const { return control_fd_; }
  void set_control_fd(int fd);
  // Output bookkeeping (the runtime's output pumps).
  void record_stderr_line(std::string_view line);
  void output_stream_closed();

 private:
  std::string id_;
  std::string function_;
  uint32_t revision_;
  uint64_t memory_limit_;
  std::unique_ptr<internal::NetworkNamespace> netns_;
  uint16_t port_;
  InstanceOrigin origin_;
  int pid_ = -1;
  int pidfd_ = -1;
  bool created_only_ = false;
  int control_fd_ = -1;
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
