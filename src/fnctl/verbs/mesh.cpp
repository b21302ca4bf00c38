// fnctl service, policy and authz: register external services with the mesh, set call policies
// per function or service, and write the authorization rules of calls through the mesh.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "core/json.hpp"
#include "fnctl/client.hpp"
#include "fnctl/input.hpp"
#include "listing.hpp"

namespace fnd::fnctl {

namespace json = boost::json;

namespace {

int print_done(const Result<JsonAnswer>& answer, const GlobalOptions& globals, const std::string& text) {
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
  } else {
    fmt::print("{}\n", text);
  }
  return kExitOk;
}

std::string text_of(const json::value* value) {
  if (value == nullptr || value->is_null()) return "-";
  if (value->is_string()) return std::string(value->get_string());
  return json::serialize(*value);
}

// --- service ----------------------------------------------------------------------------------

struct ServiceRegister {
  std::string name;
  std::vector<std::string> urls;
  std::string health;
  std::string interval;
  std::string timeout;
  uint32_t healthy = 0;
  uint32_t unhealthy = 0;
  std::string ca_file;
  std::string server_name;
  std::string spiffe_id;
};

int run_service_register(const ServiceRegister& options, const GlobalOptions& globals) {
  json::array urls;
  for (const auto& url : options.urls) urls.emplace_back(url);
  json::object body{{"urls", std::move(urls)}};
  json::object health;
  if (!options.health.empty()) health["path"] = options.health;
  if (!options.interval.empty()) health["interval"] = options.interval;
  if (!options.timeout.empty()) health["timeout"] = options.timeout;
  if (options.healthy > 0) health["healthyThreshold"] = options.healthy;
  if (options.unhealthy > 0) health["unhealthyThreshold"] = options.unhealthy;
  if (!health.empty()) body["health"] = std::move(health);
  json::object tls;
  if (!options.ca_file.empty()) {
    auto ca = read_file(options.ca_file);
    if (!ca) return report_error(ca.error());
    tls["ca"] = *ca;
  }
  if (!options.server_name.empty()) tls["serverName"] = options.server_name;
  if (!options.spiffe_id.empty()) tls["spiffeId"] = options.spiffe_id;
  if (!tls.empty()) body["tls"] = std::move(tls);
  auto answer = ApiClient(globals.endpoint()).put_json("/api/v1/services/" + url_encode(options.name), body);
  return print_done(answer, globals,
                    fmt::format("service '{}' {} with {} endpoint{}; functions call it at $FN_MESH_URL/svc/{}/",
                                options.name, answer && answer->status == 201 ? "registered" : "updated",
                                options.urls.size(), options.urls.size() == 1 ? "" : "s", options.name));
}

int run_service_list(const GlobalOptions& globals) {
  return print_list(
      ApiClient(globals.endpoint()).get("/api/v1/services"), globals, "services",
      [](const json::array& items) {
        Table table({"NAME", "ENDPOINTS", "AVAILABLE", "HEALTH CHECK", "URLS"});
        for (const auto& item : items) {
          const auto* service = item.if_object();
          if (service == nullptr) continue;
          std::string check = "-";
          if (const auto* health = service->if_contains("health"); health && health->is_object()) {
            const auto& h = health->get_object();
            if (h.contains("path")) check = fmt::format("{} every {}", json_text(h, "path"), json_text(h, "interval"));
          }
          table.add_row({json_text(*service, "name"), json_text(*service, "endpoints"),
                         json_text(*service, "available"), check, joined(*service, "urls")});
        }
        return table;
      },
      "no services registered (fnctl service register NAME --url URL)");
}

int run_service_describe(const std::string& name, const GlobalOptions& globals) {
  auto answer = ApiClient(globals.endpoint()).get("/api/v1/services/" + url_encode(name));
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  const auto* service = answer->body.if_object();
  if (service == nullptr) return report_error(make_error("invalid_answer", "fnd's answer is not an object"));
  fmt::print("service {}\n", name);
  if (const auto* health = service->if_contains("health"); health && health->is_object()) {
    const auto& h = health->get_object();
    if (h.contains("path")) {
      fmt::print("health check: GET {} every {} (timeout {}; healthy after {}, unhealthy after {})\n",
                 json_text(h, "path"), json_text(h, "interval"), json_text(h, "timeout"),
                 json_text(h, "healthyThreshold"), json_text(h, "unhealthyThreshold"));
    } else {
      fmt::print("health check: none (passive ejection only)\n");
    }
  }
  if (const auto* tls = service->if_contains("tls"); tls && tls->is_object()) {
    const auto& t = tls->get_object();
    fmt::print("tls: CA {}, expects {}\n", t.contains("ca") ? "registered" : "system trust store",
               t.contains("spiffeId")     ? "SPIFFE ID " + json_text(t, "spiffeId")
               : t.contains("serverName") ? "name " + json_text(t, "serverName")
                                          : std::string("the URL's host"));
  }
  if (const auto* identity = service->if_contains("clientIdentity"); identity && identity->is_string()) {
    fmt::print("client certificate: {}\n", text_of(identity));
  }
  Table endpoints({"URL", "HEALTHY", "EJECTED", "TIMES EJECTED", "IN FLIGHT", "LAST FAILURE"});
  if (const auto* list = service->if_contains("endpoints"); list && list->is_array()) {
    for (const auto& item : list->get_array()) {
      const auto* e = item.if_object();
      if (e == nullptr) continue;
      std::string ejected = json_text(*e, "ejected");
      if (e->contains("ejectedUntil")) ejected += " until " + json_text(*e, "ejectedUntil");
      endpoints.add_row({json_text(*e, "url"), json_text(*e, "healthy"), ejected, json_text(*e, "timesEjected"),
                         json_text(*e, "inFlight"), e->contains("lastFailure") ? json_text(*e, "lastFailure") : "-"});
    }
  }
  fmt::print("{}", endpoints.render());
  if (const auto* counters = service->if_contains("counters"); counters && counters->is_object()) {
    const auto& c = counters->get_object();
    fmt::print("calls {}, retries {}, retries refused by the budget {}, ejections {}\n", json_text(c, "calls"),
               json_text(c, "retries"), json_text(c, "retryBudgetExhausted"), json_text(c, "ejections"));
  }
  if (const auto* policy = service->if_contains("policy"); policy && policy->is_object()) {
    print_call_policy(policy->get_object());
  }
  return kExitOk;
}

// --- policy -----------------------------------------------------------------------------------

struct PolicySet {
  std::string name;
  std::string timeout;
  int retries = -1;
  std::string eject;  // 5xx:N
  std::string base_ejection;
  int max_ejected_percent = -1;
  bool retry_non_idempotent = false;
};

Result<json::object> policy_body(const PolicySet& options) {
  json::object body;
  if (!options.timeout.empty()) body["timeout"] = options.timeout;
  if (options.retries >= 0) body["retries"] = options.retries;
  if (options.retry_non_idempotent) body["retryNonIdempotent"] = true;
  json::object eject;
  if (!options.eject.empty()) {
    constexpr std::string_view kPrefix = "5xx:";
    const std::string& text = options.eject;
    uint32_t count = 0;
    bool ok = text.starts_with(kPrefix) && text.size() > kPrefix.size() && text.size() < kPrefix.size() + 7 &&
              text.find_first_not_of("0123456789", kPrefix.size()) == std::string::npos;
    if (ok) count = static_cast<uint32_t>(std::stoul(text.substr(kPrefix.size())));
    if (!ok || count == 0) {
      return make_error("usage",
                        fmt::format("--eject '{}' is not 5xx:N (N consecutive 5xx answers eject an endpoint)", text));
    }
    eject["consecutive5xx"] = count;
  }
  if (!options.base_ejection.empty()) eject["baseEjection"] = options.base_ejection;
  if (options.max_ejected_percent >= 0) eject["maxEjectedPercent"] = options.max_ejected_percent;
  if (!eject.empty()) body["eject"] = std::move(eject);
  return body;
}

int run_policy_show(const std::string& name, const GlobalOptions& globals) {
  auto answer = ApiClient(globals.endpoint()).get("/api/v1/policies/" + url_encode(name));
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  fmt::print("{}: ", name);
  if (const auto* policy = answer->body.if_object()) print_call_policy(*policy);
  return kExitOk;
}

// --- authz ------------------------------------------------------------------------------------

struct RuleOptions {
  std::string name;
  std::vector<std::string> from;
  std::string to;
  std::vector<std::string> methods;
  std::vector<std::string> paths;
};

// A name that says what the rule does and differs when the rule does: effect-from-to-hash.
std::string rule_name(std::string_view effect, const RuleOptions& options) {
  std::string from = options.from.size() == 1 ? (options.from[0] == "*" ? "any" : options.from[0]) : "several";
  std::string to = options.to == "*" ? "any" : options.to;
  std::string all = fmt::format("{}|{}|{}|{}|{}", effect, fmt::join(options.from, ","), options.to,
                                fmt::join(options.methods, ","), fmt::join(options.paths, ","));
  std::string name = fmt::format("{}-{}-{}", effect, from, to).substr(0, 56);
  while (name.ends_with('-')) name.pop_back();
  return fmt::format("{}-{:06x}", name, std::hash<std::string>{}(all)&0xffffff);
}

int run_rule_put(std::string_view effect, RuleOptions options, const GlobalOptions& globals) {
  if (options.from.empty()) options.from = {"*"};
  const std::string name = options.name.empty() ? rule_name(effect, options) : options.name;
  json::array from, methods, paths;
  for (const auto& f : options.from) from.emplace_back(f);
  for (const auto& m : options.methods) methods.emplace_back(m);
  for (const auto& p : options.paths) paths.emplace_back(p);
  json::object body{{"effect", effect},
                    {"from", std::move(from)},
                    {"to", options.to},
                    {"methods", std::move(methods)},
                    {"paths", std::move(paths)}};
  auto answer = ApiClient(globals.endpoint()).put_json("/api/v1/authz/rules/" + url_encode(name), body);
  std::string note;
  if (answer) {
    const auto* object = answer->body.if_object();
    if (object && json_text(*object, "enabled") == "false") {
      note = " (authorization is off: set mesh.authorization: on in fnd.yaml for rules to apply)";
    }
  }
  return print_done(
      answer, globals,
      fmt::format("rule '{}': {} {} -> {}{}{}", name, effect, fmt::join(options.from, ","), options.to,
                  options.methods.empty() ? "" : " " + fmt::format("{}", fmt::join(options.methods, ",")), note));
}

int run_rule_list(const GlobalOptions& globals) {
  auto answer = ApiClient(globals.endpoint()).get("/api/v1/authz/rules");
  if (answer && globals.output != OutputFormat::json) {
    const auto* object = answer->body.if_object();
    if (object) fmt::print("authorization is {}\n", json_text(*object, "enabled") == "true" ? "on" : "off");
  }
  return print_list(
      answer, globals, "rules",
      [](const json::array& items) {
        Table table({"NAME", "EFFECT", "FROM", "TO", "METHODS", "PATHS"});
        for (const auto& item : items) {
          const auto* rule = item.if_object();
          if (rule == nullptr) continue;
          std::string methods = joined(*rule, "methods");
          std::string paths = joined(*rule, "paths");
          table.add_row({json_text(*rule, "name"), json_text(*rule, "effect"), joined(*rule, "from"),
                         json_text(*rule, "to"), methods.empty() ? "any" : methods, paths.empty() ? "any" : paths});
        }
        return table;
      },
      "no authorization rules (fnctl authz allow --from A --to B)");
}

void add_rule_options(CLI::App* app, RuleOptions& options) {
  app->add_option("--from", options.from, "calling functions (repeatable, or comma-separated; * for any; default *)")
      ->delimiter(',');
  app->add_option("--to", options.to, "the function or service called (* for any)")->required();
  app->add_option("--methods", options.methods, "HTTP methods (repeatable, or comma-separated; default any)")
      ->delimiter(',');
  app->add_option("--path", options.paths, "path prefixes (repeatable; default any)");
  app->add_option("--name", options.name, "the rule's name (default: made from the rule)");
}

}  // namespace

// "timeout      800ms   (set)" lines of an effective policy.
void print_call_policy(const json::object& policy) {
  const auto* effective = policy.if_contains("effective");
  if (effective == nullptr || !effective->is_object()) return;
  const auto* p99 = policy.if_contains("observedP99");
  fmt::print("call policy (observed p99: {}):\n", p99 && p99->is_string() ? text_of(p99) : "not enough calls yet");
  Table table({"  SETTING", "VALUE", "FROM"});
  for (const auto& [key, item] : effective->get_object()) {
    const auto* field = item.if_object();
    if (field == nullptr) continue;
    table.add_row(
        {"  " + std::string(key), text_of(field->if_contains("value")), text_of(field->if_contains("source"))});
  }
  fmt::print("{}", table.render());
}

Command add_service_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("service",
                                      "External services functions call through the mesh: register, "
                                      "list, describe, delete");
  app->require_subcommand(1);
  auto reg = std::make_shared<ServiceRegister>();
  auto name = std::make_shared<std::string>();
  CLI::App* register_app = app->add_subcommand("register", "Register (or replace) a service by its URLs");
  register_app->add_option("name", reg->name, "the service's name (functions call $FN_MESH_URL/svc/NAME/...)")
      ->required();
  register_app->add_option("--url", reg->urls, "an endpoint: http://HOST:PORT[/PATH] or https://... (repeatable)")
      ->required();
  register_app->add_option("--health", reg->health, "path of the active health check (GET; 2xx/3xx passes)");
  register_app->add_option("--health-interval", reg->interval, "between health checks (default 10s)");
  register_app->add_option("--health-timeout", reg->timeout, "for one health check (default 2s)");
  register_app->add_option("--healthy-threshold", reg->healthy, "passes that bring an endpoint back (default 2)");
  register_app->add_option("--unhealthy-threshold", reg->unhealthy, "failures that take it out (default 3)");
  register_app->add_option("--ca", reg->ca_file, "PEM file of the CA an https service's certificate chains to");
  auto* server_name =
      register_app->add_option("--server-name", reg->server_name, "the DNS name the certificate must carry");
  auto* spiffe = register_app->add_option("--spiffe-id", reg->spiffe_id, "the SPIFFE ID (URI SAN) it must carry");
  server_name->excludes(spiffe);
  CLI::App* list_app = app->add_subcommand("list", "List services with their endpoints and how many are available");
  CLI::App* describe_app = app->add_subcommand("describe", "A service's endpoints, health, ejections and policy");
  describe_app->add_option("name", *name, "the service's name")->required();
  CLI::App* delete_app = app->add_subcommand("delete", "Remove a service from the mesh");
  delete_app->add_option("name", *name, "the service's name")->required();
  return {app, [=, &globals] {
            if (register_app->parsed()) return run_service_register(*reg, globals);
            if (list_app->parsed()) return run_service_list(globals);
            if (describe_app->parsed()) return run_service_describe(*name, globals);
            return print_done(ApiClient(globals.endpoint()).del("/api/v1/services/" + url_encode(*name)), globals,
                              fmt::format("service '{}' deleted", *name));
          }};
}

Command add_policy_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("policy", "Call policies of functions and services in the mesh: set, get, reset");
  app->require_subcommand(1);
  auto set = std::make_shared<PolicySet>();
  auto name = std::make_shared<std::string>();
  CLI::App* set_app = app->add_subcommand("set", "Set a target's timeout, retries and ejection (unset values adapt)");
  set_app->add_option("name", set->name, "a function or service")->required();
  set_app->add_option("--timeout", set->timeout, "per attempt, e.g. 800ms");
  set_app->add_option("--retries", set->retries, "retries after the first attempt")->check(CLI::Range(0, 10));
  set_app->add_option("--eject", set->eject, "5xx:N: N consecutive 5xx (or failed connections) eject an endpoint");
  set_app->add_option("--base-ejection", set->base_ejection, "first ejection's length (default 30s; x times ejected)");
  set_app->add_option("--max-ejected-percent", set->max_ejected_percent, "at most this share ejected at once (50)")
      ->check(CLI::Range(0, 100));
  set_app->add_flag("--retry-non-idempotent", set->retry_non_idempotent, "retry POST and PATCH on 502/503/504 too");
  CLI::App* get_app = app->add_subcommand("get", "The effective policy and where each value comes from");
  get_app->add_option("name", *name, "a function or service")->required();
  CLI::App* reset_app = app->add_subcommand("reset", "Forget what was set: the defaults (and adaptation) apply");
  reset_app->add_option("name", *name, "a function or service")->required();
  return {app, [=, &globals] {
            ApiClient client(globals.endpoint());
            if (set_app->parsed()) {
              auto body = policy_body(*set);
              if (!body) return report_error(body.error());
              auto answer = client.put_json("/api/v1/policies/" + url_encode(set->name), *body);
              if (!answer || globals.output == OutputFormat::json) return print_done(answer, globals, "");
              fmt::print("policy of {} set\n", set->name);
              if (const auto* policy = answer->body.if_object()) print_call_policy(*policy);
              return kExitOk;
            }
            if (get_app->parsed()) return run_policy_show(*name, globals);
            return print_done(client.del("/api/v1/policies/" + url_encode(*name)), globals,
                              fmt::format("policy of {} reset to the defaults", *name));
          }};
}

Command add_authz_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("authz", "Authorization of calls through the mesh: allow, deny, list, delete");
  app->require_subcommand(1);
  auto allow = std::make_shared<RuleOptions>();
  auto deny = std::make_shared<RuleOptions>();
  auto name = std::make_shared<std::string>();
  CLI::App* allow_app =
      app->add_subcommand("allow", "Allow calls (when mesh.authorization is on, only allowed calls go)");
  add_rule_options(allow_app, *allow);
  CLI::App* deny_app = app->add_subcommand("deny", "Deny calls (deny rules win over allow rules)");
  add_rule_options(deny_app, *deny);
  CLI::App* list_app = app->add_subcommand("list", "List the rules and whether authorization is on");
  CLI::App* delete_app = app->add_subcommand("delete", "Delete a rule");
  delete_app->add_option("name", *name, "the rule's name (fnctl authz list)")->required();
  return {app, [=, &globals] {
            if (allow_app->parsed()) return run_rule_put("allow", *allow, globals);
            if (deny_app->parsed()) return run_rule_put("deny", *deny, globals);
            if (list_app->parsed()) return run_rule_list(globals);
            return print_done(ApiClient(globals.endpoint()).del("/api/v1/authz/rules/" + url_encode(*name)), globals,
                              fmt::format("rule '{}' deleted", *name));
          }};
}

}  // namespace fnd::fnctl
