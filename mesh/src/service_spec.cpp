#include "mesh/service_spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <cctype>
#include <charconv>
#include <optional>
#include <utility>

#include "core/names.hpp"
#include "core/units.hpp"

namespace fnd::mesh {

namespace json = boost::json;

namespace {

Error invalid(std::string message) { return make_error(std::string(kInvalidService), std::move(message), 422); }
Error invalid_policy(std::string message) {
  return make_error(std::string(kInvalidCallPolicy), std::move(message), 422);
}
Error invalid_rule(std::string message) { return make_error(std::string(kInvalidRule), std::move(message), 422); }

// A JSON field read as a string, a duration or a count; `fail` makes the domain's error.
using Fail = Error (*)(std::string);

Result<std::optional<std::string>> string_field(const json::object& object, std::string_view key, Fail fail) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || value->is_null()) return std::optional<std::string>();
  if (!value->is_string()) return fail(fmt::format("'{}' must be a string", key));
  return std::optional<std::string>(std::string(value->get_string()));
}

Result<std::optional<std::chrono::milliseconds>> duration_field(const json::object& object, std::string_view key,
                                                                Fail fail) {
  auto text = string_field(object, key, fail);
  if (!text) return text.error();
  if (!*text) return std::optional<std::chrono::milliseconds>();
  auto parsed = parse_duration(**text);
  if (!parsed) return fail(fmt::format("'{}' is '{}': {}", key, **text, parsed.error().message));
  return std::optional<std::chrono::milliseconds>(*parsed);
}

Result<std::optional<uint32_t>> count_field(const json::object& object, std::string_view key, Fail fail) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || value->is_null()) return std::optional<uint32_t>();
  if (value->is_int64() && value->get_int64() >= 0 && value->get_int64() <= 1'000'000)
    return std::optional<uint32_t>(static_cast<uint32_t>(value->get_int64()));
  if (value->is_uint64() && value->get_uint64() <= 1'000'000)
    return std::optional<uint32_t>(static_cast<uint32_t>(value->get_uint64()));
  return fail(fmt::format("'{}' must be a whole number from 0 to 1000000", key));
}

Result<std::vector<std::string>> string_list(const json::object& object, std::string_view key, Fail fail) {
  std::vector<std::string> out;
  const json::value* value = object.if_contains(key);
  if (value == nullptr || value->is_null()) return out;
  if (value->is_string()) {
    out.emplace_back(value->get_string());
    return out;
  }
  if (!value->is_array()) return fail(fmt::format("'{}' must be a list of strings", key));
  for (const auto& item : value->get_array()) {
    if (!item.is_string()) return fail(fmt::format("'{}' must be a list of strings", key));
    out.emplace_back(item.get_string());
  }
  return out;
}

json::array to_array(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

// The body's "name" against the path's.
Result<std::string> resolve_name(const json::object& body, std::string_view name, Fail fail) {
  auto named = string_field(body, "name", fail);
  if (!named) return named.error();
  if (*named && **named != name) {
    return fail(fmt::format("the body names '{}' but the path '{}'; make them the same", **named, name));
  }
  return std::string(name);
}

}  // namespace

Result<ServiceUrl> parse_service_url(std::string_view text) {
  ServiceUrl url;
  auto fail = [&](std::string_view why) {
    return invalid(fmt::format("service URL '{}' {}; write http://HOST[:PORT][/PATH] or https://...", text, why));
  };
  std::string_view rest;
  if (text.starts_with("http://")) {
    rest = text.substr(7);
  } else if (text.starts_with("https://")) {
    url.tls = true;
    rest = text.substr(8);
  } else {
    return fail("is neither http nor https");
  }
  while (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find_first_of("?#@ \t\r\n") != std::string_view::npos) {
    return fail("has user info, a query, a fragment or blanks");
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) url.base_path = std::string(rest.substr(slash));
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("has an unclosed '['");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return fail("has something after the address");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) return fail("has no host");
  url.port = url.tls ? 443 : 80;
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      return fail("has a port that is not 1-65535");
    }
    url.port = static_cast<uint16_t>(port);
  }
  url.text = fmt::format("{}://{}", url.tls ? "https" : "http", rest);
  return url;
}

Result<ServiceSpec> parse_service_spec(const json::value& body, std::string_view name) {
  if (Status valid = validate_name("service", name); !valid) return invalid(valid.error().message);
  const json::object* object = body.if_object();
  if (object == nullptr) return invalid("a service is a JSON object: {\"urls\": [\"https://HOST:PORT\"], ...}");
  ServiceSpec spec;
  auto resolved = resolve_name(*object, name, invalid);
  if (!resolved) return resolved.error();
  spec.name = std::move(*resolved);
  auto urls = string_list(*object, "urls", invalid);
  if (!urls) return urls.error();
  if (urls->empty()) return invalid(fmt::format("service '{}' has no URLs; give one or more in \"urls\"", name));
  if (urls->size() > kMaxServiceUrls) {
    return invalid(
        fmt::format("service '{}' has {} URLs; at most {} are allowed", name, urls->size(), kMaxServiceUrls));
  }
  for (const auto& text : *urls) {
    auto url = parse_service_url(text);
    if (!url) return url.error();
    for (const auto& known : spec.urls) {
      if (known.text == url->text) return invalid(fmt::format("service '{}' lists {} twice", name, url->text));
    }
    spec.urls.push_back(std::move(*url));
  }
  if (const json::value* health = object->if_contains("health"); health != nullptr && !health->is_null()) {
    const json::object* h = health->if_object();
    if (h == nullptr) return invalid("'health' must be an object: {\"path\": \"/healthz\", \"interval\": \"10s\"}");
    auto path = string_field(*h, "path", invalid);
    if (!path) return path.error();
    if (*path && (!(*path)->starts_with('/') || (*path)->find_first_of(" \r\n\t") != std::string::npos)) {
      return invalid(fmt::format("health path '{}' must start with '/' and hold no blanks", **path));
    }
    spec.health.path = path->value_or("");
    auto interval = duration_field(*h, "interval", invalid);
    if (!interval) return interval.error();
    if (*interval) spec.health.interval = **interval;
    auto timeout = duration_field(*h, "timeout", invalid);
    if (!timeout) return timeout.error();
    if (*timeout) spec.health.timeout = **timeout;
    auto healthy = count_field(*h, "healthyThreshold", invalid);
    if (!healthy) return healthy.error();
    if (*healthy) spec.health.healthy_threshold = **healthy;
    auto unhealthy = count_field(*h, "unhealthyThreshold", invalid);
    if (!unhealthy) return unhealthy.error();
    if (*unhealthy) spec.health.unhealthy_threshold = **unhealthy;
    if (spec.health.interval < std::chrono::milliseconds(100)) {
      return invalid("health interval must be 100ms or more");
    }
    if (spec.health.timeout.count() <= 0 || spec.health.timeout > spec.health.interval) {
      return invalid("health timeout must be above 0 and at most the interval");
    }
    if (spec.health.healthy_threshold == 0 || spec.health.unhealthy_threshold == 0) {
      return invalid("health thresholds must be 1 or more");
    }
  }
  if (const json::value* tls = object->if_contains("tls"); tls != nullptr && !tls->is_null()) {
    const json::object* t = tls->if_object();
    if (t == nullptr) return invalid("'tls' must be an object: {\"ca\": PEM, \"serverName\" or \"spiffeId\"}");
    auto ca = string_field(*t, "ca", invalid);
    if (!ca) return ca.error();
    spec.ca_pem = ca->value_or("");
    if (!spec.ca_pem.empty() && spec.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return invalid("tls.ca must hold PEM certificates (-----BEGIN CERTIFICATE-----)");
    }
    auto server_name = string_field(*t, "serverName", invalid);
    if (!server_name) return server_name.error();
    spec.server_name = server_name->value_or("");
    auto spiffe = string_field(*t, "spiffeId", invalid);
    if (!spiffe) return spiffe.error();
    spec.spiffe_id = spiffe->value_or("");
    if (!spec.spiffe_id.empty() && !spec.spiffe_id.starts_with("spiffe://")) {
      return invalid(fmt::format("tls.spiffeId '{}' must start with spiffe://", spec.spiffe_id));
    }
    if (!spec.spiffe_id.empty() && !spec.server_name.empty()) {
      return invalid("give tls.serverName or tls.spiffeId, not both");
    }
  }
  return spec;
}

json::object service_spec_to_json(const ServiceSpec& spec) {
  json::array urls;
  for (const auto& url : spec.urls) urls.emplace_back(url.text);
  json::object out{{"name", spec.name}, {"urls", std::move(urls)}};
  json::object health{{"interval", format_duration(spec.health.interval)},
                      {"timeout", format_duration(spec.health.timeout)},
                      {"healthyThreshold", spec.health.healthy_threshold},
                      {"unhealthyThreshold", spec.health.unhealthy_threshold}};
  if (!spec.health.path.empty()) health["path"] = spec.health.path;
  out["health"] = std::move(health);
  json::object tls;
  if (!spec.ca_pem.empty()) tls["ca"] = spec.ca_pem;
  if (!spec.server_name.empty()) tls["serverName"] = spec.server_name;
  if (!spec.spiffe_id.empty()) tls["spiffeId"] = spec.spiffe_id;
  if (!tls.empty()) out["tls"] = std::move(tls);
  return out;
}

Result<CallPolicyOverrides> parse_call_policy(const json::value& body) {
  const json::object* object = body.if_object();
  if (object == nullptr)
    return invalid_policy("a call policy is a JSON object: {\"timeout\": \"800ms\", \"retries\": 2}");
  CallPolicyOverrides out;
  auto timeout = duration_field(*object, "timeout", invalid_policy);
  if (!timeout) return timeout.error();
  out.timeout = *timeout;
  auto retries = count_field(*object, "retries", invalid_policy);
  if (!retries) return retries.error();
  out.retries = *retries;
  if (const json::value* v = object->if_contains("retryNonIdempotent"); v != nullptr && !v->is_null()) {
    if (!v->is_bool()) return invalid_policy("'retryNonIdempotent' must be true or false");
    out.retry_non_idempotent = v->get_bool();
  }
  if (const json::value* eject = object->if_contains("eject"); eject != nullptr && !eject->is_null()) {
    const json::object* e = eject->if_object();
    if (e == nullptr) return invalid_policy("'eject' must be an object: {\"consecutive5xx\": 5}");
    auto consecutive = count_field(*e, "consecutive5xx", invalid_policy);
    if (!consecutive) return consecutive.error();
    out.eject_consecutive_5xx = *consecutive;
    auto base = duration_field(*e, "baseEjection", invalid_policy);
    if (!base) return base.error();
    out.base_ejection = *base;
    auto percent = count_field(*e, "maxEjectedPercent", invalid_policy);
    if (!percent) return percent.error();
    out.max_ejected_percent = *percent;
  }
  if (Status valid = validate(out); !valid) return valid.error();
  return out;
}

json::object call_policy_to_json(const CallPolicyOverrides& o) {
  json::object out;
  if (o.timeout) out["timeout"] = format_duration(*o.timeout);
  if (o.retries) out["retries"] = *o.retries;
  if (o.retry_non_idempotent) out["retryNonIdempotent"] = *o.retry_non_idempotent;
  json::object eject;
  if (o.eject_consecutive_5xx) eject["consecutive5xx"] = *o.eject_consecutive_5xx;
  if (o.base_ejection) eject["baseEjection"] = format_duration(*o.base_ejection);
  if (o.max_ejected_percent) eject["maxEjectedPercent"] = *o.max_ejected_percent;
  if (!eject.empty()) out["eject"] = std::move(eject);
  return out;
}

json::object effective_policy_to_json(const CallPolicy& p) {
  auto field = [](json::value value, PolicySource source) {
    return json::object{{"value", std::move(value)}, {"source", to_string(source)}};
  };
  return {{"timeout", field(json::value(format_duration(p.timeout.value)), p.timeout.source)},
          {"retries", field(json::value(p.retries.value), p.retries.source)},
          {"retryNonIdempotent", field(json::value(p.retry_non_idempotent.value), p.retry_non_idempotent.source)},
          {"ejectConsecutive5xx", field(json::value(p.eject_consecutive_5xx.value), p.eject_consecutive_5xx.source)},
          {"baseEjection", field(json::value(format_duration(p.base_ejection.value)), p.base_ejection.source)},
          {"maxEjectedPercent", field(json::value(p.max_ejected_percent.value), p.max_ejected_percent.source)}};
}

Result<AuthorizationRule> parse_authz_rule(const json::value& body, std::string_view name) {
  const json::object* object = body.if_object();
  if (object == nullptr) {
    return invalid_rule(
        "a rule is a JSON object: {\"effect\": \"allow\", \"from\": [\"checkout\"], \"to\": \"pricing\"}");
  }
  AuthorizationRule rule;
  auto resolved = resolve_name(*object, name, invalid_rule);
  if (!resolved) return resolved.error();
  rule.name = std::move(*resolved);
  auto effect = string_field(*object, "effect", invalid_rule);
  if (!effect) return effect.error();
  if (!*effect || **effect == "allow") {
    rule.effect = RuleEffect::allow;
  } else if (**effect == "deny") {
    rule.effect = RuleEffect::deny;
  } else {
    return invalid_rule(fmt::format("rule '{}': effect '{}' is neither allow nor deny", name, **effect));
  }
  auto from = string_list(*object, "from", invalid_rule);
  if (!from) return from.error();
  rule.from = std::move(*from);
  auto to = string_field(*object, "to", invalid_rule);
  if (!to) return to.error();
  rule.to = to->value_or("");
  auto methods = string_list(*object, "methods", invalid_rule);
  if (!methods) return methods.error();
  rule.methods = std::move(*methods);
  auto paths = string_list(*object, "paths", invalid_rule);
  if (!paths) return paths.error();
  rule.path_prefixes = std::move(*paths);
  if (rule.to.empty())
    return invalid_rule(fmt::format("rule '{}' has no \"to\": name a function, a service or *", name));
  if (Status valid = validate(rule, 1); !valid) return valid.error();
  return rule;
}

json::object authz_rule_to_json(const AuthorizationRule& rule) {
  return {{"name", rule.name}, {"effect", to_string(rule.effect)},  {"from", to_array(rule.from)},
          {"to", rule.to},     {"methods", to_array(rule.methods)}, {"paths", to_array(rule.path_prefixes)}};
}

}  // namespace fnd::mesh
