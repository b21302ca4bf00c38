// Every setting of the daemon: each module's options struct (declared, with its defaults, in that
// module's public header) and the daemon's own. Built-in defaults < config file (/etc/fnd/fnd.yaml
// or --config) < environment (FND_*) < flags; packaging/fnd.yaml documents every key.
#pragma once

#include <string>

#include "config/option_binder.hpp"
#include "eventing/options.hpp"
#include "gateway/options.hpp"
#include "mesh/options.hpp"
#include "runtime/options.hpp"
#include "scheduler/options.hpp"
#include "store/options.hpp"

namespace fnd::daemon {

struct DaemonOptions {
  std::string state_dir = "/var/lib/fnd";  // state_dir (FND_STATE_DIR): database, code, containers' state
  std::string log_level = "info";          // log_level (FND_LOG_LEVEL): trace, debug, info, warn, error
  bool access_log = false;                 // access_log: a line per invocation and mesh call, with its trace

  bool operator==(const DaemonOptions&) const = default;
};

struct Options {
  DaemonOptions daemon;
  gateway::GatewayOptions gateway;
  store::StoreOptions store;
  runtime::RuntimeOptions runtime;
  scheduler::SchedulerOptions scheduler;
  eventing::EventingOptions eventing;
  mesh::MeshOptions mesh;

  bool operator==(const Options&) const = default;
};

// Binds every module's keys to `options`.
void bind_options(config::OptionBinder& binder, Options& options);

}  // namespace fnd::daemon
