// The runtime module's settings, with their defaults (packaging/fnd.yaml documents each key).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "config/option_binder.hpp"

namespace fnd::runtime {

struct RuntimeOptions {
  std::string oci_runtime = "crun";         // runtime.oci_runtime (FND_OCI_RUNTIME): crun, runc or a path
  std::string runtimes_dir;                 // runtime.runtimes_dir (FND_RUNTIMES_DIR): bootstrap files; empty = installed
  std::string python = "/usr/bin/python3";  // runtime.python: interpreter for python3 and shell functions
  std::string node = "/usr/bin/node";       // runtime.node: interpreter for node functions
  std::chrono::milliseconds start_timeout = std::chrono::seconds(10);  // runtime.start_timeout
  std::chrono::milliseconds stop_timeout = std::chrono::seconds(2);    // runtime.stop_timeout: SIGTERM grace
  // runtime.rootfs_dir: the read-only root every instance shares (empty mount points and a
  // minimal /etc, nothing secret). Its parent folders must be searchable by everyone: an
  // instance's own root, a subordinate uid, resolves it from inside its user namespace.
  std::string rootfs_dir = "/run/fnd/rootfs";
  // runtime.subuid_base, runtime.subuid_count: the host uids and gids instances run as, 65536
  // per instance. count 0: the /etc/subuid and /etc/subgid entry of user "fnd", else
  // 0x70000000 (1879048192) with 4094 blocks (see runtime/src/host_ids.hpp).
  uint32_t subuid_base = 0;
  uint32_t subuid_count = 0;
  // Set by the composition root, not keys: the daemon's state dir and $PORT inside instances.
  std::string state_dir;
  uint16_t port = 8080;

  bool operator==(const RuntimeOptions&) const = default;
};

void bind_options(config::OptionBinder& binder, RuntimeOptions& options);

}  // namespace fnd::runtime
