#include "gateway/access_control.hpp"

#include <grp.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <boost/beast/http/field.hpp>
#include <fmt/format.h>

namespace fnd::gateway {

namespace http = boost::beast::http;

namespace {

std::string sha256(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest.data()), size);
}

bool role_has(store::Role role, Permission permission) {
  switch (role) {
    case store::Role::admin:
      return true;
    case store::Role::deployer:
      return permission == Permission::read_functions || permission == Permission::deploy_functions ||
             permission == Permission::delete_functions || permission == Permission::invoke_functions ||
             permission == Permission::read_metrics || permission == Permission::read_eventing ||
             permission == Permission::manage_eventing || permission == Permission::read_mesh;
    case store::Role::invoker:
      return permission == Permission::invoke_functions;
    case store::Role::reader:
      return permission == Permission::read_functions || permission == Permission::read_metrics ||
             permission == Permission::read_eventing || permission == Permission::read_mesh;
  }
  return false;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string_view permission_name(Permission permission) {
  switch (permission) {
    case Permission::read_functions: return "functions.read";
    case Permission::deploy_functions: return "functions.deploy";
    case Permission::delete_functions: return "functions.delete";
    case Permission::invoke_functions: return "functions.invoke";
    case Permission::read_metrics: return "metrics.read";
    case Permission::manage_tokens: return "tokens.manage";
    case Permission::manage_secrets: return "secrets.manage";
    case Permission::read_audit: return "audit.read";
    case Permission::backup: return "admin.backup";
    case Permission::unconfined_seccomp: return "security.unconfined";
    case Permission::read_eventing: return "eventing.read";
    case Permission::manage_eventing: return "eventing.manage";
    case Permission::read_mesh: return "mesh.read";
    case Permission::manage_mesh: return "mesh.manage";
  }
  return "unknown";
}

bool is_function_scoped(Permission permission) {
  return permission == Permission::read_functions || permission == Permission::deploy_functions ||
         permission == Permission::delete_functions || permission == Permission::invoke_functions;
}

std::string Principal::describe() const {
  switch (kind) {
    case Kind::anonymous:
      return "an anonymous caller";
    case Kind::local_user:
      return role ? fmt::format("local {} (admin)", name) : fmt::format("local {} (not root, not in the admin group)", name);
    case Kind::token: {
      std::string functions = function_patterns.empty() ? "every function" : fmt::format("functions {}",
                                                                                          fmt::join(function_patterns, ", "));
      return fmt::format("token '{}' ({}, {})", name.substr(name.find(':') + 1),
                         role ? store::role_name(*role) : std::string_view("no role"), functions);
    }
  }
  return name;
}

bool Principal::allows_function(std::string_view function) const {
  if (!role) return false;
  if (function_patterns.empty()) return true;
  return std::any_of(function_patterns.begin(), function_patterns.end(),
                     [&](const std::string& pattern) { return store::matches_pattern(pattern, function); });
}

AccessControl::AccessControl(store::TokenRepository& tokens, const std::string& admin_group) : tokens_(tokens) {
  if (const group* g = ::getgrnam(admin_group.c_str())) admin_gid_ = g->gr_gid;
}

Result<Principal> AccessControl::authenticate(const Request& request, const Connection& connection, SystemTime now) {
  Principal principal;
  if (connection.transport == Connection::Transport::local) {
    principal.kind = Principal::Kind::local_user;
    if (!connection.peer) return principal;  // credentials unknown: allowed nothing
    const PeerCredentials& peer = *connection.peer;
    principal.name = fmt::format("uid:{}", peer.uid);
    bool admin = peer.uid == 0 ||
                 (admin_gid_ && (peer.gid == *admin_gid_ ||
                                 std::find(peer.groups.begin(), peer.groups.end(), *admin_gid_) != peer.groups.end()));
    if (admin) principal.role = store::Role::admin;
    return principal;
  }
  auto header = request[http::field::authorization];
  if (header.empty()) return principal;
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || !equals_ignoring_case(header.substr(0, kBearer.size()), kBearer)) {
    return make_error(std::string(kUnauthenticated), "the Authorization header must be 'Bearer <token>' with a token "
                                                     "from fnctl token create", 401);
  }
  std::string_view token = header.substr(kBearer.size());
  std::string key = sha256(token);
  auto known = known_tokens_.find(key);
  if (known == known_tokens_.end()) {
    auto found = tokens_.authenticate(token, now);
    if (!found) return found.error();
    known = known_tokens_.emplace(std::move(key), std::move(*found)).first;
  }
  const store::ApiToken& api_token = known->second;
  if (api_token.expires_at && now >= *api_token.expires_at) {
    return make_error(std::string(store::kTokenExpired), fmt::format("token '{}' has expired; ask an admin for a new one "
                                                                     "(fnctl token create)", api_token.name), 401);
  }
  principal.kind = Principal::Kind::token;
  principal.name = "token:" + api_token.name;
  principal.role = api_token.role;
  principal.function_patterns = api_token.function_patterns;
  return principal;
}

Status AccessControl::authorize(const Principal& principal, Permission permission, std::string_view function) const {
  if (principal.kind == Principal::Kind::anonymous) {
    return make_error(std::string(kUnauthenticated),
                      fmt::format("this needs a token with {}: send 'Authorization: Bearer <token>' (fnctl: --token or "
                                  "FNCTL_TOKEN; an admin creates one with fnctl token create)", permission_name(permission)),
                      401);
  }
  bool allowed = principal.role && role_has(*principal.role, permission);
  if (allowed && is_function_scoped(permission) && !function.empty()) allowed = principal.allows_function(function);
  if (allowed) return {};
  std::string what = function.empty() || !is_function_scoped(permission)
                         ? std::string(permission_name(permission))
                         : fmt::format("{} on function '{}'", permission_name(permission), function);
  return make_error(std::string(kForbidden), fmt::format("{} may not do this: it needs {}", principal.describe(), what), 403);
}

}  // namespace fnd::gateway
