#include "eventing/options.hpp"

namespace fnd::eventing {

void bind_options(config::OptionBinder& binder, EventingOptions& options) {
  binder.count("eventing.max_backlog", options.max_backlog, 100'000'000u);
  binder.duration("eventing.dedup_window", options.dedup_window);
  binder.duration("eventing.retention", options.retention);
  binder.duration("eventing.invocation_retention", options.invocation_retention);
  binder.text("eventing.kafka.bootstrap_servers", options.kafka_bootstrap_servers, "FND_KAFKA_BOOTSTRAP_SERVERS");
  binder.text("eventing.kafka.client_id", options.kafka_client_id);
}

}  // namespace fnd::eventing
