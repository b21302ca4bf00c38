// The management API for access and secrets (docs/api.md): API tokens (/api/v1/tokens), secrets
// (/api/v1/secrets) and the audit log (/api/v1/audit). Admins only: each call checks the caller's
// permission first (401/403) and every change is recorded in the audit log.
//
// A token's plaintext is in the answer to its creation and nowhere else; a secret's values are
// never in an answer at all (names and keys only).
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/access_control.hpp"
#include "gateway/audit_trail.hpp"
#include "gateway/http_server.hpp"
#include "store/audit_log.hpp"
#include "store/secret_store.hpp"
#include "store/token_repository.hpp"

namespace fnd::gateway {

class ClientStream;

class SecurityApi {
 public:
  // Called after a secret changed (put or deleted) with its name: the daemon rolls the functions
  // that use it, so that their instances get the new values.
  using SecretChanged = std::function<void(const std::string& name)>;

  SecurityApi(store::TokenRepository& tokens, store::SecretStore& secrets, store::AuditLog& audit_log,
              AccessControl& access, AuditTrail& audit, SecretChanged secret_changed)
      : tokens_(tokens), secrets_(secrets), audit_log_(audit_log), access_(access), audit_(audit),
        secret_changed_(std::move(secret_changed)) {}

  // `path` starts with /api/v1/tokens, /api/v1/secrets or /api/v1/audit (query string included).
  static bool serves(std::string_view path);
  boost::asio::awaitable<bool> handle(Request& request, std::string_view path, ClientStream& client, const Caller& caller);

 private:
  boost::asio::awaitable<bool> tokens(Request& request, std::string_view rest, ClientStream& client, const Caller& caller);
  boost::asio::awaitable<bool> secrets(Request& request, std::string_view rest, ClientStream& client, const Caller& caller);
  boost::asio::awaitable<bool> audit(Request& request, std::string_view query, ClientStream& client);

  store::TokenRepository& tokens_;
  store::SecretStore& secrets_;
  store::AuditLog& audit_log_;
  AccessControl& access_;
  AuditTrail& audit_;
  SecretChanged secret_changed_;
};

}  // namespace fnd::gateway
