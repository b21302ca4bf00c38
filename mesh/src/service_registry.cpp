#include "mesh/service_registry.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <cassert>
#include <mutex>
#include <random>
#include <tuple>
#include <variant>

#include "core/json.hpp"
#include "core/units.hpp"
#include "mesh/load_balancer.hpp"
#include "mesh/outlier_detector.hpp"
#include "mesh/retry_budget.hpp"
#include "mesh/workload_identity.hpp"
#include "store/resource_repository.hpp"
#include "upstream_client.hpp"

namespace fnd::mesh {

namespace asio = boost::asio;
namespace json = boost::json;

namespace internal {

// The counters of the mesh's calls, rendered at scrape time from any thread.
class MeshCounters {
 public:
  enum class Family { retries, budget_exhausted, ejections, denied };

  void add(Family family, std::string_view first, std::string_view second = {}, uint64_t n = 1) {
    std::lock_guard lock(mutex_);
    counts_[{family, std::string(first), std::string(second)}] += n;
  }
  void set_healthy(const std::string& service, const std::string& url, bool healthy) {
    std::lock_guard lock(mutex_);
    healthy_[{service, url}] = healthy;
  }
  void forget_service(const std::string& service) {
    std::lock_guard lock(mutex_);
    std::erase_if(healthy_, [&](const auto& entry) { return entry.first.first == service; });
  }
  uint64_t value(Family family, std::string_view first, std::string_view second = {}) const {
    std::lock_guard lock(mutex_);
    auto it = counts_.find({family, std::string(first), std::string(second)});
    return it == counts_.end() ? 0 : it->second;
  }

  void render(std::string& out) const {
    std::lock_guard lock(mutex_);
    struct Info {
      Family family;
      std::string_view name, help;
    };
    static constexpr std::array<Info, 4> kInfo = {{
        {Family::retries, "fnd_mesh_retries_total", "Retries the mesh made, by target."},
        {Family::budget_exhausted, "fnd_mesh_retry_budget_exhausted_total",
         "Retries the mesh did not make because the target's retry budget was spent."},
        {Family::ejections, "fnd_mesh_ejections_total", "Endpoints of a service ejected after consecutive errors."},
        {Family::denied, "fnd_mesh_authz_denied_total", "Calls through the mesh denied by authorization."},
    }};
    for (const auto& info : kInfo) {
      out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", info.name, info.help, info.name);
      for (const auto& [key, count] : counts_) {
        const auto& [family, first, second] = key;
        if (family != info.family) continue;
        if (family == Family::denied) {
          out += fmt::format("{}{{caller=\"{}\",target=\"{}\"}} {}\n", info.name, escape_label(first),
                             escape_label(second), count);
        } else {
          out += fmt::format("{}{{target=\"{}\"}} {}\n", info.name, escape_label(first), count);
        }
      }
    }
    out +=
        "# HELP fnd_mesh_service_endpoint_healthy 1 when the active health checks pass for a service's endpoint.\n"
        "# TYPE fnd_mesh_service_endpoint_healthy gauge\n";
    for (const auto& [key, healthy] : healthy_) {
      out += fmt::format("fnd_mesh_service_endpoint_healthy{{service=\"{}\",url=\"{}\"}} {}\n", escape_label(key.first),
                         escape_label(key.second), healthy ? 1 : 0);
    }
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::tuple<Family, std::string, std::string>, uint64_t> counts_;
  std::map<std::pair<std::string, std::string>, bool> healthy_;
};

struct EndpointHealth {
  bool healthy = true;  // until the checks say otherwise: a new service takes calls at once
  uint32_t passes = 0;
  uint32_t failures = 0;
  std::string last_failure;
  std::optional<SystemTime> last_check;
};

struct CallerTls {
  std::shared_ptr<const IssuedIdentity> identity;
  std::shared_ptr<asio::ssl::context> context;
};

struct ServiceState {
  ServiceState(ServiceSpec s, const CallPolicy& policy, const Clock& clock, const asio::any_io_executor& executor)
      : spec(std::move(s)),
        health(spec.urls.size()),
        outliers(spec.urls.size(), outlier_settings(policy), clock),
        random(std::random_device{}()),
        balancer(spec.urls.size(), random),
        timer(executor) {}

  ServiceSpec spec;
  std::vector<EndpointHealth> health;
  OutlierDetector outliers;
  std::mt19937_64 random;
  LeastRequestBalancer balancer;
  asio::steady_timer timer;                        // between health check rounds
  std::map<std::string, CallerTls> tls_by_caller;  // by the caller's SPIFFE ID
  bool removed = false;
  bool checking = false;
  uint64_t calls = 0;
};

}  // namespace internal

using internal::MeshCounters;
using internal::ServiceState;
using Family = MeshCounters::Family;

namespace {

constexpr size_t kLatencySamples = 200;
constexpr size_t kMinSamplesToAdapt = 20;
// Health checks present this identity to services that ask for a client certificate.
constexpr std::string_view kHealthCheckPath = "/node/health-check";

Error not_found(std::string_view code, std::string message) {
  return make_error(std::string(code), std::move(message), 404);
}

}  // namespace

struct ServiceRegistry::Target {
  explicit Target(const Clock& clock) : budget(RetryBudgetSettings{}, clock) {}
  RetryBudget budget;
  std::vector<std::chrono::nanoseconds> latencies;  // the last kLatencySamples, a ring
  size_t next = 0;
};

ServiceRegistry::ServiceRegistry(Services services, MeshOptions options)
    : services_(services), options_(std::move(options)), counters_(std::make_shared<MeshCounters>()) {
  if (services_.ca != nullptr) identities_ = std::make_unique<IdentityCache>(*services_.ca);
  services_.metrics.add_collector([counters = counters_](std::string& out) { counters->render(out); });
}

ServiceRegistry::~ServiceRegistry() { stop(); }

Status ServiceRegistry::load() {
  auto services = services_.resources.list(kServiceKind);
  if (!services) return services.error();
  auto policies = services_.resources.list(kCallPolicyKind);
  if (!policies) return policies.error();
  auto rules = services_.resources.list(kAuthzRuleKind);
  if (!rules) return rules.error();
  for (const auto& resource : *policies) {
    auto parsed = parse_json(resource.spec);
    auto policy = parsed ? parse_call_policy(*parsed) : Result<CallPolicyOverrides>(parsed.error());
    if (!policy) {
      spdlog::error("mesh: stored call policy of {} is skipped: {}", resource.name, policy.error().message);
      continue;
    }
    policies_[resource.name] = *policy;
  }
  for (const auto& resource : *services) {
    auto parsed = parse_json(resource.spec);
    auto spec = parsed ? parse_service_spec(*parsed, resource.name) : Result<ServiceSpec>(parsed.error());
    if (!spec) {
      spdlog::error("mesh: stored service {} is skipped: {}", resource.name, spec.error().message);
      continue;
    }
    services_by_name_[resource.name] = make_state(std::move(*spec));
  }
  for (const auto& resource : *rules) {
    auto parsed = parse_json(resource.spec);
    auto rule = parsed ? parse_authz_rule(*parsed, resource.name) : Result<AuthorizationRule>(parsed.error());
    if (!rule) {
      spdlog::error("mesh: stored authorization rule {} is skipped: {}", resource.name, rule.error().message);
      continue;
    }
    rules_[resource.name] = std::move(*rule);
  }
  if (Status built = rebuild_authorization(); !built) {
    spdlog::error("mesh: the stored authorization rules do not form a policy ({}); none apply", built.error().message);
    auto empty = AuthorizationPolicy::create(options_.authorization, {});
    if (empty) authorization_ = std::move(*empty);
  }
  return {};
}

void ServiceRegistry::start() {
  started_ = true;
  for (auto& [name, state] : services_by_name_) start_health_checks(state);
}

void ServiceRegistry::stop() {
  started_ = false;
  for (auto& [name, state] : services_by_name_) state->timer.cancel();
}

void ServiceRegistry::function_deployed(const std::string& name) { functions_.insert(name); }

void ServiceRegistry::function_deleted(const std::string& name) {
  functions_.erase(name);
  const std::string spiffe_id = spiffe_id_for_function(options_.trust_domain, name);
  for (auto& [service, state] : services_by_name_) state->tls_by_caller.erase(spiffe_id);
  if (identities_) identities_->forget(spiffe_id);
}

std::shared_ptr<ServiceState> ServiceRegistry::make_state(ServiceSpec spec) {
  const CallPolicy policy = effective_policy(spec.name);
  auto state = std::make_shared<ServiceState>(std::move(spec), policy, services_.clock, services_.executor);
  for (const auto& url : state->spec.urls) counters_->set_healthy(state->spec.name, url.text, true);
  return state;
}

Result<bool> ServiceRegistry::put_service(ServiceSpec spec) {
  const std::string name = spec.name;
  auto put = services_.resources.put(kServiceKind, name, json::serialize(service_spec_to_json(spec)));
  if (!put) return put.error();
  if (auto it = services_by_name_.find(name); it != services_by_name_.end()) {
    it->second->removed = true;
    it->second->timer.cancel();
    counters_->forget_service(name);
  }
  auto state = make_state(std::move(spec));
  services_by_name_[name] = state;
  if (started_) start_health_checks(state);
  return *put;
}

Status ServiceRegistry::delete_service(const std::string& name) {
  auto it = services_by_name_.find(name);
  if (it == services_by_name_.end()) {
    return not_found(kServiceNotFound, fmt::format("no service named '{}'; fnctl service list shows them", name));
  }
  auto removed = services_.resources.remove(kServiceKind, name);
  if (!removed) return removed.error();
  it->second->removed = true;
  it->second->timer.cancel();
  services_by_name_.erase(it);
  counters_->forget_service(name);
  return {};
}

bool ServiceRegistry::has_service(std::string_view name) const { return services_by_name_.contains(name); }

json::array ServiceRegistry::services_json() const {
  json::array out;
  for (const auto& [name, state] : services_by_name_) {
    json::object item = service_spec_to_json(state->spec);
    item.erase("tls");
    size_t healthy = 0;
    for (size_t i = 0; i < state->health.size(); ++i) {
      healthy += state->health[i].healthy && state->outliers.usable(i) ? 1 : 0;
    }
    item["endpoints"] = state->spec.urls.size();
    item["available"] = healthy;
    item["https"] =
        std::any_of(state->spec.urls.begin(), state->spec.urls.end(), [](const ServiceUrl& url) { return url.tls; });
    out.push_back(std::move(item));
  }
  return out;
}

Result<json::object> ServiceRegistry::service_json(const std::string& name) const {
  auto it = services_by_name_.find(name);
  if (it == services_by_name_.end()) {
    return not_found(kServiceNotFound, fmt::format("no service named '{}'; fnctl service list shows them", name));
  }
  const ServiceState& state = *it->second;
  json::object out = service_spec_to_json(state.spec);
  json::array endpoints;
  const SystemTime now_wall = std::chrono::system_clock::now();
  const SteadyTime now = services_.clock.now();
  for (size_t i = 0; i < state.spec.urls.size(); ++i) {
    const auto& health = state.health[i];
    json::object endpoint{{"url", state.spec.urls[i].text},
                          {"healthy", health.healthy},
                          {"ejected", !state.outliers.usable(i)},
                          {"timesEjected", state.outliers.times_ejected(i)},
                          {"consecutiveErrors", state.outliers.consecutive_errors(i)},
                          {"inFlight", state.balancer.in_flight(i)}};
    if (auto until = state.outliers.ejected_until(i)) {
      endpoint["ejectedUntil"] =
          format_rfc3339(now_wall + std::chrono::duration_cast<std::chrono::system_clock::duration>(*until - now));
    }
    if (health.last_check) endpoint["lastCheck"] = format_rfc3339(*health.last_check);
    if (!health.last_failure.empty()) endpoint["lastFailure"] = health.last_failure;
    endpoints.push_back(std::move(endpoint));
  }
  out["endpoints"] = std::move(endpoints);
  out["policy"] = policy_json(name);
  out["counters"] = json::object{{"calls", state.calls},
                                 {"retries", counters_->value(Family::retries, name)},
                                 {"retryBudgetExhausted", counters_->value(Family::budget_exhausted, name)},
                                 {"ejections", state.outliers.ejections_total()},
                                 {"ejectionsRefused", state.outliers.ejections_refused_total()}};
  if (services_.ca != nullptr) {
    out["clientIdentity"] = fmt::format("spiffe://{}/fn/CALLER (the calling function's)", options_.trust_domain);
  }
  return out;
}

// --- policies ----------------------------------------------------------------------------------

ServiceRegistry::Target& ServiceRegistry::target(const std::string& name) {
  auto it = targets_.find(name);
  if (it == targets_.end()) it = targets_.emplace(name, std::make_unique<Target>(services_.clock)).first;
  return *it->second;
}

const ServiceRegistry::Target* ServiceRegistry::find_target(std::string_view name) const {
  auto it = targets_.find(name);
  return it == targets_.end() ? nullptr : it->second.get();
}

std::optional<std::chrono::milliseconds> ServiceRegistry::observed_p99(std::string_view name) const {
  const Target* t = find_target(name);
  if (t == nullptr || t->latencies.size() < kMinSamplesToAdapt) return std::nullopt;
  std::vector<std::chrono::nanoseconds> sorted = t->latencies;
  const size_t index = (sorted.size() * 99 + 99) / 100 - 1;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(index), sorted.end());
  return std::max(std::chrono::milliseconds(1), std::chrono::ceil<std::chrono::milliseconds>(sorted[index]));
}

CallPolicy ServiceRegistry::effective_policy(std::string_view name) const {
  auto it = policies_.find(name);
  return effective_call_policy(observed_p99(name), it == policies_.end() ? CallPolicyOverrides{} : it->second);
}

Result<bool> ServiceRegistry::put_policy(const std::string& name, CallPolicyOverrides overrides) {
  if (Status valid = validate(overrides); !valid) return valid.error();
  auto put = services_.resources.put(kCallPolicyKind, name, json::serialize(call_policy_to_json(overrides)));
  if (!put) return put.error();
  policies_[name] = overrides;
  // Ejection settings live in the service's detector: a new one takes them (ejections start afresh).
  if (auto it = services_by_name_.find(name); it != services_by_name_.end()) {
    ServiceSpec spec = it->second->spec;
    it->second->removed = true;
    it->second->timer.cancel();
    auto state = make_state(std::move(spec));
    it->second = state;
    if (started_) start_health_checks(state);
  }
  return *put;
}

Status ServiceRegistry::delete_policy(const std::string& name) {
  if (!policies_.contains(name)) {
    return not_found(kCallPolicyNotFound, fmt::format("no call policy is set for '{}'", name));
  }
  auto removed = services_.resources.remove(kCallPolicyKind, name);
  if (!removed) return removed.error();
  policies_.erase(name);
  return {};
}

json::object ServiceRegistry::policy_json(const std::string& name) const {
  auto it = policies_.find(name);
  json::object out{{"target", name},
                   {"set", it == policies_.end() ? json::object{} : call_policy_to_json(it->second)},
                   {"effective", effective_policy_to_json(effective_policy(name))}};
  auto p99 = observed_p99(name);
  out["observedP99"] = p99 ? json::value(format_duration(*p99)) : json::value(nullptr);
  return out;
}

json::array ServiceRegistry::policies_json() const {
  json::array out;
  for (const auto& [name, overrides] : policies_) out.push_back(policy_json(name));
  return out;
}

// --- authorization -------------------------------------------------------------------------------

Status ServiceRegistry::rebuild_authorization() {
  std::vector<AuthorizationRule> rules;
  rules.reserve(rules_.size());
  for (const auto& [name, rule] : rules_) rules.push_back(rule);
  auto policy = AuthorizationPolicy::create(options_.authorization, std::move(rules));
  if (!policy) return policy.error();
  authorization_ = std::move(*policy);
  return {};
}

Result<bool> ServiceRegistry::put_rule(AuthorizationRule rule) {
  if (Status valid = validate(rule, 1); !valid) return valid.error();
  const std::string name = rule.name;
  auto put = services_.resources.put(kAuthzRuleKind, name, json::serialize(authz_rule_to_json(rule)));
  if (!put) return put.error();
  rules_[name] = std::move(rule);
  if (Status built = rebuild_authorization(); !built) return built.error();
  return *put;
}

Status ServiceRegistry::delete_rule(const std::string& name) {
  if (!rules_.contains(name)) {
    return not_found(kRuleNotFound, fmt::format("no authorization rule named '{}'; fnctl authz list shows them", name));
  }
  auto removed = services_.resources.remove(kAuthzRuleKind, name);
  if (!removed) return removed.error();
  rules_.erase(name);
  return rebuild_authorization();
}

json::array ServiceRegistry::rules_json() const {
  json::array out;
  for (const auto& [name, rule] : rules_) out.push_back(authz_rule_to_json(rule));
  return out;
}

Status ServiceRegistry::authorize(std::string_view caller, std::string_view target, std::string_view method,
                                  std::string_view path) {
  if (!authorization_.enabled()) return {};
  auto decision = authorization_.check(caller, target, method, path);
  if (decision.allowed) return {};
  counters_->add(Family::denied, caller, target);
  return make_error(std::string(kCallDenied), decision.reason, 403);
}

// --- calls ---------------------------------------------------------------------------------------

void ServiceRegistry::record_function_request(const std::string& name) { target(name).budget.record_request(); }

bool ServiceRegistry::try_retry(const std::string& name) {
  if (target(name).budget.try_spend_retry()) {
    counters_->add(Family::retries, name);
    return true;
  }
  counters_->add(Family::budget_exhausted, name);
  return false;
}

void ServiceRegistry::observe_duration(const std::string& name, std::chrono::nanoseconds duration) {
  Target& t = target(name);
  if (t.latencies.size() < kLatencySamples) {
    t.latencies.push_back(duration);
  } else {
    t.latencies[t.next] = duration;
    t.next = (t.next + 1) % kLatencySamples;
  }
}

namespace {

// The TLS settings for calls from `spiffe_id` to the service (cached per caller; made again when
// the caller's certificate was rotated).
Result<internal::UpstreamTls> tls_for(ServiceState& state, IdentityCache* identities, const std::string& spiffe_id,
                                      const ServiceUrl& url) {
  internal::UpstreamTls tls;
  tls.spiffe_id = state.spec.spiffe_id;
  tls.verify_name = state.spec.server_name.empty() ? url.host : state.spec.server_name;
  std::shared_ptr<const IssuedIdentity> identity;
  if (identities != nullptr) {
    auto issued = identities->identity_for(spiffe_id);
    if (!issued) return issued.error();
    identity = *issued;
  }
  auto& cached = state.tls_by_caller[spiffe_id];
  if (!cached.context || cached.identity != identity) {
    auto context = internal::make_client_tls(state.spec.ca_pem, identity ? identity->certificate_pem : "",
                                             identity ? identity->private_key_pem : "");
    if (!context) return context.error();
    cached = {identity, *context};
  }
  tls.context = cached.context;
  return tls;
}

}  // namespace

void ServiceRegistry::start_health_checks(const std::shared_ptr<ServiceState>& state) {
  if (state->spec.health.path.empty() || state->checking) return;
  state->checking = true;
  asio::co_spawn(services_.executor, check_health(state), asio::detached);
}

asio::awaitable<void> ServiceRegistry::check_health(std::shared_ptr<ServiceState> state) {
  const std::string spiffe_id = fmt::format("spiffe://{}{}", options_.trust_domain, kHealthCheckPath);
  while (!state->removed && started_) {
    for (size_t i = 0; i < state->spec.urls.size() && !state->removed; ++i) {
      const ServiceUrl& url = state->spec.urls[i];
      internal::UpstreamRequest request;
      request.method = "GET";
      request.target = url.base_path + state->spec.health.path;
      request.headers.emplace_back("User-Agent", "fnd-health-check");
      std::optional<internal::UpstreamTls> tls;
      std::string failure;
      if (url.tls) {
        auto made = tls_for(*state, identities_.get(), spiffe_id, url);
        if (made) {
          tls = std::move(*made);
        } else {
          failure = made.error().message;
        }
      }
      bool passed = false;
      if (failure.empty()) {
        auto result =
            co_await internal::exchange(services_.executor, url, request, tls ? &*tls : nullptr,
                                        std::chrono::steady_clock::now() + state->spec.health.timeout, 64 * 1024);
        if (state->removed) co_return;
        if (auto* response = std::get_if<internal::UpstreamResponse>(&result)) {
          passed = response->status < 400;
          if (!passed) failure = fmt::format("GET {} answered {}", request.target, response->status);
        } else {
          failure = std::get<internal::UpstreamError>(result).message;
        }
      }
      auto& health = state->health[i];
      health.last_check = std::chrono::system_clock::now();
      if (passed) {
        ++health.passes;
        health.failures = 0;
        if (!health.healthy && health.passes >= state->spec.health.healthy_threshold) {
          health.healthy = true;
          spdlog::info("mesh: service {} endpoint {} is healthy again", state->spec.name, url.text);
        }
      } else {
        ++health.failures;
        health.passes = 0;
        health.last_failure = failure;
        if (health.healthy && health.failures >= state->spec.health.unhealthy_threshold) {
          health.healthy = false;
          spdlog::warn("mesh: service {} endpoint {} failed {} health checks in a row ({}): no calls go there",
                       state->spec.name, url.text, health.failures, failure);
        }
      }
      counters_->set_healthy(state->spec.name, url.text, health.healthy);
    }
    state->timer.expires_after(state->spec.health.interval);
    co_await state->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  state->checking = false;
}

asio::awaitable<ServiceAnswer> ServiceRegistry::call_service(const std::string& name, const ServiceCall& call) {
  auto found = services_by_name_.find(name);
  assert(found != services_by_name_.end() && "call_service() after has_service()");
  std::shared_ptr<ServiceState> state = found->second;  // a replaced spec leaves this call on the old one
  const CallPolicy policy = effective_policy(name);
  Target& budget_target = target(name);
  budget_target.budget.record_request();
  ++state->calls;
  const std::string spiffe_id = spiffe_id_for_function(options_.trust_domain, call.caller);
  ServiceAnswer answer;
  std::optional<size_t> last_endpoint;
  std::string last_failure;
  std::optional<Error> last_error;
  const auto started = std::chrono::steady_clock::now();
  for (uint32_t attempt = 0;; ++attempt) {
    auto usable = [&](size_t i) { return state->health[i].healthy && state->outliers.usable(i); };
    // A retry goes elsewhere when there is elsewhere to go.
    auto pick = state->balancer.pick([&](size_t i) { return usable(i) && (!last_endpoint || i != *last_endpoint); });
    if (!pick) pick = state->balancer.pick(usable);
    if (!pick) {
      answer.error = make_error(
          std::string(kNoHealthyEndpoint),
          fmt::format("service '{}' has no healthy endpoint among its {} ({}); fnctl service "
                      "describe {} shows their state",
                      name, state->spec.urls.size(),
                      last_failure.empty() ? std::string("health checks fail or all are ejected") : last_failure, name),
          503);
      answer.error->retry_after_seconds = 1;
      co_return answer;
    }
    const size_t endpoint = *pick;
    last_endpoint = endpoint;
    const ServiceUrl& url = state->spec.urls[endpoint];
    internal::UpstreamRequest request;
    request.method = call.method;
    request.target = url.base_path + std::string(call.target);
    request.headers = call.headers;
    request.body = call.body;
    std::optional<internal::UpstreamTls> tls;
    if (url.tls) {
      auto made = tls_for(*state, identities_.get(), spiffe_id, url);
      if (!made) {
        answer.error = made.error();
        co_return answer;
      }
      tls = std::move(*made);
    }
    const uint64_t ejections_before = state->outliers.ejections_total();
    state->balancer.start(endpoint);
    auto result =
        co_await internal::exchange(services_.executor, url, request, tls ? &*tls : nullptr,
                                    std::chrono::steady_clock::now() + policy.timeout.value, options_.max_answer_bytes);
    state->balancer.finish(endpoint);
    std::optional<int> status;
    if (auto* response = std::get_if<internal::UpstreamResponse>(&result)) {
      status = static_cast<int>(response->status);
      state->outliers.record_status(endpoint, *status);
      answer.status = response->status;
      answer.headers = std::move(response->headers);
      answer.body = std::move(response->body);
      answer.error.reset();
    } else {
      const auto& error = std::get<internal::UpstreamError>(result);
      state->outliers.record_connect_error(endpoint);
      last_failure = fmt::format("{}: {}", url.text, error.message);
      switch (error.kind) {
        case internal::UpstreamFailure::connect:
          answer.error = make_error(std::string(kServiceUnreachable),
                                    fmt::format("service '{}' could not be reached: {}", name, last_failure), 502);
          break;
        case internal::UpstreamFailure::timeout:
          status = 504;  // the request may have been taken: retried only as a 504 would be
          answer.error = make_error(std::string(kServiceTimeout),
                                    fmt::format("service '{}' did not answer within {} ({}); fnctl policy set {} "
                                                "--timeout changes the limit",
                                                name, format_duration(policy.timeout.value), url.text, name),
                                    504);
          break;
        case internal::UpstreamFailure::protocol:
          status = 502;
          answer.error = make_error(std::string(kServiceBadAnswer),
                                    fmt::format("service '{}' gave a broken answer: {}", name, last_failure), 502);
          break;
      }
    }
    if (const uint64_t ejected = state->outliers.ejections_total() - ejections_before; ejected > 0) {
      counters_->add(Family::ejections, name, {}, ejected);
      spdlog::warn("mesh: service {} endpoint {} ejected after {} errors in a row", name, url.text,
                   policy.eject_consecutive_5xx.value);
    }
    const bool failed = answer.error || is_retryable_status(answer.status);
    if (!failed || !may_retry(policy, call.method, status, attempt)) break;
    if (!budget_target.budget.try_spend_retry()) {
      counters_->add(Family::budget_exhausted, name);
      break;
    }
    counters_->add(Family::retries, name);
    ++answer.retries;
  }
  if (!answer.error) observe_duration(name, std::chrono::steady_clock::now() - started);
  co_return answer;
}

std::string ServiceRegistry::ca_pem() const { return services_.ca != nullptr ? services_.ca->ca_pem() : std::string(); }

}  // namespace fnd::mesh
