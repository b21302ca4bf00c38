#include "gateway/security_api.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <optional>
#include <fmt/format.h>

#include "client_stream.hpp"
#include "core/base64.hpp"
#include "core/json.hpp"
#include "core/time.hpp"
#include "core/units.hpp"
#include "gateway/responses.hpp"
#include "query.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view kTokens = "/api/v1/tokens";
constexpr std::string_view kSecrets = "/api/v1/secrets";
constexpr std::string_view kAudit = "/api/v1/audit";

// `path` is `prefix` itself or goes on with '/' or '?'.
bool under(std::string_view path, std::string_view prefix) {
  return path.starts_with(prefix) &&
         (path.size() == prefix.size() || path[prefix.size()] == '/' || path[prefix.size()] == '?');
}

Error method_not_allowed(const Request& request, std::string_view allowed) {
  return make_error("method_not_allowed", fmt::format("{} is not allowed on {}; use {}",
                                                      std::string_view(request.method_string()),
                                                      std::string_view(request.target()), allowed), 405);
}

json::object token_json(const store::ApiToken& token) {
  json::array functions;
  for (const auto& pattern : token.function_patterns) functions.emplace_back(pattern);
  json::object out{{"name", token.name},
                   {"role", store::role_name(token.role)},
                   {"functions", std::move(functions)},
                   {"created_at", format_rfc3339(token.created_at)}};
  if (token.expires_at) out["expires_at"] = format_rfc3339(*token.expires_at);
  if (token.revoked_at) out["revoked_at"] = format_rfc3339(*token.revoked_at);
  return out;
}

std::optional<uint64_t> parse_count(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// "30d", "12h" (from now) or an RFC 3339 time.
Result<SystemTime> read_expiry(std::string_view text, SystemTime now) {
  if (auto at = parse_rfc3339(text)) return *at;
  if (text.ends_with('d')) {
    if (auto days = parse_count(text.substr(0, text.size() - 1)); days && *days <= 36500) {
      return now + std::chrono::hours(24) * static_cast<int64_t>(*days);
    }
  }
  if (auto duration = parse_duration(text)) return now + *duration;
  return make_error(std::string(store::kInvalidTokenExpiry), fmt::format("expires '{}' is neither a duration (30d, 12h) "
                                                                         "nor an RFC 3339 time", text), 400);
}

// {"name", "role", "functions": [...], "expires": "30d"}
struct TokenRequest {
  std::string name;
  store::Role role = store::Role::reader;
  std::vector<std::string> functions;
  std::optional<SystemTime> expires_at;
};

Result<TokenRequest> read_token_request(std::string_view body, SystemTime now) {
  auto parsed = parse_json(body);
  if (!parsed) return parsed.error();
  if (!parsed->is_object()) return make_error("invalid_token_request", "the body must be a JSON object", 400);
  const auto& object = parsed->as_object();
  TokenRequest out;
  for (const auto& [key, value] : object) {
    if (key == "name" && value.is_string()) {
      out.name = std::string(value.as_string());
    } else if (key == "role" && value.is_string()) {
      auto role = store::parse_role(value.as_string());
      if (!role) return role.error();
      out.role = *role;
    } else if (key == "functions" && value.is_array()) {
      for (const auto& pattern : value.as_array()) {
        if (!pattern.is_string()) return make_error("invalid_token_request", "functions must be a list of name patterns", 400);
        out.functions.emplace_back(pattern.as_string());
      }
    } else if (key == "expires" && value.is_string()) {
      auto at = read_expiry(value.as_string(), now);
      if (!at) return at.error();
      out.expires_at = *at;
    } else {
      return make_error("invalid_token_request", fmt::format("unknown or mistyped field '{}'; a token request has name, "
                                                             "role, functions (list) and expires (text)",
                                                             std::string_view(key)), 400);
    }
  }
  if (!object.contains("role")) {
    return make_error("invalid_token_request", "role is required: admin, deployer, invoker or reader", 400);
  }
  return out;
}

// {"data": {"key": "<base64>"}}, Kubernetes-style, so values may hold any bytes.
Result<store::SecretValues> read_secret_values(std::string_view body) {
  auto parsed = parse_json(body);
  if (!parsed) return parsed.error();
  const json::object* object = parsed->if_object();
  const json::value* data = object ? object->if_contains("data") : nullptr;
  if (!data || !data->is_object() || object->size() != 1) {
    return make_error("invalid_secret", "the body must be {\"data\": {\"KEY\": \"<base64 of the value>\", ...}}", 400);
  }
  store::SecretValues values;
  for (const auto& [key, value] : data->as_object()) {
    auto decoded = value.is_string() ? base64_decode(value.as_string()) : std::nullopt;
    if (!decoded) {
      return make_error("invalid_secret", fmt::format("data.{} must be the value in base64", std::string_view(key)), 400);
    }
    values.emplace(std::string(key), std::move(*decoded));
  }
  if (values.empty()) return make_error("invalid_secret", "a secret needs at least one key in data", 400);
  return values;
}

}  // namespace

bool SecurityApi::serves(std::string_view path) {
  return under(path, kTokens) || under(path, kSecrets) || under(path, kAudit);
}

asio::awaitable<bool> SecurityApi::handle(Request& request, std::string_view path, ClientStream& client,
                                          const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  std::string_view query;
  if (auto q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  if (under(path, kTokens)) {
    if (auto allowed = caller.may(Permission::manage_tokens); !allowed) {
      co_return co_await write_error(client, allowed.error(), version, keep_alive);
    }
    co_return co_await tokens(request, path.substr(kTokens.size()), client, caller);
  }
  if (under(path, kSecrets)) {
    if (auto allowed = caller.may(Permission::manage_secrets); !allowed) {
      co_return co_await write_error(client, allowed.error(), version, keep_alive);
    }
    co_return co_await secrets(request, path.substr(kSecrets.size()), client, caller);
  }
  if (auto allowed = caller.may(Permission::read_audit); !allowed) {
    co_return co_await write_error(client, allowed.error(), version, keep_alive);
  }
  if (path != kAudit) co_return co_await write_error(client, make_error("not_found", "no such audit endpoint; use GET /api/v1/audit", 404),
                                                      version, keep_alive);
  if (request.method() != http::verb::get) co_return co_await write_error(client, method_not_allowed(request, "GET"), version, keep_alive);
  co_return co_await audit(request, query, client);
}

asio::awaitable<bool> SecurityApi::tokens(Request& request, std::string_view rest, ClientStream& client,
                                          const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (rest.empty() || rest == "/") {
    if (request.method() == http::verb::get) {
      auto all = tokens_.list();
      if (!all) co_return co_await write_error(client, all.error(), version, keep_alive);
      json::array items;
      for (const auto& token : *all) items.push_back(token_json(token));
      json::object out{{"tokens", std::move(items)}};
      co_return co_await write_json(client, 200, out, version, keep_alive);
    }
    if (request.method() != http::verb::post) {
      co_return co_await write_error(client, method_not_allowed(request, "GET or POST"), version, keep_alive);
    }
    auto wanted = read_token_request(request.body(), std::chrono::system_clock::now());
    Result<store::CreatedToken> created = wanted ? tokens_.create(wanted->name, wanted->role, wanted->functions, wanted->expires_at)
                                                 : Result<store::CreatedToken>(wanted.error());
    audit_.record(caller.principal, "token.create", wanted ? wanted->name : std::string(),
                  created ? Status{} : Status(created.error()),
                  created ? fmt::format("role {}", store::role_name(created->token.role)) : std::string());
    if (!created) co_return co_await write_error(client, created.error(), version, keep_alive);
    json::object out{{"token", token_json(created->token)}, {"secret", created->plaintext}};
    co_return co_await write_json(client, 201, out, version, keep_alive);
  }
  std::string name(rest.substr(1));
  if (request.method() != http::verb::delete_) {
    co_return co_await write_error(client, method_not_allowed(request, "DELETE (to revoke)"), version, keep_alive);
  }
  auto revoked = tokens_.revoke(name);
  if (revoked && *revoked) access_.forget_tokens();  // it must stop working now, not when forgotten
  Status outcome = !revoked ? Status(revoked.error())
                   : *revoked ? Status{}
                              : Status(make_error("token_not_found", fmt::format("no unrevoked token named '{}'", name), 404));
  audit_.record(caller.principal, "token.revoke", name, outcome);
  if (!outcome) co_return co_await write_error(client, outcome.error(), version, keep_alive);
  json::object out{{"revoked", name}};
  co_return co_await write_json(client, 200, out, version, keep_alive);
}

asio::awaitable<bool> SecurityApi::secrets(Request& request, std::string_view rest, ClientStream& client,
                                           const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (rest.empty() || rest == "/") {
    if (request.method() != http::verb::get) co_return co_await write_error(client, method_not_allowed(request, "GET"), version, keep_alive);
    auto all = secrets_.list();
    if (!all) co_return co_await write_error(client, all.error(), version, keep_alive);
    json::array items;
    for (const auto& info : *all) {
      json::array keys;
      for (const auto& key : info.keys) keys.emplace_back(key);
      items.push_back(json::object{{"name", info.name}, {"keys", std::move(keys)}, {"version", info.version},
                                   {"created_at", format_rfc3339(info.created_at)},
                                   {"updated_at", format_rfc3339(info.updated_at)}});
    }
    json::object out{{"secrets", std::move(items)}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  std::string name(rest.substr(1));
  if (request.method() == http::verb::put) {
    auto values = read_secret_values(request.body());
    Result<uint64_t> stored = values ? secrets_.put(name, *values) : Result<uint64_t>(values.error());
    audit_.record(caller.principal, "secret.put", name, stored ? Status{} : Status(stored.error()),
                  values ? fmt::format("{} keys", values->size()) : std::string());
    if (!stored) co_return co_await write_error(client, stored.error(), version, keep_alive);
    if (secret_changed_) secret_changed_(name);
    json::object out{{"name", name}, {"version", *stored}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  if (request.method() == http::verb::delete_) {
    auto removed = secrets_.remove(name);
    Status outcome = !removed ? Status(removed.error())
                     : *removed ? Status{}
                                : Status(make_error(std::string(store::kSecretNotFound), fmt::format("no secret named '{}'", name), 404));
    audit_.record(caller.principal, "secret.delete", name, outcome);
    if (!outcome) co_return co_await write_error(client, outcome.error(), version, keep_alive);
    if (secret_changed_) secret_changed_(name);
    json::object out{{"deleted", name}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  co_return co_await write_error(client, method_not_allowed(request, "PUT or DELETE (values are never read back)"), version,
                                 keep_alive);
}

asio::awaitable<bool> SecurityApi::audit(Request& request, std::string_view query, ClientStream& client) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  auto params = internal::parse_query(query);
  store::AuditQuery wanted;
  const SystemTime now = std::chrono::system_clock::now();
  if (auto since = params["since"]; !since.empty()) {
    if (auto at = parse_rfc3339(since)) {
      wanted.since = *at;
    } else if (auto ago = parse_duration(since)) {
      wanted.since = now - *ago;
    } else {
      co_return co_await write_error(client, make_error("invalid_since", fmt::format("since='{}' is neither an RFC 3339 time "
                                                                                      "nor a duration (1h)", since), 400),
                                     version, keep_alive);
    }
  }
  if (auto limit = params["limit"]; !limit.empty()) {
    auto count = parse_count(limit);
    if (!count || *count == 0 || *count > store::kMaxAuditQueryLimit) {
      co_return co_await write_error(client, make_error("invalid_limit", fmt::format("limit must be 1 to {}",
                                                                                      store::kMaxAuditQueryLimit), 400),
                                     version, keep_alive);
    }
    wanted.limit = *count;
  }
  if (auto actor = params["actor"]; !actor.empty()) wanted.actor = actor;
  if (auto action = params["action"]; !action.empty()) wanted.action = action;
  auto entries = audit_log_.query(wanted);
  if (!entries) co_return co_await write_error(client, entries.error(), version, keep_alive);
  json::array items;
  for (const auto& entry : *entries) {
    items.push_back(json::object{{"time", format_rfc3339(entry.time)}, {"actor", entry.actor}, {"action", entry.action},
                                 {"target", entry.target}, {"result", entry.result}, {"detail", entry.detail}});
  }
  json::object out{{"entries", std::move(items)}};
  co_return co_await write_json(client, 200, out, version, keep_alive);
}

}  // namespace fnd::gateway
