// fnctl describe NAME: the function's current spec, its traffic split and tags, its revisions and
// its running instances.
#include <boost/json.hpp>
#include <fmt/format.h>

#include "core/names.hpp"
#include "fnctl/client.hpp"
#include "commands.hpp"

namespace fnd::fnctl {

namespace json = boost::json;

namespace {

constexpr size_t kShortDigestHex = 12;

const json::object& member_object(const json::object& object, std::string_view key) {
  static const json::object kEmpty;
  const auto* value = object.if_contains(key);
  return value && value->is_object() ? value->get_object() : kEmpty;
}

const json::array& member_array(const json::object& object, std::string_view key) {
  static const json::array kEmpty;
  const auto* value = object.if_contains(key);
  return value && value->is_array() ? value->get_array() : kEmpty;
}

// "sha256:0123456789ab": enough to tell revisions apart, short enough for a table.
std::string short_digest(const std::string& digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (!digest.starts_with(kPrefix)) return digest;
  return digest.substr(0, kPrefix.size() + kShortDigestHex);
}

std::string with_age(const std::string& time, SystemTime now) {
  if (time == "-") return time;
  return fmt::format("{} ({})", time, format_age(time, now));
}

double number_of(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  return v && v->is_number() ? v->to_number<double>() : 0.0;
}

void print_spec(const json::object& function, SystemTime now) {
  const json::object& spec = member_object(function, "spec");
  const json::object& resources = member_object(spec, "resources");
  const json::object& scale = member_object(spec, "scale");
  std::string cpu = json_text(resources, "cpu");
  fmt::print("Name:       {}\n", json_text(function, "name"));
  fmt::print("Revision:   {}\n", json_text(function, "revision"));
  fmt::print("Runtime:    {}\n", json_text(spec, "runtime"));
  fmt::print("Handler:    {}\n", json_text(spec, "handler"));
  fmt::print("Code:       {}\n", short_digest(json_text(spec, "code")));
  fmt::print("Timeout:    {}\n", json_text(spec, "timeout"));
  fmt::print("Resources:  memory {}, cpu {}, pids {}\n", json_text(resources, "memory"),
             cpu == "0" ? "no limit" : cpu, json_text(resources, "pids"));
  fmt::print("Scale:      concurrency {}, target {}, min {}, max {}, keepAlive {}\n", json_text(scale, "concurrency"),
             json_text(scale, "target") == "0" ? "auto" : json_text(scale, "target"), json_text(scale, "min"),
             json_text(scale, "max"), json_text(scale, "keepAlive"));
  const json::object& scaling = member_object(function, "scaling");
  if (!scaling.empty()) {
    fmt::print("Scaling:    {} running, {} starting, desired {} ({} mode; demand {:.1f} over 60s, {:.1f} over 6s)\n",
               json_text(scaling, "current"), json_text(scaling, "starting"), json_text(scaling, "desired"),
               json_text(scaling, "mode"), number_of(scaling, "stable_demand"), number_of(scaling, "panic_demand"));
    fmt::print("Keep-alive: {}, pre-warm {} ({})\n", json_text(scaling, "keep_alive"), json_text(scaling, "prewarm"),
               json_text(scaling, "keep_alive_reason"));
    fmt::print("Cold starts: {} (last {:.1f} ms, mean {:.1f} ms)\n", json_text(scaling, "cold_starts"),
               number_of(scaling, "last_cold_start_ms"), number_of(scaling, "mean_cold_start_ms"));
  }
  const json::object& env = member_object(spec, "env");
  if (env.empty()) fmt::print("Env:        -\n");
  bool first = true;
  for (const auto& [key, value] : env) {
    fmt::print("{}{}={}\n", first ? "Env:        " : "            ", std::string_view(key),
               json_text(env, key));
    first = false;
  }
  fmt::print("Created:    {}\n", with_age(json_text(function, "created_at"), now));
  fmt::print("Updated:    {}\n", with_age(json_text(function, "updated_at"), now));
}

// "r3 90%, r4 10% (split); tags: canary=r4", or "r4 100% (the latest revision)".
void print_traffic(const json::object& function) {
  const json::object& traffic = member_object(function, "traffic");
  if (traffic.empty()) return;
  std::string weights;
  for (const auto& item : member_array(traffic, "effective")) {
    if (const auto* weight = item.if_object()) {
      weights += fmt::format("{}r{} {}%", weights.empty() ? "" : ", ", json_text(*weight, "revision"),
                             json_text(*weight, "percent"));
    }
  }
  const json::value* split = traffic.if_contains("split");
  weights += split && !split->is_null() ? " (split)" : " (the latest revision)";
  std::string tags;
  const json::object& named = member_object(traffic, "tags");
  for (const auto& entry : named) {
    tags +=
        fmt::format("{}{}=r{}", tags.empty() ? "" : ", ", std::string_view(entry.key()), json_text(named, entry.key()));
  }
  fmt::print("Traffic:    {}{}\n", weights, tags.empty() ? "" : "; tags: " + tags);
}

void print_revisions(const json::array& revisions, SystemTime now) {
  Table table({"REVISION", "CODE", "CREATED"});
  for (const auto& item : revisions) {
    if (const auto* revision = item.if_object()) {
      table.add_row({json_text(*revision, "revision"), short_digest(json_text(*revision, "code")),
                     format_age(json_text(*revision, "created_at"), now)});
    }
  }
  fmt::print("\nRevisions:\n{}", table.render());
}

void print_instances(const json::array& instances, SystemTime now) {
  Table table({"ID", "STATE", "IN-FLIGHT", "PID", "ORIGIN", "STARTED", "LAST-USED"});
  for (const auto& item : instances) {
    if (const auto* instance = item.if_object()) {
      table.add_row({json_text(*instance, "id"), json_text(*instance, "state"), json_text(*instance, "in_flight"),
                     json_text(*instance, "pid"), json_text(*instance, "origin"), format_age(json_text(*instance, "started_at"), now),
                     format_age(json_text(*instance, "last_used_at"), now)});
    }
  }
  if (table.empty()) {
    fmt::print("\nInstances:  none (the next invocation starts one)\n");
    return;
  }
  fmt::print("\nInstances:\n{}", table.render());
}

int run_describe(const std::string& name, const GlobalOptions& globals) {
  if (Status valid = validate_name("function", name); !valid) return report_error(valid.error());
  auto answer = ApiClient(globals.endpoint()).get(function_api_path(name));
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  const auto* function = answer->body.if_object();
  if (function == nullptr) {
    return report_error(make_error("invalid_answer", fmt::format("fnd's description of {} is not a JSON object", name)));
  }
  auto now = std::chrono::system_clock::now();
  print_spec(*function, now);
  print_traffic(*function);
  print_revisions(member_array(*function, "revisions"), now);
  print_instances(member_array(*function, "instances"), now);
  // Older fnd (no mesh API) or a token without mesh.read: the rest of describe stands.
  if (auto policy = ApiClient(globals.endpoint()).get("/api/v1/policies/" + name); policy && policy->body.is_object()) {
    fmt::print("\nMesh ");
    print_call_policy(policy->body.get_object());
  }
  return kExitOk;
}

}  // namespace

Command add_describe_command(CLI::App& root, const GlobalOptions& globals) {
  auto name = std::make_shared<std::string>();
  CLI::App* app = root.add_subcommand("describe", "Show a function's spec, revisions and instances");
  app->add_option("name", *name, "the function")->required();
  return {app, [name, &globals] { return run_describe(*name, globals); }};
}

}  // namespace fnd::fnctl
