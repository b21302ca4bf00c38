#include "eventing/options.hpp"

namespace fnd::eventing {

void bind_options(config::OptionBinder& binder, EventingOptions& options) {
  binder.count("eventing.max_backlog", options.max_backlog, 100'000'000u);
  binder.duration("eventing.dedup_window", options.dedup_window);
  binder.duration("eventing.retention", options.retention);
  binder.duration("eventing.invocation_retention", options.invocation_retention);
}

}  // namespace fnd::eventing
