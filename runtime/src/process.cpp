#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>

extern char** environ;

namespace fnd::runtime::internal {

namespace asio = boost::asio;

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return make_errno_error("pipe_failed", "pipe2", errno);
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::string ExitStatus::describe() const {
  if (!known) return "ended (fnd could not learn its exit status)";
  if (!signaled) return fmt::format("exited with status {}", code);
  const char* abbrev = sigabbrev_np(signal);
  return fmt::format("was killed by signal {} (SIG{})", signal, abbrev ? abbrev : "?");
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int pidfd_send_signal(int pidfd, int signal) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

Result<Spawned> spawn(const std::vector<std::string>& argv, int stdout_fd, int stderr_fd, int fd3) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
  else posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  if (stderr_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
  else posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  if (fd3 >= 0) posix_spawn_file_actions_adddup2(&actions, fd3, 3);
  // Only the fds meant for the child: whatever else fnd holds (its listener, pidfds, other
  // instances' pipes) must never reach a container, even if something forgot close-on-exec.
  posix_spawn_file_actions_addclosefrom_np(&actions, fd3 >= 0 ? 4 : 3);

  // The daemon blocks SIGTERM/SIGINT for its signal_set; children must get the defaults back.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return make_errno_error("spawn_failed", fmt::format("cannot run {}", argv[0]), rc);
  UniqueFd pidfd(pidfd_open(pid));
  if (!pidfd) {
    int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return make_errno_error("spawn_failed", "pidfd_open", err);
  }
  return Spawned{pid, std::move(pidfd)};
}

asio::awaitable<ExitStatus> wait_for_exit(const UniqueFd& pidfd) {
  auto executor = co_await asio::this_coro::executor;
  // The descriptor object only watches the fd; ownership stays with the caller.
  asio::posix::stream_descriptor watcher(executor, ::fcntl(pidfd.get(), F_DUPFD_CLOEXEC, 0));
  asio::steady_timer retry(executor);
  siginfo_t info{};
  int not_our_child = 0;
  while (true) {
    std::memset(&info, 0, sizeof info);
    int rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd.get()), &info, WEXITED | WNOHANG);
    if (rc == 0 && info.si_pid != 0) break;
    if (rc != 0 && errno == ECHILD) {
      // A container's init is the child of the OCI runtime's intermediate process until that
      // exits (a moment after `run --detach` returns); only then is it re-parented to us.
      if (++not_our_child <= 2000) {
        retry.expires_after(std::chrono::milliseconds(1));
        co_await retry.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      co_await watcher.async_wait(asio::posix::descriptor::wait_read, asio::as_tuple(asio::use_awaitable));
      co_return ExitStatus{0, 0, false, false};
    }
    auto [ec] = co_await watcher.async_wait(asio::posix::descriptor::wait_read, asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) co_return ExitStatus{0, SIGKILL, true};
  }
  ExitStatus status;
  if (info.si_code == CLD_EXITED) {
    status.code = info.si_status;
  } else {
    status.signaled = true;
    status.signal = info.si_status;
  }
  co_return status;
}

asio::awaitable<Result<Completed>> run_to_completion(std::vector<std::string> argv, ChildTracker& children) {
  auto pipe = make_pipe();
  if (!pipe) co_return pipe.error();
  auto child = spawn(argv, pipe->write_end.get(), pipe->write_end.get());
  pipe->write_end = UniqueFd();
  if (!child) co_return child.error();
  children.track(child->pid);
  auto executor = co_await asio::this_coro::executor;
  asio::readable_pipe reader(executor, pipe->read_end.release());
  Completed done;
  char buffer[4096];
  while (true) {
    auto [ec, n] = co_await reader.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
    if (n > 0 && done.output.size() < 65536) done.output.append(buffer, n);
    if (ec) break;
  }
  done.status = co_await wait_for_exit(child->pidfd);
  children.untrack(child->pid);
  co_return done;
}

int ChildTracker::reap_untracked() {
  int reaped = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream children(task.path() / "children");
    pid_t pid = 0;
    while (children >> pid) {
      if (tracked_.contains(pid)) continue;
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) == 0 && info.si_pid == pid) ++reaped;
    }
  }
  return reaped;
}

}  // namespace fnd::runtime::internal
