// The gateway module's settings, with their defaults (packaging/fnd.yaml documents each key).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "config/option_binder.hpp"

namespace fnd::gateway {

struct GatewayOptions {
  std::string listen = "127.0.0.1:8080";  // listen (FND_LISTEN): HOST:PORT, port 0 picks one
  uint64_t max_request_body = 16ULL << 20;  // limits.max_request_body: an invocation's body
  uint32_t max_connections = 0;             // limits.max_connections: 0 = half the process's fd limit
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);  // limits.header_timeout: a new connection's first header
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(75);    // between requests on a kept-alive connection
  std::chrono::milliseconds read_timeout = std::chrono::seconds(60);    // one request's header and body
  uint32_t header_limit = 64 * 1024;                                     // bytes of request header
  std::chrono::milliseconds drain_timeout = std::chrono::seconds(10);   // shutdown.drain_timeout
  std::string tls_cert;                      // tls.cert: PEM certificate chain; with tls.key the listener speaks TLS only
  std::string tls_key;                       // tls.key: its unencrypted PEM private key (reloaded on SIGHUP)
  bool allow_insecure_http = false;          // allow_insecure_http: plain HTTP on a non-loopback address
  std::string api_socket = "/run/fnd/api.sock";  // api.socket (FND_API_SOCKET): the local management socket; "" = none
  std::string admin_group = "fnd-admin";     // api.admin_group: its members (and root) are admins on that socket
  bool metrics_public = false;               // metrics.public: /metrics without a token
  std::chrono::milliseconds audit_retention = std::chrono::hours(24 * 90);  // audit.retention: older entries go

  bool operator==(const GatewayOptions&) const = default;
};

void bind_options(config::OptionBinder& binder, GatewayOptions& options);

}  // namespace fnd::gateway
