// The gateway's top-level request handler: /function/{name}/... to the invocation handler,
// /api/v1/functions... and the other API families to their handlers after authenticating the
// caller, /healthz and /readyz (open to all) and /metrics (a reader token unless metrics.public).
#pragma once

#include <atomic>

#include "core/metrics.hpp"
#include "gateway/access_control.hpp"
#include "gateway/admin_api.hpp"
#include "gateway/function_api.hpp"
#include "gateway/http_server.hpp"
#include "gateway/invocation_handler.hpp"
#include "gateway/options.hpp"
#include "gateway/security_api.hpp"

namespace fnd::gateway {

class Router final : public RequestHandler {
 public:
  struct Handlers {
    FunctionApi& functions;
    AdminApi& admin;
    SecurityApi& security;
    InvocationHandler& invocations;
  };
  // `code_archive_limit` is the store's (limits.max_code_archive): the body limit of code uploads.
  Router(Handlers handlers, AccessControl& access, const MetricsRegistry& metrics, const GatewayOptions& options,
         uint64_t code_archive_limit)
      : handlers_(handlers), access_(access), metrics_(metrics), options_(options), code_archive_limit_(code_archive_limit) {}

  uint64_t body_limit(const boost::beast::http::request_header<>& header) const override;
  Error body_too_large(const boost::beast::http::request_header<>& header, uint64_t size) const override;
  // Not a coroutine for invocations: the invocation's is the only frame on the warm path.
  boost::asio::awaitable<bool> handle(Request& request, ClientStream& client, const Connection& connection) override;

  void set_ready(bool ready) { ready_ = ready; }

 private:
  boost::asio::awaitable<bool> handle_other(Request& request, ClientStream& client, const Connection& connection);

  Handlers handlers_;
  AccessControl& access_;
  const MetricsRegistry& metrics_;
  GatewayOptions options_;
  uint64_t code_archive_limit_;
  bool ready_ = false;
};

}  // namespace fnd::gateway
