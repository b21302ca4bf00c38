#include "config/function_spec.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "yaml_json.hpp"
#include "core/names.hpp"
#include "core/units.hpp"

namespace fnd::config {

namespace json = boost::json;

std::string_view to_string(RuntimeKind kind) {
  switch (kind) {
    case RuntimeKind::python3: return "python3";
    case RuntimeKind::node: return "node";
    case RuntimeKind::shell: return "shell";
    case RuntimeKind::binary: return "binary";
  }
  return "unknown";
}

namespace {

constexpr uint64_t kMaxMemoryBytes = 1ULL << 40;  // 1Ti: sanity; the deploy checks the host's own memory
constexpr double kMaxDurationSeconds = 366.0 * 24 * 3600;
constexpr std::chrono::milliseconds kMaxKeepAlive = std::chrono::hours(24 * 7);
constexpr size_t kMaxHandlerBytes = 4096;
constexpr size_t kMaxEnvEntryBytes = 128 * 1024;  // MAX_ARG_STRLEN: one "NAME=value" string
constexpr size_t kMaxEnvBytes = 256 * 1024;
constexpr size_t kMaxEnvVariables = 1000;

Error field_error(std::string_view field, std::string_view problem) {
  return make_error("invalid_spec", fmt::format("spec field '{}': {}", field, problem), 422);
}

std::string_view kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "a list";
    case json::kind::object: return "a map";
  }
  return "?";
}

Result<std::string> read_string(const json::value& v, std::string_view field) {
  if (!v.is_string()) return field_error(field, fmt::format("expected a string, got {}", kind_name(v)));
  return std::string(v.as_string());
}

Result<double> read_number(const json::value& v, std::string_view field) {
  double d = 0;
  if (v.is_int64()) {
    d = static_cast<double>(v.as_int64());
  } else if (v.is_uint64()) {
    d = static_cast<double>(v.as_uint64());
  } else if (v.is_double()) {
    d = v.as_double();
  } else if (v.is_string()) {
    std::string_view text = v.as_string();
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
      return field_error(field, fmt::format("'{}' is not a number", text));
  } else {
    return field_error(field, fmt::format("expected a number, got {}", kind_name(v)));
  }
  // NaN and infinities are not JSON: accepted, they would make the stored spec unreadable.
  if (!std::isfinite(d)) return field_error(field, "expected a finite number");
  return d;
}

Result<uint32_t> read_count(const json::value& v, std::string_view field, uint32_t min, uint32_t max) {
  auto n = read_number(v, field);
  if (!n) return n.error();
  if (*n != std::floor(*n) || *n < min || *n > max)
    return field_error(field, fmt::format("expected a whole number from {} to {}", min, max));
  return static_cast<uint32_t>(*n);
}

Result<std::chrono::milliseconds> read_duration(const json::value& v, std::string_view field) {
  if (v.is_number()) {
    auto n = read_number(v, field);
    if (!n) return n.error();
    if (*n < 0 || *n > kMaxDurationSeconds) return field_error(field, "expected a number of seconds from 0 to 1 year");
    return std::chrono::milliseconds(static_cast<int64_t>(*n * 1000));
  }
  auto s = read_string(v, field);
  if (!s) return s.error();
  auto d = parse_duration(*s);
  if (!d) return field_error(field, d.error().message);
  return *d;
}

// Applies `apply(key, value)` to each member; unknown keys are errors naming the full path.
template <typename Apply>
Status for_each_member(const json::value& v, std::string_view path, std::initializer_list<std::string_view> known,
                       Apply apply) {
  if (!v.is_object()) return field_error(path.empty() ? "<spec>" : path, fmt::format("expected a map, got {}", kind_name(v)));
  for (const auto& [key, value] : v.as_object()) {
    std::string full = path.empty() ? std::string(key) : fmt::format("{}.{}", path, std::string_view(key));
    if (std::find(known.begin(), known.end(), std::string_view(key)) == known.end()) {
      return field_error(full, fmt::format("unknown field; known fields here are: {}", fmt::join(known, ", ")));
    }
    if (value.is_null()) continue;
    Status st = apply(std::string_view(key), value, full);
    if (!st) return st;
  }
  return {};
}

// Env reaches the function through execve (and a stem cell's control message): what the kernel
// would refuse there is refused here, at deploy, naming the variable.
Status read_env(const json::object& object, std::map<std::string, std::string>& out) {
  size_t total = 0;
  for (const auto& [k, ev] : object) {
    std::string name(k);
    std::string field = fmt::format("env.{}", name);
    if (name.empty() || name.find('=') != std::string::npos || name.find('\0') != std::string::npos)
      return field_error(field, "environment variable names must be non-empty and contain neither '=' nor a NUL byte");
    std::string value;
    if (ev.is_string()) value = std::string(ev.as_string());
    else if (ev.is_structured() || ev.is_null()) return field_error(field, "expected a string or a number");
    else if (ev.is_double() && !std::isfinite(ev.as_double())) return field_error(field, "expected a finite number");
    else value = json::serialize(ev);
    if (value.find('\0') != std::string::npos) return field_error(field, "must not contain a NUL byte (the kernel cannot pass it)");
    size_t entry = name.size() + 1 + value.size();
    if (entry >= kMaxEnvEntryBytes)
      return field_error(field, fmt::format("is {} bytes; one variable may be at most {} (the kernel's limit)", entry,
                                            kMaxEnvEntryBytes - 1));
    total += entry + 1;
    if (total > kMaxEnvBytes)
      return field_error(field, fmt::format("brings the environment over {} in all; pass large data as code or a file",
                                            format_bytes(kMaxEnvBytes)));
    out[name] = std::move(value);
  }
  if (out.size() > kMaxEnvVariables) return field_error("env", fmt::format("at most {} variables", kMaxEnvVariables));
  return {};
}

Status read_resources(const json::value& v, ResourceLimits& out) {
  return for_each_member(v, "resources", {"memory", "cpu", "pids"}, [&](std::string_view key, const json::value& val, const std::string& f) -> Status {
    if (key == "memory") {
      uint64_t bytes = 0;
      if (val.is_number()) {
        auto n = read_number(val, f);
        if (!n) return n.error();
        if (*n < 0 || *n > static_cast<double>(kMaxMemoryBytes)) return field_error(f, "expected a size such as 128Mi");
        bytes = static_cast<uint64_t>(*n);
      } else {
        auto s = read_string(val, f);
        if (!s) return s.error();
        auto b = parse_bytes(*s);
        if (!b) return field_error(f, b.error().message);
        bytes = *b;
      }
      if (bytes < (6ULL << 20)) return field_error(f, "must be at least 6Mi (the runtime itself needs that much)");
      if (bytes > kMaxMemoryBytes) return field_error(f, fmt::format("{} is more memory than any host fnd runs on", format_bytes(bytes)));
      out.memory_bytes = bytes;
    } else if (key == "cpu") {
      auto n = read_number(val, f);
      if (!n) return n.error();
      if (*n < 0 || *n > 1024) return field_error(f, "expected a number of cores such as 0.5 or 2 (0 = no limit)");
      out.cpu = *n;
    } else {
      auto n = read_count(val, f, 1, 1 << 20);
      if (!n) return n.error();
      out.pids = *n;
    }
    return {};
  });
}

Status read_scale(const json::value& v, ScaleSettings& out) {
  Status st = for_each_member(v, "scale", {"concurrency", "target", "min", "max", "keepAlive"}, [&](std::string_view key, const json::value& val, const std::string& f) -> Status {
    if (key == "keepAlive") {
      auto d = read_duration(val, f);
      if (!d) return d.error();
      if (*d > kMaxKeepAlive) return field_error(f, "must be at most 7 days (168h); use scale.min to keep instances always");
      out.keep_alive = *d;
      return {};
    }
    if (key == "target") {
      auto n = read_number(val, f);
      if (!n) return n.error();
      if (*n < 0 || *n > 10000) return field_error(f, "expected requests per instance from 0.1 to 10000 (0 = 70% of concurrency)");
      out.target = *n;
      return {};
    }
    auto n = read_count(val, f, key == "min" ? 0 : 1, 10000);
    if (!n) return n.error();
    (key == "concurrency" ? out.concurrency : key == "min" ? out.min : out.max) = *n;
    return {};
  });
  if (!st) return st;
  if (out.min > out.max) return field_error("scale.min", fmt::format("{} is above scale.max ({})", out.min, out.max));
  if (out.target > out.concurrency) return field_error("scale.target", fmt::format("{} is above scale.concurrency ({}), the hard cap", out.target, out.concurrency));
  return {};
}

Status read_secrets(const json::value& v, std::vector<std::string>& out) {
  if (!v.is_array()) return field_error("secrets", fmt::format("expected a list of secret names, got {}", kind_name(v)));
  const auto& list = v.as_array();
  if (list.size() > kMaxSecretsPerFunction) {
    return field_error("secrets", fmt::format("at most {} secrets per function", kMaxSecretsPerFunction));
  }
  for (size_t i = 0; i < list.size(); ++i) {
    std::string field = fmt::format("secrets[{}]", i);
    auto name = read_string(list[i], field);
    if (!name) return name.error();
    if (auto valid = validate_name("secret", *name); !valid) return field_error(field, valid.error().message);
    if (std::find(out.begin(), out.end(), *name) != out.end()) return field_error(field, fmt::format("'{}' is listed twice", *name));
    out.push_back(*name);
  }
  return {};
}

}  // namespace

std::string_view to_string(Access access) { return access == Access::token ? "token" : "public"; }

std::string_view to_string(SeccompProfile profile) {
  return profile == SeccompProfile::unconfined ? "unconfined" : "default";
}

Result<FunctionSpec> spec_from_json(const json::value& v) {
  FunctionSpec spec;
  bool has_handler = false;
  Status st = for_each_member(
      v, "", {"name", "runtime", "handler", "code", "env", "timeout", "resources", "scale", "access", "public", "secrets", "security"},
      [&](std::string_view key, const json::value& val, const std::string& f) -> Status {
        if (key == "name" || key == "handler" || key == "code" || key == "runtime") {
          auto s = read_string(val, f);
          if (!s) return s.error();
          if (s->find('\0') != std::string::npos) return field_error(f, "must not contain a NUL byte");
          if (key == "name") {
            if (auto valid = validate_name("function", *s); !valid) return field_error(f, valid.error().message);
            spec.name = *s;
          } else if (key == "handler") {
            if (s->empty()) return field_error(f, "must not be empty");
            if (s->size() > kMaxHandlerBytes) return field_error(f, fmt::format("must be at most {} bytes", kMaxHandlerBytes));
            spec.handler = *s;
            has_handler = true;
          } else if (key == "code") {
            bool hex = s->size() == 71 && s->starts_with("sha256:") &&
                       std::all_of(s->begin() + 7, s->end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
            if (!hex) return field_error(f, "expected a code digest 'sha256:<64 hex digits>' as returned by the code upload");
            spec.code = *s;
          } else if (*s == "python3") {
            spec.runtime = RuntimeKind::python3;
          } else if (*s == "node") {
            spec.runtime = RuntimeKind::node;
          } else if (*s == "shell") {
            spec.runtime = RuntimeKind::shell;
          } else if (*s == "binary") {
            spec.runtime = RuntimeKind::binary;
          } else {
            return field_error(f, fmt::format("unknown runtime '{}'; available runtimes: python3, node, shell, binary", *s));
          }
        } else if (key == "env") {
          if (!val.is_object()) return field_error(f, fmt::format("expected a map of names to values, got {}", kind_name(val)));
          return read_env(val.as_object(), spec.env);
        } else if (key == "timeout") {
          auto d = read_duration(val, f);
          if (!d) return d.error();
          if (d->count() < 1 || *d > std::chrono::hours(1)) return field_error(f, "must be between 1ms and 1h");
          spec.timeout = *d;
        } else if (key == "resources") {
          return read_resources(val, spec.resources);
        } else if (key == "access") {
          auto s = read_string(val, f);
          if (!s) return s.error();
          if (*s == "public") spec.access = Access::public_;
          else if (*s == "token") spec.access = Access::token;
          else return field_error(f, fmt::format("'{}' is not an access mode; use public (anyone who reaches the gateway) "
                                                 "or token (an invoker token for this function)", *s));
        } else if (key == "public") {
          if (!val.is_bool()) return field_error(f, "must be true (reachable from the gateway) or false (only through the mesh)");
          spec.is_public = val.get_bool();
        } else if (key == "secrets") {
          return read_secrets(val, spec.secrets);
        } else if (key == "security") {
          return for_each_member(val, "security", {"seccomp"}, [&](std::string_view, const json::value& member,
                                                                   const std::string& field) -> Status {
            auto s = read_string(member, field);
            if (!s) return s.error();
            if (*s == "default") spec.seccomp = SeccompProfile::default_;
            else if (*s == "unconfined") spec.seccomp = SeccompProfile::unconfined;
            else return field_error(field, fmt::format("'{}' is not a seccomp profile; use default or unconfined", *s));
            return {};
          });
        } else {
          return read_scale(val, spec.scale);
        }
        return {};
      });
  if (!st) return st.error();
  if (!v.as_object().contains("runtime")) return field_error("runtime", "required; one of python3, node, shell, binary");
  if (!has_handler) {
    std::string_view example = spec.runtime == RuntimeKind::python3 ? "main.handle (module.function)"
                               : spec.runtime == RuntimeKind::node  ? "index.handle (file.export)"
                               : spec.runtime == RuntimeKind::shell ? "a command such as 'cat' or './run.sh'"
                                                                    : "the executable's path in the code, such as ./server";
    return field_error("handler", fmt::format("required for runtime {}: e.g. {}", to_string(spec.runtime), example));
  }
  if (spec.runtime == RuntimeKind::python3 || spec.runtime == RuntimeKind::node) {
    auto dot = spec.handler.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == spec.handler.size()) {
      return field_error("handler", spec.runtime == RuntimeKind::python3
                                        ? fmt::format("'{}' is not module.function (e.g. main.handle)", spec.handler)
                                        : fmt::format("'{}' is not file.export (e.g. index.handle)", spec.handler));
    }
  }
  return spec;
}

Status check_spec_limits(const FunctionSpec& spec, const SpecLimits& limits) {
  const uint64_t memory = spec.resources.memory_bytes;
  if (limits.host_memory_bytes > 0 && memory > limits.host_memory_bytes) {
    return field_error("resources.memory", fmt::format("{} is more than this host's memory ({})", format_bytes(memory),
                                                       format_bytes(limits.host_memory_bytes)));
  }
  if (limits.memory_budget_bytes > 0 && memory > limits.memory_budget_bytes) {
    return field_error("resources.memory", fmt::format("{} is more than the whole instance memory budget ({}, "
                                                       "scheduler.memory_budget): no instance could ever start",
                                                       format_bytes(memory), format_bytes(limits.memory_budget_bytes)));
  }
  if (spec.scale.max > limits.max_scale) {
    return field_error("scale.max", fmt::format("{} is above this fnd's ceiling of {} instances per function "
                                                "(limits.max_scale)", spec.scale.max, limits.max_scale));
  }
  if (spec.scale.min > limits.max_scale) {
    return field_error("scale.min", fmt::format("{} is above this fnd's ceiling of {} instances per function "
                                                "(limits.max_scale)", spec.scale.min, limits.max_scale));
  }
  return {};
}

Result<FunctionSpec> spec_from_yaml(std::string_view yaml_text) {
  auto json_value = internal::yaml_to_json(yaml_text);
  if (!json_value) return make_error("invalid_spec", json_value.error().message, 400);
  return spec_from_json(*json_value);
}

namespace {

// The canonical form must read back as the same number of bytes; format_bytes rounds for people
// ("95.4Mi" for 100M), so a size it cannot show exactly is written in bytes.
std::string exact_bytes(uint64_t bytes) {
  std::string shown = format_bytes(bytes);
  auto back = parse_bytes(shown);
  return back && *back == bytes ? shown : std::to_string(bytes);
}

}  // namespace

json::object spec_to_json(const FunctionSpec& spec) {
  json::object env;
  for (const auto& [k, v] : spec.env) env[k] = v;
  json::object out;
  if (!spec.name.empty()) out["name"] = spec.name;
  out["runtime"] = to_string(spec.runtime);
  out["handler"] = spec.handler;
  if (!spec.code.empty()) out["code"] = spec.code;
  out["env"] = std::move(env);
  out["timeout"] = format_duration(spec.timeout);
  out["resources"] = json::object{{"memory", exact_bytes(spec.resources.memory_bytes)},
                                  {"cpu", spec.resources.cpu},
                                  {"pids", spec.resources.pids}};
  out["scale"] = json::object{{"concurrency", spec.scale.concurrency},
                              {"target", spec.scale.target},
                              {"min", spec.scale.min},
                              {"max", spec.scale.max},
                              {"keepAlive", format_duration(spec.scale.keep_alive)}};
  out["access"] = to_string(spec.access);
  if (!spec.is_public) out["public"] = false;  // written only when not the default, so older specs read the same
  json::array secrets;
  for (const auto& name : spec.secrets) secrets.emplace_back(name);
  out["secrets"] = std::move(secrets);
  out["security"] = json::object{{"seccomp", to_string(spec.seccomp)}};
  return out;
}

std::string spec_to_json_text(const FunctionSpec& spec) { return json::serialize(spec_to_json(spec)); }

}  // namespace fnd::config
