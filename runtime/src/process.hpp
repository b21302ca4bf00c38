// Child processes: spawned without a shell, waited for through pidfds so the io_context never
// blocks. Private to the runtime module.
#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace fnd::runtime::internal {

// An owned file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() { int fd = fd_; fd_ = -1; return fd; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};
Result<Pipe> make_pipe();  // both ends close-on-exec

// How a process ended, decoded from waitid().
struct ExitStatus {
  int code = 0;    // exit code when !signaled
  int signal = 0;  // terminating signal when signaled
  bool signaled = false;
  bool known = true;  // false: the process was not ours to reap, so only its end is known
  std::string describe() const;  // "exited with status 3", "killed by signal 9 (SIGKILL)"
};

// Spawns argv[0] (an absolute path) with stdin from /dev/null and the given fds as stdout and
// stderr (-1 = /dev/null), and `fd3` (when >= 0) as its fd 3. Returns a pidfd for the child.
struct Spawned {
  pid_t pid = -1;
  UniqueFd pidfd;
};
Result<Spawned> spawn(const std::vector<std::string>& argv, int stdout_fd, int stderr_fd, int fd3 = -1);

// Waits (without blocking the thread) until the process behind `pidfd` exits, reaps it.
boost::asio::awaitable<ExitStatus> wait_for_exit(const UniqueFd& pidfd);

// As a child subreaper, fnd inherits the OCI runtime's short-lived intermediate processes. Those
// nobody waits for are reaped here; pids someone waits for through a pidfd are tracked and left alone.
class ChildTracker {
 public:
  void track(pid_t pid) { tracked_.insert(pid); }
  void untrack(pid_t pid) { tracked_.erase(pid); }
  // Reaps every exited child that is not tracked; returns how many.
  int reap_untracked();

 private:
  std::set<pid_t> tracked_;
};

// Runs argv to completion, capturing up to 64 KiB of stdout+stderr.
struct Completed {
  ExitStatus status;
  std::string output;
};
boost::asio::awaitable<Result<Completed>> run_to_completion(std::vector<std::string> argv, ChildTracker& children);

int pidfd_open(pid_t pid);

int pidfd_send_signal(int pidfd, int signal);

}  // namespace fnd::runtime::internal
