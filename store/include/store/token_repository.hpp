// API tokens of the management API: bearer tokens with a role and the functions they may act on.
//
// A token reads "fnd_" followed by 43 base64url characters (32 bytes from the CSPRNG). create()
// returns it once; the database keeps only its SHA-256, so a copy of fnd.db lets no one in, and
// no call returns a token or its hash afterwards. authenticate() looks a token up by its hash and
// compares the hashes in constant time.
//
// A revoked token keeps its row, so that it is refused as revoked rather than unknown; its name is
// free again for a new token. An expired token keeps its name until it is revoked.
//
// Thread safety: safe from any thread. Calls block on SQLite (authenticate: one indexed read).
// The Database and the Clock must outlive the TokenRepository.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace fnd::store {

class Database;

inline constexpr std::string_view kTokenPrefix = "fnd_";
inline constexpr size_t kMaxFunctionPatterns = 64;

// Error codes of the token repository (token names that are not DNS labels: core's invalid_name).
inline constexpr std::string_view kInvalidRole = "invalid_role";                         // 400
inline constexpr std::string_view kInvalidFunctionPattern = "invalid_function_pattern";  // 400
inline constexpr std::string_view kInvalidTokenExpiry = "invalid_token_expiry";          // 400
inline constexpr std::string_view kTokenExists = "token_exists";                         // 409
inline constexpr std::string_view kTokenUnknown = "token_unknown";                       // 401
inline constexpr std::string_view kTokenExpired = "token_expired";                       // 401
inline constexpr std::string_view kTokenRevoked = "token_revoked";                       // 401
inline bool is_token_unknown(const Error& e) { return e.code == kTokenUnknown; }
inline bool is_token_expired(const Error& e) { return e.code == kTokenExpired; }
inline bool is_token_revoked(const Error& e) { return e.code == kTokenRevoked; }
// Any of the three: the request is not authenticated (401).
inline bool is_authentication_failure(const Error& e) {
  return is_token_unknown(e) || is_token_expired(e) || is_token_revoked(e);
}

// What a token may do; the gateway decides which API calls each role may make.
enum class Role { admin, deployer, invoker, reader };

std::string_view role_name(Role role);
// "admin", "deployer", "invoker" or "reader". Errors: kInvalidRole.
Result<Role> parse_role(std::string_view text);

// Whether function `name` matches `pattern`, where '*' stands for any run of characters (also
// none) and every other character for itself: "shop-*" matches "shop-" and "shop-cart", not
// "shop". Pure; at most |pattern| * |name| steps (both are at most 63 characters).
bool matches_pattern(std::string_view pattern, std::string_view name);

// A function pattern is 1-63 characters of [a-z0-9-*] (a function name with wildcards).
// Errors: kInvalidFunctionPattern.
Status validate_function_pattern(std::string_view pattern);

// A token as stored: never its plaintext nor its hash.
struct ApiToken {
  uint64_t id = 0;  // tells a revoked token from a newer one of the same name
  std::string name;
  Role role = Role::reader;
  std::vector<std::string> function_patterns;  // empty: every function
  SystemTime created_at;
  std::optional<SystemTime> expires_at;  // nullopt: never expires
  std::optional<SystemTime> revoked_at;

  // Whether the token may act on function `function`: some pattern matches, or there is none.
  bool allows_function(std::string_view function) const;
};

struct CreatedToken {
  ApiToken token;
  std::string plaintext;  // shown to the user once; fnd keeps no copy
};

class TokenRepository {
 public:
  // `wall_at_start` is the wall time clock.now() stands for at this call: created_at and
  // revoked_at are wall_at_start + the time `clock` says has passed since.
  TokenRepository(Database& db, const Clock& clock, SystemTime wall_at_start = std::chrono::system_clock::now());

  // A new token. Errors: invalid_name; kInvalidFunctionPattern (or more than
  // kMaxFunctionPatterns); kInvalidTokenExpiry when `expires_at` is not in the future; kTokenExists
  // when an unrevoked token has the name; store_error.
  Result<CreatedToken> create(const std::string& name, Role role, std::vector<std::string> function_patterns,
                              std::optional<SystemTime> expires_at = std::nullopt);
  // The token `plaintext` is, as of `now`. Errors: kTokenUnknown (no such token, or not a token
  // at all), kTokenRevoked, kTokenExpired (now >= expires_at): each a 401 whose message never
  // repeats what was sent; store_error.
  Result<ApiToken> authenticate(std::string_view plaintext, SystemTime now);
  // Every token, revoked and expired ones too, by name then age.
  Result<std::vector<ApiToken>> list();
  // Revokes the unrevoked token named `name`; false when there is none.
  Result<bool> revoke(const std::string& name);

 private:
  Database& db_;
  const Clock& clock_;
  SteadyTime steady_at_start_;
  SystemTime wall_at_start_;
};

}  // namespace fnd::store
