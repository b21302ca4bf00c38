#include "netns.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fmt/format.h>
#include <thread>

namespace fnd::runtime::internal {

namespace {

Status bring_loopback_up() {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return make_errno_error("netns_failed", "socket for loopback setup", errno);
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &request) != 0) return make_errno_error("netns_failed", "SIOCGIFFLAGS lo", errno);
  request.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &request) != 0) return make_errno_error("netns_failed", "SIOCSIFFLAGS lo", errno);
  return {};
}

}  // namespace

Result<NetworkNamespace> NetworkNamespace::create() {
  // unshare() moves the calling thread for good, so a short-lived thread does it and leaves
  // an fd to the namespace behind; the daemon's own threads never change namespace here.
  Result<NetworkNamespace> result = make_error("netns_failed", "namespace thread did not run");
  std::thread maker([&result] {
    if (::unshare(CLONE_NEWNET) != 0) {
      result = make_errno_error("netns_failed", "unshare(CLONE_NEWNET) (fnd must run as root)", errno);
      return;
    }
    if (Status st = bring_loopback_up(); !st) {
      result = st.error();
      return;
    }
    int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      result = make_errno_error("netns_failed", "open /proc/thread-self/ns/net", errno);
      return;
    }
    result = NetworkNamespace(UniqueFd(fd));
  });
  maker.join();
  return result;
}

std::string NetworkNamespace::path() const { return fmt::format("/proc/{}/fd/{}", ::getpid(), fd_.get()); }

Result<int> NetworkNamespace::open_tcp_socket() const {
  // The thread's own namespace, to come back to. Opened per call: cheap, and no shared state.
  UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) return make_errno_error("netns_failed", "open /proc/thread-self/ns/net", errno);
  if (::setns(fd_.get(), CLONE_NEWNET) != 0) return make_errno_error("netns_failed", "setns into instance namespace", errno);
  int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int socket_errno = errno;
  // Failing to return would leave this daemon thread inside a container's namespace.
  if (::setns(home.get(), CLONE_NEWNET) != 0) std::abort();
  if (sock < 0) return make_errno_error("netns_failed", "socket in instance namespace", socket_errno);
  return sock;
}

Result<UniqueFd> NetworkNamespace::open_loopback_listener(uint16_t port) const {
  auto sock = open_tcp_socket();
  if (!sock) return sock.error();
  // bind and listen act on the socket's own namespace, whichever one this thread is in now.
  UniqueFd listener(*sock);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return make_errno_error("netns_failed", fmt::format("bind 127.0.0.1:{} in instance namespace", port), errno);
  }
  if (::listen(listener.get(), SOMAXCONN) != 0) {
    return make_errno_error("netns_failed", "listen in instance namespace", errno);
  }
  return listener;
}

}  // namespace fnd::runtime::internal
