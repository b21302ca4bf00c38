#include "gateway/router.hpp"

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <fmt/format.h>

#include "client_stream.hpp"
#include "core/units.hpp"
#include "gateway/responses.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kFunctionPrefix = "/function/";
constexpr std::string_view kApiFunctions = "/api/v1/functions";
constexpr std::string_view kApiAdmin = "/api/v1/admin/";
constexpr std::string_view kApiPrefix = "/api/";
constexpr std::string_view kEventsPrefix = "/events/";
constexpr std::string_view kAsyncPrefix = "/async-function/";

}  // namespace

Route route_of(std::string_view target) {
  if (target.starts_with(kFunctionPrefix)) return {RouteKind::invocation, target.substr(kFunctionPrefix.size())};
  if (target.starts_with(kAsyncPrefix)) return {RouteKind::async_invocation, target.substr(kAsyncPrefix.size())};
  if (target.starts_with(kEventsPrefix)) {
    std::string_view broker = target.substr(kEventsPrefix.size());
    return {RouteKind::events, broker.substr(0, broker.find('?'))};
  }
  if (target.starts_with(kApiFunctions) &&
      (target.size() == kApiFunctions.size() || target[kApiFunctions.size()] == '/' || target[kApiFunctions.size()] == '?')) {
    std::string_view rest = target.substr(kApiFunctions.size());
    // "/NAME/code": what FunctionApi serves as the code upload. Only that gets the archive's
    // body limit: a longer path, or one outside the API, would be read whole just to be refused.
    std::string_view path = rest.substr(0, rest.find('?'));
    const bool upload = path.starts_with('/') && path.ends_with("/code") && path.size() > 6 &&
                        path.find('/', 1) == path.size() - 5;
    return {upload ? RouteKind::code_upload : RouteKind::functions_api, rest};
  }
  if (target.starts_with(kApiAdmin)) return {RouteKind::admin_api, target.substr(kApiAdmin.size() - 1)};
  std::string_view path = target.substr(0, target.find('?'));
  if (target.starts_with(kApiPrefix)) return {RouteKind::other_api, path};
  if (path == "/healthz") return {RouteKind::healthz, path};
  if (path == "/metrics") return {RouteKind::metrics, path};
  if (path == "/readyz") return {RouteKind::readyz, path};
  return {RouteKind::not_found, path};
}

uint64_t route_body_limit(RouteKind route, const GatewayOptions& options, uint64_t code_archive_limit) {
  if (route == RouteKind::code_upload) return code_archive_limit;
  if (route == RouteKind::invocation || route == RouteKind::async_invocation || route == RouteKind::events) {
    return options.max_request_body;
  }
  return 1 << 20;  // specs and other API bodies are small
}

uint64_t Router::body_limit(const http::request_header<>& header) const {
  return route_body_limit(route_of(header.target()).kind, options_, code_archive_limit_);
}

Error Router::body_too_large(const http::request_header<>& header, uint64_t size) const {
  const RouteKind route = route_of(header.target()).kind;
  uint64_t limit = route_body_limit(route, options_, code_archive_limit_);
  std::string what = size > 0 ? fmt::format("{} bytes", size) : std::string("larger");
  if (route == RouteKind::code_upload) {
    return make_error("archive_too_large", fmt::format("code archive is {}, over the limit of {} ({} bytes, "
                                                       "limits.max_code_archive)", what, format_bytes(limit), limit), 413);
  }
  if (route == RouteKind::invocation || route == RouteKind::async_invocation || route == RouteKind::events) {
    return make_error("request_too_large", fmt::format("request body is {}, over the limit of {} ({} bytes, "
                                                       "limits.max_request_body)", what, format_bytes(limit), limit), 413);
  }
  return make_error("request_too_large", fmt::format("request body is {}, over the limit of {} ({} bytes) for this "
                                                     "endpoint", what, format_bytes(limit), limit), 413);
}

asio::awaitable<bool> Router::handle(Request& request, ClientStream& client, const Connection& connection) {
  Route route = route_of(request.target());
  if (route.kind == RouteKind::invocation) return handlers_.invocations.invoke(request, route.rest, client, connection);
  return handle_other(request, route, client, connection);
}

asio::awaitable<bool> Router::handle_other(Request& request, Route route, ClientStream& client,
                                           const Connection& connection) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  switch (route.kind) {
    case RouteKind::healthz: co_return co_await write_text(client, 200, "ok\n", version, keep_alive);
    case RouteKind::readyz:
      if (ready_) co_return co_await write_text(client, 200, "ready\n", version, keep_alive);
      co_return co_await write_error(client, make_error("not_ready", "fnd is starting or shutting down", 503), version, keep_alive);
    case RouteKind::events: co_return co_await handlers_.events.ingest(request, route.rest, client);
    case RouteKind::async_invocation:
      co_return co_await handlers_.invocations.invoke_async(request, route.rest, client, connection);
    case RouteKind::not_found:
      co_return co_await write_error(client, make_error("not_found", fmt::format("no route for {} {}: functions are under "
                                                        "/function/NAME, the API under /api/v1 (see docs/api.md)",
                                                        std::string_view(request.method_string()), route.rest), 404),
                                     version, keep_alive);
    default: break;
  }
  // Everything below needs to know who is asking.
  auto principal = access_.authenticate(request, connection, std::chrono::system_clock::now());
  if (!principal) co_return co_await write_error(client, principal.error(), version, keep_alive);
  // A refused change is worth an audit entry (who tried what); a refused read is not.
  const bool changes = request.method() != http::verb::get && request.method() != http::verb::head &&
                       route.kind != RouteKind::metrics;
  std::string path(route.rest.substr(0, route.rest.find('?')));
  auto record_refusal = [this, &principal, &path](Permission permission, std::string_view function, const Error& error) {
    handlers_.audit.record(*principal, fmt::format("refused:{}", permission_name(permission)),
                           function.empty() ? path : std::string(function), error);
  };
  std::function<void(Permission, std::string_view, const Error&)> on_refused;
  if (changes) on_refused = record_refusal;
  const Caller caller{*principal, access_, std::move(on_refused)};
  switch (route.kind) {
    case RouteKind::metrics:
      if (!options_.metrics_public) {
        if (auto allowed = caller.may(Permission::read_metrics); !allowed) {
          co_return co_await write_error(client, allowed.error(), version, keep_alive);
        }
      }
      co_return co_await write_text(client, 200, metrics_.render(), version, keep_alive);
    case RouteKind::functions_api:
    case RouteKind::code_upload: co_return co_await handlers_.functions.handle(request, route.rest, client, caller);
    case RouteKind::admin_api: co_return co_await handlers_.admin.handle(request, route.rest, client, caller);
    default: break;
  }
  std::string_view target = request.target();
  if (SecurityApi::serves(target)) co_return co_await handlers_.security.handle(request, target, client, caller);
  if (EventsApi::serves(target)) co_return co_await handlers_.events.handle(request, target, client, caller);
  if (handlers_.state && StateAdminApi::serves(target)) {
    co_return co_await handlers_.state->handle(request, target, client, caller);
  }
  if (handlers_.mesh != nullptr && MeshApi::serves(target))
    co_return co_await handlers_.mesh->handle(request, target, client, caller);
  co_return co_await write_error(client, make_error("not_found", fmt::format("no API endpoint {} {} (see docs/api.md)",
                                                    std::string_view(request.method_string()), route.rest), 404),
                                 version, keep_alive);
}

}  // namespace fnd::gateway
