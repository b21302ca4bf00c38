// A network namespace with only loopback, owned by the daemon and handed to the container by
// path (/proc/<fnd pid>/fd/<n>). The daemon reaches the function's port by creating sockets
// inside it. Private to the runtime module.
#pragma once

#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "process.hpp"

namespace fnd::runtime::internal {

class NetworkNamespace {
 public:
  // Creates the namespace and brings `lo` up. Blocks for about a millisecond.
  static Result<NetworkNamespace> create();

  // The path a container's OCI config uses to join it.
  std::string path() const;
  // A new TCP socket (non-blocking, close-on-exec) that lives in this namespace.
  // Must run on a thread that may change its network namespace briefly (any daemon thread).
  Result<int> open_tcp_socket() const;
  // A TCP socket of this namespace listening on 127.0.0.1:`port` (non-blocking, close-on-exec),
  // for fnd to accept connections that processes inside make. Same thread rule as above.
  Result<UniqueFd> open_loopback_listener(uint16_t port) const;

 private:
  explicit NetworkNamespace(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace fnd::runtime::internal
