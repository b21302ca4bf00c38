// The gateway's top-level request handler: /function/{name}/... to the invocation handler,
// /api/v1/functions... and the other API families to their handlers after authenticating the
// caller, /healthz and /readyz (open to all) and /metrics (a reader token unless metrics.public).
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "core/metrics.hpp"
#include "gateway/access_control.hpp"
#include "gateway/admin_api.hpp"
#include "gateway/events_api.hpp"
#include "gateway/function_api.hpp"
#include "gateway/http_server.hpp"
#include "gateway/invocation_handler.hpp"
#include "gateway/mesh_api.hpp"
#include "gateway/options.hpp"
#include "gateway/security_api.hpp"
#include "gateway/state_admin_api.hpp"

namespace fnd::gateway {

// Where a request goes, decided from its target alone. Pure, so that the body limit, the handler
// and the fuzz target (tests/fuzz/fuzz_http_request.cpp) all follow the same decision.
// other_api: any other /api/ path (the security API, or a 404 once the caller is known).
// events: CloudEvents ingress, rest = the broker's name; async_invocation: rest = after
// /async-function/.
enum class RouteKind { invocation, async_invocation, events, functions_api, code_upload, admin_api, other_api, healthz, metrics, readyz, not_found };
struct Route {
  RouteKind kind = RouteKind::not_found;
  // invocation: the target after /function/; functions_api and code_upload: after
  // /api/v1/functions (query included); admin_api: after /api/v1/admin (query included);
  // otherwise the path without the query. A view into the target.
  std::string_view rest;
};
Route route_of(std::string_view target);
// The largest body a request for `route` may carry: the code upload's is the store's
// `code_archive_limit`, an invocation's options.max_request_body, any other 1 MiB.
uint64_t route_body_limit(RouteKind route, const GatewayOptions& options, uint64_t code_archive_limit);

class Router final : public RequestHandler {
 public:
  struct Handlers {
    FunctionApi& functions;
    AdminApi& admin;
    SecurityApi& security;
    InvocationHandler& invocations;
    EventsApi& events;
    AuditTrail& audit;  // refused changes are recorded too
    StateAdminApi* state = nullptr;  // /api/v1/state/...; null: not served
    MeshApi* mesh = nullptr;  // services, call policies, authorization rules; null: those paths are 404
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
  boost::asio::awaitable<bool> handle_other(Request& request, Route route, ClientStream& client,
                                            const Connection& connection);

  Handlers handlers_;
  AccessControl& access_;
  const MetricsRegistry& metrics_;
  GatewayOptions options_;
  uint64_t code_archive_limit_;
  bool ready_ = false;
};

}  // namespace fnd::gateway
