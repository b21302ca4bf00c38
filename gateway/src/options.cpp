#include "gateway/options.hpp"

namespace fnd::gateway {

void bind_options(config::OptionBinder& binder, GatewayOptions& options) {
  binder.text("listen", options.listen, "FND_LISTEN");
  binder.bytes("limits.max_request_body", options.max_request_body);
  binder.count("limits.max_connections", options.max_connections, 1u << 24);
  binder.duration("limits.header_timeout", options.header_timeout);
  binder.duration("shutdown.drain_timeout", options.drain_timeout);
  binder.text("tls.cert", options.tls_cert);
  binder.text("tls.key", options.tls_key);
  binder.flag("allow_insecure_http", options.allow_insecure_http);
  binder.text("api.socket", options.api_socket, "FND_API_SOCKET");
  binder.text("api.admin_group", options.admin_group);
  binder.flag("metrics.public", options.metrics_public);
  binder.duration("audit.retention", options.audit_retention);
}

}  // namespace fnd::gateway
