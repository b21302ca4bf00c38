#include "gateway/options.hpp"

namespace fnd::gateway {

void bind_options(config::OptionBinder& binder, GatewayOptions& options) {
  binder.text("listen", options.listen, "FND_LISTEN");
  binder.bytes("limits.max_request_body", options.max_request_body);
  binder.count("limits.max_connections", options.max_connections, 1u << 24);
  binder.duration("limits.header_timeout", options.header_timeout);
  binder.duration("shutdown.drain_timeout", options.drain_timeout);
}

}  // namespace fnd::gateway
