// Who may call what. Requests are authenticated by how they arrive: on the local management
// socket by the peer's credentials (root and members of the admin group are admins; nobody else
// gets anything), elsewhere by a bearer token (Authorization: Bearer fnd_...). A principal's
// permissions follow from its role, and function-scoped ones from its token's function patterns.
//
//   admin     everything
//   deployer  functions.read, functions.deploy, functions.delete, functions.invoke, metrics.read,
//             eventing.read, eventing.manage, mesh.read
//   invoker   functions.invoke
//   reader    functions.read, metrics.read, eventing.read, mesh.read
//
// Tokens are looked up in the store once and then kept in memory (by their SHA-256, never as
// plaintext), so that a token costs no database read per request; forget_tokens() drops that
// memory after a revoke, so that a revoked token stops working at once.
//
// Not thread safe: use from the io_context's thread only. authenticate() may block on one
// indexed SQLite read the first time it sees a token.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "gateway/http_server.hpp"
#include "store/token_repository.hpp"

namespace fnd::gateway {

inline constexpr std::string_view kUnauthenticated = "unauthenticated";  // 401
inline constexpr std::string_view kForbidden = "forbidden";              // 403
inline bool is_unauthenticated(const Error& e) { return e.code == kUnauthenticated || store::is_authentication_failure(e); }
inline bool is_forbidden(const Error& e) { return e.code == kForbidden; }

enum class Permission {
  read_functions,    // list, describe, logs
  deploy_functions,  // upload code, put a spec
  delete_functions,
  invoke_functions,  // functions deployed with access: token
  read_metrics,
  manage_tokens,
  manage_secrets,
  read_audit,
  backup,
  unconfined_seccomp,  // deploy a spec with security.seccomp: unconfined
  read_eventing,       // list and describe brokers and triggers, evaluate filters
  manage_eventing,     // create and delete brokers and triggers
  read_mesh,           // list and describe services, call policies and authorization rules
  manage_mesh,         // register services, set call policies and authorization rules (admin only)
};
// "functions.read", "tokens.manage", ...
std::string_view permission_name(Permission permission);
// Whether the permission is about one function (and so limited by a token's function patterns).
bool is_function_scoped(Permission permission);

struct Principal {
  enum class Kind { anonymous, local_user, token };
  Kind kind = Kind::anonymous;
  std::string name;                  // the audit log's actor: "uid:0", "token:ci"; empty when anonymous
  std::optional<store::Role> role;   // nullopt: authenticated but allowed nothing (a local non-admin)
  std::vector<std::string> function_patterns;  // empty: every function

  // "token 'ci' (deployer, functions shop-*)", "local uid 1000 (not an admin)", "an anonymous caller".
  std::string describe() const;
  // Whether the principal may act on function `name` at all (its patterns; anonymous: no).
  bool allows_function(std::string_view name) const;
};

class AccessControl {
 public:
  // `tokens` must outlive this. Members of `admin_group` (a group name; a group that does not
  // exist makes root the only local admin) are admins on the local socket.
  AccessControl(store::TokenRepository& tokens, const std::string& admin_group);

  // The principal behind a request. A local-socket connection is its peer; otherwise a bearer
  // token when one is sent, else anonymous. Errors (401): a token that is not one of ours, has
  // expired or was revoked; a malformed Authorization header.
  Result<Principal> authenticate(const Request& request, const Connection& connection, SystemTime now);
  // ok, or 401 for an anonymous principal (the message says how to get a token), or 403 naming the
  // principal, the permission it lacks and the function.
  Status authorize(const Principal& principal, Permission permission, std::string_view function = {}) const;
  // Drops every remembered token lookup (call after revoking one).
  void forget_tokens() { known_tokens_.clear(); }

 private:
  store::TokenRepository& tokens_;
  std::optional<gid_t> admin_gid_;
  std::unordered_map<std::string, store::ApiToken> known_tokens_;  // by SHA-256 of the token
};

// A request's principal with the means to check it: what the API handlers are given.
struct Caller {
  const Principal& principal;
  const AccessControl& access;
  // Told of every refusal (the router records refused changes in the audit log); may be empty.
  std::function<void(Permission, std::string_view function, const Error&)> on_refused = {};
  Status may(Permission permission, std::string_view function = {}) const {
    Status allowed = access.authorize(principal, permission, function);
    if (!allowed && on_refused) on_refused(permission, function, allowed.error());
    return allowed;
  }
};

}  // namespace fnd::gateway
