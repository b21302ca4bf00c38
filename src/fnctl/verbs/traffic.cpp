// fnctl traffic show|set|tag|untag|clear NAME: how a function's calls split across its revisions
// (canary, blue-green, instant rollback) and which tags name which revision
// (/function/NAME@TAG). A thin client of /api/v1/functions/NAME/traffic.
#include <fmt/format.h>

#include <boost/json.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "commands.hpp"
#include "core/names.hpp"
#include "fnctl/client.hpp"

namespace fnd::fnctl {

namespace json = boost::json;

namespace {

Error usage(std::string message) { return make_error("invalid_arguments", std::move(message), 2); }

// "r4" or "4" -> "4" (the API's key); empty when it is not a revision.
std::string revision_key(std::string_view text) {
  if (text.starts_with('r')) text.remove_prefix(1);
  if (text.empty() || text.front() == '0' || text.size() > 9) return {};
  for (char c : text) {
    if (c < '0' || c > '9') return {};
  }
  return std::string(text);
}

std::string object_revision(const json::value& value) {
  if (value.is_int64()) return std::to_string(value.get_int64());
  if (value.is_uint64()) return std::to_string(value.get_uint64());
  if (value.is_string()) return revision_key(value.get_string());
  return {};
}

// The traffic the API holds now: {"split": ..., "tags": ...}, the part a PUT sends back.
Result<json::object> current_traffic(const ApiClient& client, const std::string& name) {
  auto answer = client.get(function_api_path(name, "/traffic"));
  if (!answer) return answer.error();
  const json::object* body = answer->body.if_object();
  if (!body) return make_error("invalid_answer", fmt::format("fnd's traffic of {} is not a JSON object", name));
  json::object out;
  out["split"] = body->contains("split") ? body->at("split") : json::value(nullptr);
  out["tags"] = body->contains("tags") && body->at("tags").is_object() ? body->at("tags") : json::object{};
  return out;
}

void print_traffic(const json::object& traffic) {
  std::map<uint64_t, std::string> percent;
  std::map<uint64_t, std::vector<std::string>> tags;
  std::set<uint64_t> revisions;
  if (const auto* effective = traffic.if_contains("effective"); effective && effective->is_array()) {
    for (const auto& item : effective->get_array()) {
      if (const auto* weight = item.if_object()) {
        auto revision = std::stoull(object_revision(weight->at("revision")));
        percent[revision] = json_text(*weight, "percent") + "%";
        revisions.insert(revision);
      }
    }
  }
  if (const auto* named = traffic.if_contains("tags"); named && named->is_object()) {
    for (const auto& [tag, revision] : named->get_object()) {
      if (auto key = object_revision(revision); !key.empty()) {
        tags[std::stoull(key)].emplace_back(tag);
        revisions.insert(std::stoull(key));
      }
    }
  }
  if (const auto* served = traffic.if_contains("served"); served && served->is_array()) {
    for (const auto& item : served->get_array()) {
      if (auto key = object_revision(item); !key.empty()) revisions.insert(std::stoull(key));
    }
  }
  const bool follows_latest = !traffic.contains("split") || traffic.at("split").is_null();
  fmt::print("Function: {} (latest revision {}; {})\n", json_text(traffic, "name"), json_text(traffic, "latest"),
             follows_latest ? "every call goes to the latest revision" : "split across revisions");
  Table table({"REVISION", "TRAFFIC", "TAGS"});
  for (uint64_t revision : revisions) {
    std::string names;
    for (const auto& tag : tags[revision]) names += (names.empty() ? "" : ", ") + tag;
    table.add_row({fmt::format("r{}", revision), percent.contains(revision) ? percent[revision] : "0%",
                   names.empty() ? "-" : names});
  }
  fmt::print("{}", table.render());
}

int put_and_show(const ApiClient& client, const std::string& name, const json::object& traffic,
                 const GlobalOptions& globals) {
  auto answer = client.put_json(function_api_path(name, "/traffic"), traffic);
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  if (const auto* body = answer->body.if_object()) print_traffic(*body);
  return kExitOk;
}

int run_show(const std::string& name, const GlobalOptions& globals) {
  if (Status valid = validate_name("function", name); !valid) return report_error(valid.error());
  auto answer = ApiClient(globals.endpoint()).get(function_api_path(name, "/traffic"));
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  if (const auto* body = answer->body.if_object()) print_traffic(*body);
  return kExitOk;
}

int run_set(const std::string& name, const std::vector<std::string>& weights, const GlobalOptions& globals) {
  if (Status valid = validate_name("function", name); !valid) return report_error(valid.error());
  json::value split = nullptr;
  if (!(weights.size() == 1 && weights.front() == "latest")) {
    json::object percents;
    for (const auto& weight : weights) {
      const auto eq = weight.find('=');
      std::string key = revision_key(std::string_view(weight).substr(0, eq));
      int percent = -1;
      if (eq != std::string::npos) {
        try {
          percent = std::stoi(weight.substr(eq + 1));
        } catch (const std::exception&) {
          percent = -1;
        }
      }
      if (key.empty() || percent < 0) {
        return report_error(
            usage(fmt::format("'{}' is not REVISION=PERCENT: write e.g. r3=90 r4=10, or 'latest' for "
                              "every call to the latest revision",
                              weight)));
      }
      percents[key] = percent;
    }
    split = std::move(percents);
  }
  ApiClient client(globals.endpoint());
  auto traffic = current_traffic(client, name);
  if (!traffic) return report_error(traffic.error());
  (*traffic)["split"] = std::move(split);
  return put_and_show(client, name, *traffic, globals);
}

int run_tag(const std::string& name, const std::string& revision, const std::string& tag, bool remove,
            const GlobalOptions& globals) {
  if (Status valid = validate_name("function", name); !valid) return report_error(valid.error());
  ApiClient client(globals.endpoint());
  auto traffic = current_traffic(client, name);
  if (!traffic) return report_error(traffic.error());
  json::object& tags = (*traffic)["tags"].as_object();
  if (remove) {
    if (!tags.contains(tag))
      return report_error(make_error("tag_not_found", fmt::format("function {} has no tag '{}'", name, tag)));
    tags.erase(tag);
  } else {
    std::string key = revision_key(revision);
    if (key.empty()) return report_error(usage(fmt::format("'{}' is not a revision: write it r4 or 4", revision)));
    tags[tag] = std::stoull(key);
  }
  return put_and_show(client, name, *traffic, globals);
}

int run_clear(const std::string& name, const GlobalOptions& globals) {
  if (Status valid = validate_name("function", name); !valid) return report_error(valid.error());
  auto answer = ApiClient(globals.endpoint()).del(function_api_path(name, "/traffic"));
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  if (const auto* body = answer->body.if_object()) print_traffic(*body);
  return kExitOk;
}

}  // namespace

Command add_traffic_command(CLI::App& root, const GlobalOptions& globals) {
  struct Args {
    std::string name;
    std::vector<std::string> weights;
    std::string revision;
    std::string tag;
  };
  auto args = std::make_shared<Args>();
  CLI::App* app = root.add_subcommand("traffic", "Split a function's calls across its revisions and tag revisions");
  app->require_subcommand(1);
  CLI::App* show = app->add_subcommand("show", "Show the split and the tags (fnctl describe shows them too)");
  show->add_option("name", args->name, "the function")->required();
  CLI::App* set = app->add_subcommand(
      "set",
      "Split calls by weight, e.g. r3=90 r4=10 (a canary), r3=100 (a rollback, at once), or 'latest' (every "
      "call to the latest revision, as after a first deploy). Tags are kept");
  set->add_option("name", args->name, "the function")->required();
  set->add_option("weights", args->weights, "REVISION=PERCENT ... summing to 100, or latest")->required();
  CLI::App* tag = app->add_subcommand("tag", "Name a revision: NAME@TAG in /function/NAME@TAG or Fn-Revision: TAG");
  tag->add_option("name", args->name, "the function")->required();
  tag->add_option("revision", args->revision, "the revision, r4 or 4")->required();
  tag->add_option("tag", args->tag, "the tag, e.g. canary")->required();
  CLI::App* untag = app->add_subcommand("untag", "Remove a tag");
  untag->add_option("name", args->name, "the function")->required();
  untag->add_option("tag", args->tag, "the tag")->required();
  CLI::App* clear = app->add_subcommand("clear", "Remove the split and every tag: all calls to the latest revision");
  clear->add_option("name", args->name, "the function")->required();
  return {app, [=, &globals] {
            if (show->parsed()) return run_show(args->name, globals);
            if (set->parsed()) return run_set(args->name, args->weights, globals);
            if (tag->parsed()) return run_tag(args->name, args->revision, args->tag, false, globals);
            if (untag->parsed()) return run_tag(args->name, {}, args->tag, true, globals);
            return run_clear(args->name, globals);
          }};
}

}  // namespace fnd::fnctl
