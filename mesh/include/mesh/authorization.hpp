// Which caller may call which function or service through the mesh (Istio's
// AuthorizationPolicy, reduced to what one node needs). When enabled, a call is denied unless an
// allow rule matches it and no deny rule does: deny wins, and anything no rule mentions is
// denied. When disabled, every call is allowed.
//
// A rule matches a call when the caller is in `from` (or from is "*"), the target is `to` (or
// to is "*"), the method is in `methods` (or methods is empty) and the path starts with one of
// `path_prefixes` at a segment boundary ("/api" matches "/api" and "/api/x", not "/apix"), or
// path_prefixes is empty.
//
// An AuthorizationPolicy is checked once when built (create()) and immutable after: check() is
// const and safe to call from any thread at once. No clock, no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace fnd::mesh {

// Error code of create() and validate(): 422, the message names the rule and what to mend.
inline constexpr std::string_view kInvalidRule = "invalid_rule";
inline bool is_invalid_rule(const Error& e) { return e.code == kInvalidRule; }

enum class RuleEffect { allow, deny };
std::string_view to_string(RuleEffect effect);  // "allow", "deny"

struct AuthorizationRule {
  std::string name;  // optional; names the rule in decisions (else "rule #<position from 1>")
  RuleEffect effect = RuleEffect::allow;
  std::vector<std::string> from;           // calling function names, or just "*": any caller
  std::string to;                          // target function or service name, or "*": any
  std::vector<std::string> methods;        // "GET", "POST", ...; empty: any method
  std::vector<std::string> path_prefixes;  // "/orders"; empty: any path
};

// One rule on its own (`position` counts from 1 and only names it in the message). Errors (422
// invalid_rule): an invalid name; an empty `from`, or "*" mixed with names; a caller or target
// that is neither "*" nor a valid name; a method not in upper case letters; a path prefix that
// does not start with '/', or holds "." or ".." segments, '?' or '#'.
Status validate(const AuthorizationRule& rule, size_t position);

class AuthorizationPolicy {
 public:
  struct Decision {
    bool allowed = false;
    // Names the caller, the target and the rule that decided, or says that no rule allowed
    // the call; for logs, audit and the 403 answer.
    std::string reason;
  };

  // Disabled: allows every call.
  AuthorizationPolicy() = default;
  // Validates every rule (as validate()) and that no two rules share a name. Errors: 422
  // invalid_rule.
  static Result<AuthorizationPolicy> create(bool enabled, std::vector<AuthorizationRule> rules);

  // `caller` is the calling function's name, `target` the name called, `method` the HTTP method
  // as sent (case sensitive), `path` the request path without query, already percent-decoded
  // and normalized by the endpoint. A path that is not (no leading '/', or "." or ".."
  // segments) is denied when the policy is enabled, so that a prefix cannot be dodged.
  Decision check(std::string_view caller, std::string_view target, std::string_view method,
                 std::string_view path) const;

  bool enabled() const { return enabled_; }
  const std::vector<AuthorizationRule>& rules() const { return rules_; }

 private:
  AuthorizationPolicy(bool enabled, std::vector<AuthorizationRule> rules)
      : enabled_(enabled), rules_(std::move(rules)) {}

  bool enabled_ = false;
  std::vector<AuthorizationRule> rules_;
};

}  // namespace fnd::mesh
