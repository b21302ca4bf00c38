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
  // Set by the composition root, not keys: the daemon's state dir and $PORT inside instances.
  std::string state_dir;
  uint16_t port = 8080;

  bool operator==(const RuntimeOptions&) const = default;
};

void bind_options(config::OptionBinder& binder, RuntimeOptions& options);

}  // namespace fnd::runtime
