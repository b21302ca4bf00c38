#include "mesh/authorization.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

#include "core/names.hpp"

namespace fnd::mesh {

namespace {

constexpr std::string_view kAny = "*";

Error invalid(std::string message) { return make_error(std::string(kInvalidRule), std::move(message), 422); }

std::string label(const AuthorizationRule& rule, size_t position) {
  return rule.name.empty() ? fmt::format("rule #{}", position) : fmt::format("rule '{}'", rule.name);
}

// A path with no "." or ".." segment, starting with '/': what a prefix can be matched against
// without being dodged ("/public/../admin").
bool normalized(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(start, end - start);
    if (segment == "." || segment == "..") return false;
    start = end + 1;
  }
  return true;
}

bool prefix_matches(std::string_view prefix, std::string_view path) {
  if (!path.starts_with(prefix)) return false;
  return prefix.ends_with('/') || path.size() == prefix.size() || path[prefix.size()] == '/';
}

bool matches(const AuthorizationRule& rule, std::string_view caller, std::string_view target, std::string_view method,
             std::string_view path) {
  bool from =
      std::any_of(rule.from.begin(), rule.from.end(), [&](const std::string& f) { return f == kAny || f == caller; });
  bool to = rule.to == kAny || rule.to == target;
  bool by_method =
      rule.methods.empty() || std::find(rule.methods.begin(), rule.methods.end(), method) != rule.methods.end();
  bool by_path =
      rule.path_prefixes.empty() || std::any_of(rule.path_prefixes.begin(), rule.path_prefixes.end(),
                                                [&](const std::string& p) { return prefix_matches(p, path); });
  return from && to && by_method && by_path;
}

}  // namespace

std::string_view to_string(RuleEffect effect) { return effect == RuleEffect::deny ? "deny" : "allow"; }

Status validate(const AuthorizationRule& rule, size_t position) {
  std::string which = label(rule, position);
  if (!rule.name.empty()) {
    if (auto ok = validate_name("rule", rule.name); !ok) return invalid(ok.error().message);
  }
  if (rule.from.empty()) {
    return invalid(fmt::format("{} has no 'from'; list the calling functions, or \"*\" for any caller", which));
  }
  bool any = std::find(rule.from.begin(), rule.from.end(), kAny) != rule.from.end();
  if (any && rule.from.size() > 1) {
    return invalid(
        fmt::format("{} lists \"*\" with other callers in 'from'; \"*\" already means any caller, "
                    "so remove the others or the \"*\"",
                    which));
  }
  if (!any) {
    for (const auto& caller : rule.from) {
      if (auto ok = validate_name("caller", caller); !ok) {
        return invalid(fmt::format("{}: {}", which, ok.error().message));
      }
    }
  }
  if (rule.to.empty()) {
    return invalid(fmt::format("{} has no 'to'; name the function or service called, or \"*\" for any", which));
  }
  if (rule.to != kAny) {
    if (auto ok = validate_name("target", rule.to); !ok)
      return invalid(fmt::format("{}: {}", which, ok.error().message));
  }
  for (const auto& method : rule.methods) {
    bool upper =
        !method.empty() && std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    if (!upper) {
      std::string hint = method;
      std::transform(hint.begin(), hint.end(), hint.begin(),
                     [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; });
      return invalid(fmt::format("{} has method '{}'; methods are upper case letters, such as '{}'", which, method,
                                 hint.empty() ? std::string("GET") : hint));
    }
  }
  for (const auto& prefix : rule.path_prefixes) {
    if (!normalized(prefix) || prefix.find_first_of("?#") != std::string::npos) {
      return invalid(
          fmt::format("{} has path prefix '{}'; a prefix starts with '/' and holds no '.' or '..' "
                      "segment, '?' or '#', such as '/orders'",
                      which, prefix));
    }
  }
  return {};
}

Result<AuthorizationPolicy> AuthorizationPolicy::create(bool enabled, std::vector<AuthorizationRule> rules) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < rules.size(); ++i) {
    if (auto ok = validate(rules[i], i + 1); !ok) return ok.error();
    if (!rules[i].name.empty() && !names.insert(rules[i].name).second) {
      return invalid(fmt::format("two rules are named '{}'; give each rule its own name", rules[i].name));
    }
  }
  return AuthorizationPolicy(enabled, std::move(rules));
}

AuthorizationPolicy::Decision AuthorizationPolicy::check(std::string_view caller, std::string_view target,
                                                         std::string_view method, std::string_view path) const {
  if (!enabled_) return {true, "authorization is off: every call is allowed"};
  if (!normalized(path)) {
    return {false,
            fmt::format("'{}' may not call '{}' at path '{}': the path is not normalized", caller, target, path)};
  }
  const AuthorizationRule* allowed_by = nullptr;
  size_t allowed_position = 0;
  for (size_t i = 0; i < rules_.size(); ++i) {
    const auto& rule = rules_[i];
    if (!matches(rule, caller, target, method, path)) continue;
    if (rule.effect == RuleEffect::deny) {
      return {false, fmt::format("'{}' may not call '{}' ({} {}): denied by {}", caller, target, method, path,
                                 label(rule, i + 1))};
    }
    if (!allowed_by) {
      allowed_by = &rule;
      allowed_position = i + 1;
    }
  }
  if (allowed_by) {
    return {true, fmt::format("'{}' may call '{}' ({} {}): allowed by {}", caller, target, method, path,
                              label(*allowed_by, allowed_position))};
  }
  return {false, fmt::format("no rule allows '{}' to call '{}' ({} {}); add an allow rule for it", caller, target,
                             method, path)};
}

}  // namespace fnd::mesh
