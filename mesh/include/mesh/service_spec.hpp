// The declarations of the mesh that users write and fnd stores (one JSON document each in the
// store's resources): registered services (kind "service"), call policies per target (kind
// "call-policy") and authorization rules (kind "authz-rule"). Parsing validates; what parses is
// what the registry runs. The JSON shapes are in docs/api.md, "Services, call policies and
// authorization".
//
// Pure functions over plain values: no I/O, safe from any thread.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "mesh/authorization.hpp"
#include "mesh/call_policy.hpp"

namespace fnd::mesh {

// Error codes (422 unless said otherwise).
inline constexpr std::string_view kInvalidService = "invalid_service";
inline constexpr std::string_view kServiceNotFound = "service_not_found";  // 404
inline bool is_invalid_service(const Error& e) { return e.code == kInvalidService; }
inline bool is_service_not_found(const Error& e) { return e.code == kServiceNotFound; }

// The stored resource kinds.
inline constexpr std::string_view kServiceKind = "service";
inline constexpr std::string_view kCallPolicyKind = "call-policy";
inline constexpr std::string_view kAuthzRuleKind = "authz-rule";

// One endpoint of a service: "http://10.0.0.5:8080/base" or "https://users.internal:9001".
struct ServiceUrl {
  std::string text;  // as given (a trailing '/' removed)
  bool tls = false;
  std::string host;  // a DNS name or an IP address (IPv6 without brackets)
  uint16_t port = 0;
  std::string base_path;  // "" or "/base": prepended to what the caller asks for
};

// http or https, a host, an optional port (80/443 by default), an optional base path; no user
// info, query or fragment. Errors: 422 invalid_service naming the URL.
Result<ServiceUrl> parse_service_url(std::string_view text);

struct HealthCheckSpec {
  std::string path;  // empty: no active checks (passive ejection still applies)
  std::chrono::milliseconds interval = std::chrono::seconds(10);
  std::chrono::milliseconds timeout = std::chrono::seconds(2);
  uint32_t healthy_threshold = 2;    // consecutive passes that bring an unhealthy endpoint back
  uint32_t unhealthy_threshold = 3;  // consecutive failures that take it out
};

struct ServiceSpec {
  std::string name;
  std::vector<ServiceUrl> urls;  // at least one, at most kMaxServiceUrls
  HealthCheckSpec health;
  // For https URLs: the CA (PEM) the service's certificate must chain to (empty: the system's
  // trust store), and what the certificate must name: a SPIFFE ID (URI SAN) when spiffe_id is
  // set, else server_name (empty: the URL's host) as a DNS name or IP address.
  std::string ca_pem;
  std::string server_name;
  std::string spiffe_id;
};

inline constexpr size_t kMaxServiceUrls = 64;

// {"name","urls":[...],"health":{"path","interval","timeout","healthyThreshold",
// "unhealthyThreshold"},"tls":{"ca","serverName","spiffeId"}}. `name` is the name from the
// path: a body naming another is refused; a body naming none takes it. Errors: 422
// invalid_service (the message names the field and what to write).
Result<ServiceSpec> parse_service_spec(const boost::json::value& body, std::string_view name);
boost::json::object service_spec_to_json(const ServiceSpec& spec);

// {"timeout":"800ms","retries":2,"retryNonIdempotent":false,"eject":{"consecutive5xx":5,
// "baseEjection":"30s","maxEjectedPercent":50}}; absent fields stay unset. Errors: 422
// invalid_call_policy.
Result<CallPolicyOverrides> parse_call_policy(const boost::json::value& body);
boost::json::object call_policy_to_json(const CallPolicyOverrides& overrides);
// The effective policy with where each value came from: {"timeout":{"value":"800ms","source":"set"},...}.
boost::json::object effective_policy_to_json(const CallPolicy& policy);

// {"name","effect":"allow"|"deny","from":[...],"to","methods":[...],"paths":[...]}; the name
// comes from the path as for services. Errors: 422 invalid_rule (validate() of authorization.hpp).
Result<AuthorizationRule> parse_authz_rule(const boost::json::value& body, std::string_view name);
boost::json::object authz_rule_to_json(const AuthorizationRule& rule);

}  // namespace fnd::mesh
