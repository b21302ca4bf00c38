#include "options.hpp"

namespace fnd::daemon {

void bind_options(config::OptionBinder& binder, Options& options) {
  binder.text("state_dir", options.daemon.state_dir, "FND_STATE_DIR");
  binder.text("log_level", options.daemon.log_level, "FND_LOG_LEVEL");
  binder.flag("access_log", options.daemon.access_log);
  gateway::bind_options(binder, options.gateway);
  store::bind_options(binder, options.store);
  runtime::bind_options(binder, options.runtime);
  scheduler::bind_options(binder, options.scheduler);
  eventing::bind_options(binder, options.eventing);
  mesh::bind_options(binder, options.mesh);
}

}  // namespace fnd::daemon
