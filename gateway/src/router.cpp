#include "gateway/router.hpp"

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "core/units.hpp"
#include "gateway/responses.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kFunctionPrefix = "/function/";
constexpr std::string_view kApiFunctions = "/api/v1/functions";
constexpr std::string_view kApiAdmin = "/api/v1/admin/";

}  // namespace

Route route_of(std::string_view target) {
  if (target.starts_with(kFunctionPrefix)) return {RouteKind::invocation, target.substr(kFunctionPrefix.size())};
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
  if (path == "/healthz") return {RouteKind::healthz, path};
  if (path == "/metrics") return {RouteKind::metrics, path};
  if (path == "/readyz") return {RouteKind::readyz, path};
  return {RouteKind::not_found, path};
}

uint64_t route_body_limit(RouteKind route, const GatewayOptions& options, uint64_t code_archive_limit) {
  if (route == RouteKind::code_upload) return code_archive_limit;
  if (route == RouteKind::invocation) return options.max_request_body;
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
  if (route == RouteKind::invocation) {
    return make_error("request_too_large", fmt::format("request body is {}, over the limit of {} ({} bytes, "
                                                       "limits.max_request_body)", what, format_bytes(limit), limit), 413);
  }
  return make_error("request_too_large", fmt::format("request body is {}, over the limit of {} ({} bytes) for this "
                                                     "endpoint", what, format_bytes(limit), limit), 413);
}

asio::awaitable<bool> Router::handle(Request& request, TimedSocket& client, std::string_view client_address) {
  Route route = route_of(request.target());
  if (route.kind == RouteKind::invocation) return invocations_.invoke(request, route.rest, client, client_address);
  return handle_other(request, route, client);
}

asio::awaitable<bool> Router::handle_other(Request& request, Route route, TimedSocket& client) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  switch (route.kind) {
    case RouteKind::functions_api:
    case RouteKind::code_upload: co_return co_await api_.handle(request, route.rest, client);
    case RouteKind::admin_api: co_return co_await admin_.handle(request, route.rest, client);
    case RouteKind::healthz: co_return co_await write_text(client, 200, "ok\n", version, keep_alive);
    case RouteKind::metrics: co_return co_await write_text(client, 200, metrics_.render(), version, keep_alive);
    case RouteKind::readyz:
      if (ready_) co_return co_await write_text(client, 200, "ready\n", version, keep_alive);
      co_return co_await write_error(client, make_error("not_ready", "fnd is starting or shutting down", 503), version, keep_alive);
    case RouteKind::invocation:
    case RouteKind::not_found: break;
  }
  co_return co_await write_error(client, make_error("not_found", fmt::format("no route for {} {}: functions are under "
                                                    "/function/NAME, the API under /api/v1 (see docs/api.md)",
                                                    std::string_view(request.method_string()), route.rest), 404),
                                 version, keep_alive);
}

}  // namespace fnd::gateway
