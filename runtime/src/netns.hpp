// A network namespace with only loopback, owned by the daemon and handed to the container by
// path (/proc/<fnd pid>/fd/<n>). The daemon reaches the function's port by creating sockets
// inside it. Private to the runtime module.
#pragma once

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

 private:
  explicit NetworkNamespace(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace fnd::runtime::internal
