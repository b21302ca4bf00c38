#include "gateway/router.hpp"

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
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

bool is_code_upload(std::string_view target) {
  auto q = target.find('?');
  return target.substr(0, q).starts_with(kApiFunctions) && target.substr(0, q).ends_with("/code");
}

}  // namespace

uint64_t Router::body_limit(const http::request_header<>& header) const {
  std::string_view target = header.target();
  if (is_code_upload(target)) return code_archive_limit_;
  if (target.starts_with(kFunctionPrefix)) return options_.max_request_body;
  return 1 << 20;  // specs and other API bodies are small
}

Error Router::body_too_large(const http::request_header<>& header, uint64_t size) const {
  std::string_view target = header.target();
  uint64_t limit = body_limit(header);
  std::string what = size > 0 ? fmt::format("{} bytes", size) : std::string("larger");
  if (is_code_upload(target)) {
    return make_error("archive_too_large", fmt::format("code archive is {}, over the limit of {} ({} bytes, "
                                                       "limits.max_code_archive)", what, format_bytes(limit), limit), 413);
  }
  if (target.starts_with(kFunctionPrefix)) {
    return make_error("request_too_large", fmt::format("request body is {}, over the limit of {} ({} bytes, "
                                                       "limits.max_request_body)", what, format_bytes(limit), limit), 413);
  }
  return make_error("request_too_large", fmt::format("request body is {}, over the limit of {} ({} bytes) for this "
                                                     "endpoint", what, format_bytes(limit), limit), 413);
}

asio::awaitable<bool> Router::handle(Request& request, ClientStream& client, const Connection& connection) {
  std::string_view target = request.target();
  if (target.starts_with(kFunctionPrefix)) {
    return handlers_.invocations.invoke(request, target.substr(kFunctionPrefix.size()), client, connection);
  }
  return handle_other(request, client, connection);
}

asio::awaitable<bool> Router::handle_other(Request& request, ClientStream& client, const Connection& connection) {
  std::string_view target = request.target();
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") co_return co_await write_text(client, 200, "ok\n", version, keep_alive);
  if (path == "/readyz") {
    if (ready_) co_return co_await write_text(client, 200, "ready\n", version, keep_alive);
    co_return co_await write_error(client, make_error("not_ready", "fnd is starting or shutting down", 503), version, keep_alive);
  }
  const bool api = target.starts_with(kApiPrefix);
  if (!api && path != "/metrics") {
    co_return co_await write_error(client, make_error("not_found", fmt::format("no route for {} {}: functions are under "
                                                      "/function/NAME, the API under /api/v1 (see docs/api.md)",
                                                      std::string_view(request.method_string()), path), 404), version, keep_alive);
  }
  // Everything below needs to know who is asking.
  auto principal = access_.authenticate(request, connection, std::chrono::system_clock::now());
  if (!principal) co_return co_await write_error(client, principal.error(), version, keep_alive);
  const Caller caller{*principal, access_};
  if (path == "/metrics") {
    if (!options_.metrics_public) {
      if (auto allowed = caller.may(Permission::read_metrics); !allowed) {
        co_return co_await write_error(client, allowed.error(), version, keep_alive);
      }
    }
    co_return co_await write_text(client, 200, metrics_.render(), version, keep_alive);
  }
  if (target.starts_with(kApiFunctions) &&
      (target.size() == kApiFunctions.size() || target[kApiFunctions.size()] == '/' || target[kApiFunctions.size()] == '?')) {
    co_return co_await handlers_.functions.handle(request, target.substr(kApiFunctions.size()), client, caller);
  }
  if (target.starts_with(kApiAdmin)) {
    co_return co_await handlers_.admin.handle(request, target.substr(kApiAdmin.size() - 1), client, caller);
  }
  if (SecurityApi::serves(target)) co_return co_await handlers_.security.handle(request, target, client, caller);
  co_return co_await write_error(client, make_error("not_found", fmt::format("no API endpoint {} {} (see docs/api.md)",
                                                    std::string_view(request.method_string()), path), 404), version, keep_alive);
}

}  // namespace fnd::gateway
