#include "user_namespace.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <string>

namespace fnd::runtime::internal {

namespace {

Status write_map(pid_t pid, const char* file, uint32_t host_id) {
  std::string path = fmt::format("/proc/{}/{}", pid, file);
  std::string line = fmt::format("0 {} 1\n", host_id);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  // A map must be written in one write(2).
  if (!fd || ::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    return make_errno_error("userns_failed", fmt::format("cannot write {}", path), errno);
  }
  return {};
}

}  // namespace

Result<UniqueFd> make_idmap_namespace(uint32_t host_id) {
  auto hold = make_pipe();
  if (!hold) return hold.error();
  // A raw clone rather than fork(): the child runs only system calls (no libc state of a
  // multi-threaded parent is touched), waiting on the pipe until fnd has written its maps and
  // opened its namespace.
  long pid = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid < 0) return make_errno_error("userns_failed", "cannot create a user namespace (clone)", errno);
  if (pid == 0) {
    char byte;
    ::syscall(SYS_close, hold->write_end.get());
    ::syscall(SYS_read, hold->read_end.get(), &byte, 1);
    ::syscall(SYS_exit_group, 0);
    __builtin_unreachable();
  }
  hold->read_end = UniqueFd();
  const auto child = static_cast<pid_t>(pid);
  Status mapped = write_map(child, "uid_map", host_id);
  if (mapped) mapped = write_map(child, "gid_map", host_id);
  UniqueFd userns;
  if (mapped) {
    userns = UniqueFd(::open(fmt::format("/proc/{}/ns/user", child).c_str(), O_RDONLY | O_CLOEXEC));
    if (!userns) mapped = make_errno_error("userns_failed", "cannot open the new user namespace", errno);
  }
  hold->write_end = UniqueFd();  // the child's read returns: it exits
  ::waitpid(child, nullptr, 0);
  if (!mapped) return mapped.error();
  return userns;
}

}  // namespace fnd::runtime::internal
