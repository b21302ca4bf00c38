// The mesh's registry of one node: every function by name (from the deployment events, never by
// polling the store), the registered external services with the state of each of their
// endpoints (active health checks, outlier ejection, requests in flight), the call policies users
// set per target, and the authorization rules. It also makes the calls to services: a healthy
// endpoint chosen by least request (P2C), the target's timeout, retries on connect errors and
// 502/503/504 within the target's retry budget, and mTLS with the caller's workload certificate.
//
// Services, policies and rules are stored in the store's resources (kinds "service",
// "call-policy", "authz-rule") and loaded at start; every change is written before it applies.
//
// Metrics: fnd_mesh_retries_total{target}, fnd_mesh_retry_budget_exhausted_total{target},
// fnd_mesh_ejections_total{target}, fnd_mesh_authz_denied_total{caller,target},
// fnd_mesh_service_endpoint_healthy{service,url}.
//
// Not thread safe: use from the io_context's thread only (the metrics are rendered from any
// thread). Store writes block briefly (SQLite), as for brokers and triggers.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/metrics.hpp"
#include "core/time.hpp"
#include "mesh/authorization.hpp"
#include "mesh/call_policy.hpp"
#include "mesh/options.hpp"
#include "mesh/service_spec.hpp"

namespace fnd::store {
class ResourceRepository;
}

namespace fnd::mesh {

class NodeCa;
class IdentityCache;

namespace internal {
struct ServiceState;
class MeshCounters;
}  // namespace internal

inline constexpr std::string_view kNoHealthyEndpoint = "no_healthy_endpoint";     // 503
inline constexpr std::string_view kServiceUnreachable = "service_unreachable";    // 502: no connection
inline constexpr std::string_view kServiceTimeout = "service_timeout";            // 504
inline constexpr std::string_view kServiceBadAnswer = "service_bad_answer";       // 502
inline constexpr std::string_view kCallDenied = "call_denied";                    // 403 (authorization)
inline constexpr std::string_view kCallPolicyNotFound = "call_policy_not_found";  // 404
inline constexpr std::string_view kRuleNotFound = "rule_not_found";               // 404

// A request to a service, as the endpoint read it (views valid during call_service()).
struct ServiceCall {
  std::string_view caller;  // the calling function (the instance's, never a header's)
  std::string_view method;
  std::string_view target;  // what follows /svc/NAME: "/v1/users/3?x=1" (starts with '/')
  std::vector<std::pair<std::string, std::string>> headers;  // end-to-end fields, identity fields dropped
  std::string_view body;
};

struct ServiceAnswer {
  std::optional<Error> error;  // set when no endpoint answered (the answer below is then empty)
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint32_t retries = 0;  // retries made for this call
};

class ServiceRegistry {
 public:
  struct Services {
    boost::asio::any_io_executor executor;  // the io thread's
    store::ResourceRepository& resources;
    const Clock& clock;
    MetricsRegistry& metrics;
    const NodeCa* ca = nullptr;  // null: https services are called without a client certificate
  };

  ServiceRegistry(Services services, MeshOptions options);
  ~ServiceRegistry();
  ServiceRegistry(const ServiceRegistry&) = delete;
  ServiceRegistry& operator=(const ServiceRegistry&) = delete;

  // Reads services, policies and rules from the store; an entry that no longer parses is logged
  // and skipped. Errors: the store's. Call once, before start().
  Status load();
  // Starts the active health checks of every service (and of those added later).
  void start();
  // Ends the health checks (their timers are cancelled at once).
  void stop();

  // --- functions, from the deployment events --------------------------------------------------
  void function_deployed(const std::string& name);
  void function_deleted(const std::string& name);
  bool has_function(std::string_view name) const { return functions_.contains(name); }

  // --- services --------------------------------------------------------------------------------
  // Creates or replaces the service (true: created). Its endpoints' health and ejection state
  // start afresh. Errors: the store's.
  Result<bool> put_service(ServiceSpec spec);
  // Errors: 404 service_not_found, the store's.
  Status delete_service(const std::string& name);
  bool has_service(std::string_view name) const;
  boost::json::array services_json() const;
  // The spec, every endpoint's state, the effective policy and the counters. Errors: 404.
  Result<boost::json::object> service_json(const std::string& name) const;

  // --- call policies (functions and services) ---------------------------------------------------
  // Replaces what was set for `target` (a function or service name; it need not exist yet).
  // Errors: 422 invalid_call_policy, the store's.
  Result<bool> put_policy(const std::string& target, CallPolicyOverrides overrides);
  // Errors: 404 call_policy_not_found, the store's.
  Status delete_policy(const std::string& target);
  // {"target","set":{...},"effective":{...},"observedP99":"12ms"|null}.
  boost::json::object policy_json(const std::string& target) const;
  boost::json::array policies_json() const;
  CallPolicy effective_policy(std::string_view target) const;

  // --- authorization -----------------------------------------------------------------------------
  // Errors: 422 invalid_rule (also when the name is taken by nothing else but the rule set as a
  // whole is invalid), the store's.
  Result<bool> put_rule(AuthorizationRule rule);
  // Errors: 404 rule_not_found, the store's.
  Status delete_rule(const std::string& name);
  boost::json::array rules_json() const;
  bool authorization_enabled() const { return options_.authorization; }
  // Allowed, or 403 call_denied naming the caller, the target and the reason (counted).
  Status authorize(std::string_view caller, std::string_view target, std::string_view method, std::string_view path);

  // --- calls -----------------------------------------------------------------------------------
  // Calls service `name` (which must exist: has_service()) for `call.caller`.
  boost::asio::awaitable<ServiceAnswer> call_service(const std::string& name, const ServiceCall& call);

  // For calls to functions through the mesh: the target's retry budget says whether one more
  // retry may go (counted either way), and how long the function took (for the adapted defaults).
  void record_function_request(const std::string& name);
  bool try_retry(const std::string& target);
  void observe_duration(const std::string& target, std::chrono::nanoseconds duration);

  // The node CA's certificate (PEM), which services that check client certificates trust;
  // empty without a CA.
  std::string ca_pem() const;
  const MeshOptions& options() const { return options_; }

 private:
  struct Target;  // per function or service: budget, latencies
  Target& target(const std::string& name);
  const Target* find_target(std::string_view name) const;
  std::optional<std::chrono::milliseconds> observed_p99(std::string_view name) const;
  std::shared_ptr<internal::ServiceState> make_state(ServiceSpec spec);
  void start_health_checks(const std::shared_ptr<internal::ServiceState>& state);
  boost::asio::awaitable<void> check_health(std::shared_ptr<internal::ServiceState> state);
  Status rebuild_authorization();

  Services services_;
  MeshOptions options_;
  std::unique_ptr<IdentityCache> identities_;
  std::shared_ptr<internal::MeshCounters> counters_;  // shared with the metrics collector
  std::set<std::string, std::less<>> functions_;
  std::map<std::string, std::shared_ptr<internal::ServiceState>, std::less<>> services_by_name_;
  std::map<std::string, CallPolicyOverrides, std::less<>> policies_;
  std::map<std::string, AuthorizationRule, std::less<>> rules_;
  AuthorizationPolicy authorization_;
  std::map<std::string, std::unique_ptr<Target>, std::less<>> targets_;
  bool started_ = false;
};

}  // namespace fnd::mesh
