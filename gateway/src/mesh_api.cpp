#include "gateway/mesh_api.hpp"

#include <fmt/format.h>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <string>
#include <utility>

#include "client_stream.hpp"
#include "core/json.hpp"
#include "core/names.hpp"
#include "gateway/responses.hpp"
#include "mesh/service_registry.hpp"
#include "mesh/service_spec.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view kServices = "/api/v1/services";
constexpr std::string_view kPolicies = "/api/v1/policies";
constexpr std::string_view kRules = "/api/v1/authz/rules";
constexpr std::string_view kAuthz = "/api/v1/authz";
constexpr std::string_view kCa = "/api/v1/mesh/ca";

bool under(std::string_view path, std::string_view prefix) {
  return path.starts_with(prefix) &&
         (path.size() == prefix.size() || path[prefix.size()] == '/' || path[prefix.size()] == '?');
}

Error method_not_allowed(const Request& request, std::string_view allowed) {
  return make_error("method_not_allowed",
                    fmt::format("{} is not allowed on {}; use {}", std::string_view(request.method_string()),
                                std::string_view(request.target()), allowed),
                    405);
}

// The body as JSON (an empty body is an empty object).
Result<json::value> body_json(const Request& request) {
  if (request.body().empty()) return json::value(json::object{});
  return parse_json(request.body());
}

}  // namespace

bool MeshApi::serves(std::string_view path) {
  path = path.substr(0, path.find('?'));
  return under(path, kServices) || under(path, kPolicies) || under(path, kAuthz) || path == kCa;
}

asio::awaitable<bool> MeshApi::handle(Request& request, std::string_view path, ClientStream& client,
                                      const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  path = path.substr(0, path.find('?'));
  const bool reading = request.method() == http::verb::get;
  if (auto allowed = caller.may(reading ? Permission::read_mesh : Permission::manage_mesh); !allowed) {
    co_return co_await write_error(client, allowed.error(), version, keep_alive);
  }
  if (under(path, kServices)) co_return co_await services(request, path.substr(kServices.size()), client, caller);
  if (under(path, kPolicies)) co_return co_await policies(request, path.substr(kPolicies.size()), client, caller);
  if (under(path, kRules)) co_return co_await rules(request, path.substr(kRules.size()), client, caller);
  if (path == kCa) {
    if (!reading) co_return co_await write_error(client, method_not_allowed(request, "GET"), version, keep_alive);
    std::string pem = registry_.ca_pem();
    if (pem.empty()) {
      co_return co_await write_error(client, make_error("not_found", "this fnd has no node CA", 404), version,
                                     keep_alive);
    }
    co_return co_await write_text(client, 200, std::move(pem), version, keep_alive);
  }
  if (path == kAuthz || path == std::string(kAuthz) + "/") {
    if (!reading) co_return co_await write_error(client, method_not_allowed(request, "GET"), version, keep_alive);
    json::object out{{"enabled", registry_.authorization_enabled()}, {"rules", registry_.rules_json()}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  co_return co_await write_error(
      client, make_error("not_found", fmt::format("no API endpoint {} (see docs/api.md)", path), 404), version,
      keep_alive);
}

asio::awaitable<bool> MeshApi::services(Request& request, std::string_view rest, ClientStream& client,
                                        const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (rest.empty() || rest == "/") {
    if (request.method() != http::verb::get) {
      co_return co_await write_error(client, method_not_allowed(request, "GET, or PUT /api/v1/services/NAME"), version,
                                     keep_alive);
    }
    json::object out{{"services", registry_.services_json()}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  std::string name(rest.substr(1));
  if (request.method() == http::verb::get) {
    auto described = registry_.service_json(name);
    if (!described) co_return co_await write_error(client, described.error(), version, keep_alive);
    co_return co_await write_json(client, 200, *described, version, keep_alive);
  }
  if (request.method() == http::verb::put) {
    auto parsed = parse_json(request.body());
    Result<mesh::ServiceSpec> spec =
        parsed ? mesh::parse_service_spec(*parsed, name) : Result<mesh::ServiceSpec>(parsed.error());
    Result<bool> created = spec ? registry_.put_service(std::move(*spec)) : Result<bool>(spec.error());
    audit_.record(caller.principal, "service.put", name, created ? Status{} : Status(created.error()));
    if (!created) co_return co_await write_error(client, created.error(), version, keep_alive);
    co_return co_await write_json(client, *created ? 201 : 200, *registry_.service_json(name), version, keep_alive);
  }
  if (request.method() == http::verb::delete_) {
    Status deleted = registry_.delete_service(name);
    audit_.record(caller.principal, "service.delete", name, deleted);
    if (!deleted) co_return co_await write_error(client, deleted.error(), version, keep_alive);
    json::object out{{"deleted", name}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  co_return co_await write_error(client, method_not_allowed(request, "GET, PUT or DELETE"), version, keep_alive);
}

asio::awaitable<bool> MeshApi::policies(Request& request, std::string_view rest, ClientStream& client,
                                        const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (rest.empty() || rest == "/") {
    if (request.method() != http::verb::get) {
      co_return co_await write_error(client, method_not_allowed(request, "GET, or PUT /api/v1/policies/TARGET"),
                                     version, keep_alive);
    }
    json::object out{{"policies", registry_.policies_json()}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  std::string name(rest.substr(1));
  if (Status valid = validate_name("target", name); !valid) {
    co_return co_await write_error(client, valid.error(), version, keep_alive);
  }
  if (request.method() == http::verb::get) {
    co_return co_await write_json(client, 200, registry_.policy_json(name), version, keep_alive);
  }
  if (request.method() == http::verb::put) {
    auto parsed = body_json(request);
    Result<mesh::CallPolicyOverrides> policy =
        parsed ? mesh::parse_call_policy(*parsed) : Result<mesh::CallPolicyOverrides>(parsed.error());
    Result<bool> created = policy ? registry_.put_policy(name, *policy) : Result<bool>(policy.error());
    audit_.record(caller.principal, "policy.put", name, created ? Status{} : Status(created.error()));
    if (!created) co_return co_await write_error(client, created.error(), version, keep_alive);
    co_return co_await write_json(client, *created ? 201 : 200, registry_.policy_json(name), version, keep_alive);
  }
  if (request.method() == http::verb::delete_) {
    Status deleted = registry_.delete_policy(name);
    audit_.record(caller.principal, "policy.delete", name, deleted);
    if (!deleted) co_return co_await write_error(client, deleted.error(), version, keep_alive);
    json::object out{{"deleted", name}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  co_return co_await write_error(client, method_not_allowed(request, "GET, PUT or DELETE"), version, keep_alive);
}

asio::awaitable<bool> MeshApi::rules(Request& request, std::string_view rest, ClientStream& client,
                                     const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (rest.empty() || rest == "/") {
    if (request.method() != http::verb::get) {
      co_return co_await write_error(client, method_not_allowed(request, "GET, or PUT /api/v1/authz/rules/NAME"),
                                     version, keep_alive);
    }
    json::object out{{"enabled", registry_.authorization_enabled()}, {"rules", registry_.rules_json()}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  std::string name(rest.substr(1));
  if (request.method() == http::verb::put) {
    auto parsed = body_json(request);
    Result<mesh::AuthorizationRule> rule =
        parsed ? mesh::parse_authz_rule(*parsed, name) : Result<mesh::AuthorizationRule>(parsed.error());
    Result<bool> created = rule ? registry_.put_rule(std::move(*rule)) : Result<bool>(rule.error());
    audit_.record(caller.principal, "authz.put", name, created ? Status{} : Status(created.error()));
    if (!created) co_return co_await write_error(client, created.error(), version, keep_alive);
    json::object out{{"name", name}, {"enabled", registry_.authorization_enabled()}};
    co_return co_await write_json(client, *created ? 201 : 200, out, version, keep_alive);
  }
  if (request.method() == http::verb::delete_) {
    Status deleted = registry_.delete_rule(name);
    audit_.record(caller.principal, "authz.delete", name, deleted);
    if (!deleted) co_return co_await write_error(client, deleted.error(), version, keep_alive);
    json::object out{{"deleted", name}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  co_return co_await write_error(client, method_not_allowed(request, "PUT or DELETE"), version, keep_alive);
}

}  // namespace fnd::gateway
