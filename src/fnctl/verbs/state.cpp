// fnctl state get|put|del|ls KEY --function F (or --store S), and the shared stores: fnctl state
// grant STORE FUNCTION..., fnctl state revoke STORE FUNCTION..., fnctl state stores. A thin client
// of /api/v1/state (docs/api.md, "State").
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "core/names.hpp"
#include "fnctl/client.hpp"

namespace fnd::fnctl {

namespace json = boost::json;

namespace {

struct StateArgs {
  std::string function;
  std::string store;
  std::string key;
  std::string value;
  std::string file;
  std::string ttl;
  std::string if_match;
  bool create_only = false;
  std::string prefix;
  std::vector<std::string> functions;
};

Error usage(std::string message) { return make_error("invalid_arguments", std::move(message), 2); }

// "/api/v1/state/functions/F" or "/api/v1/state/stores/S".
Result<std::string> store_path(const StateArgs& args) {
  if (args.function.empty() == args.store.empty()) {
    return usage("name the store: --function NAME (the function's own keys) or --store NAME (a shared store)");
  }
  if (!args.function.empty()) {
    if (Status valid = validate_name("function", args.function); !valid) return valid.error();
    return "/api/v1/state/functions/" + args.function;
  }
  if (Status valid = validate_name("store", args.store); !valid) return valid.error();
  return "/api/v1/state/stores/" + args.store;
}

std::string key_path(const std::string& base, const std::string& key) { return base + "/keys/" + url_encode(key); }

int fail_with(const HttpResponse& response, std::string_view method, const std::string& path) {
  return report_error(error_from_answer(response, method, path));
}

int run_get(const StateArgs& args, const GlobalOptions& globals) {
  auto base = store_path(args);
  if (!base) return report_error(base.error());
  HttpRequest request;
  request.path = key_path(*base, args.key);
  request.timeout = std::chrono::seconds(30);
  auto answer = ApiClient(globals.endpoint()).send(request);
  if (!answer) return report_error(answer.error());
  if (answer->status >= 400) return fail_with(*answer, "GET", request.path);
  if (globals.output == OutputFormat::json) {
    json::object out{{"key", args.key}, {"value", answer->body}};
    if (const auto* etag = answer->header("etag")) out["etag"] = *etag;
    if (const auto* expires = answer->header("x-fnd-expires-at")) out["expiresAt"] = *expires;
    fmt::print("{}", pretty_json(out));
    return kExitOk;
  }
  if (Status written = write_and_flush(stdout, answer->body, "stdout"); !written) return report_error(written.error());
  // At a terminal, the value ends its line and the ETag follows on stderr; piped, the value alone
  // (-o json gives the ETag to scripts).
  if (::isatty(1)) {
    if (!answer->body.empty() && answer->body.back() != '\n') fmt::print("\n");
    if (const auto* etag = answer->header("etag")) fmt::print(stderr, "etag {}\n", *etag);
  }
  return kExitOk;
}

int run_put(const StateArgs& args, const GlobalOptions& globals) {
  auto base = store_path(args);
  if (!base) return report_error(base.error());
  std::string value = args.value;
  if (!args.file.empty()) {
    std::ifstream in(args.file, std::ios::binary);
    if (!in) return report_error(make_error("file_unreadable", fmt::format("cannot read {}", args.file)));
    value.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  HttpRequest request;
  request.method = "PUT";
  request.path = key_path(*base, args.key) + (args.ttl.empty() ? "" : "?ttl=" + url_encode(args.ttl));
  request.body = value;
  request.has_body = true;
  request.timeout = std::chrono::seconds(30);
  request.headers.push_back("Content-Type: application/octet-stream");
  if (!args.if_match.empty()) request.headers.push_back("If-Match: " + args.if_match);
  if (args.create_only) request.headers.push_back("If-None-Match: *");
  auto answer = ApiClient(globals.endpoint()).send(request);
  if (!answer) return report_error(answer.error());
  if (answer->status >= 400) return fail_with(*answer, "PUT", request.path);
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", answer->body);
    return kExitOk;
  }
  const auto* etag = answer->header("etag");
  fmt::print("{} {} (etag {})\n", answer->status == 201 ? "created" : "updated", args.key, etag ? *etag : "-");
  return kExitOk;
}

int run_del(const StateArgs& args, const GlobalOptions& globals) {
  auto base = store_path(args);
  if (!base) return report_error(base.error());
  HttpRequest request;
  request.method = "DELETE";
  request.path = key_path(*base, args.key);
  request.timeout = std::chrono::seconds(30);
  if (!args.if_match.empty()) request.headers.push_back("If-Match: " + args.if_match);
  auto answer = ApiClient(globals.endpoint()).send(request);
  if (!answer) return report_error(answer.error());
  if (answer->status >= 400) return fail_with(*answer, "DELETE", request.path);
  if (globals.output == OutputFormat::json)
    fmt::print("{}", answer->body);
  else
    fmt::print("deleted {}\n", args.key);
  return kExitOk;
}

int run_ls(const StateArgs& args, const GlobalOptions& globals) {
  auto base = store_path(args);
  if (!base) return report_error(base.error());
  ApiClient client(globals.endpoint());
  Table table({"KEY", "SIZE", "ETAG", "EXPIRES"});
  json::array all;
  std::string after;
  while (true) {
    std::string path = *base + "/keys?prefix=" + url_encode(args.prefix) + "&after=" + url_encode(after);
    auto answer = client.get(path);
    if (!answer) return report_error(answer.error());
    const json::object* page = answer->body.if_object();
    if (!page) return report_error(make_error("invalid_answer", "fnd's key list is not a JSON object"));
    if (const auto* keys = page->if_contains("keys"); keys && keys->is_array()) {
      for (const auto& item : keys->get_array()) {
        all.push_back(item);
        if (const auto* info = item.if_object()) {
          table.add_row({json_text(*info, "key"), json_text(*info, "size"), json_text(*info, "etag"),
                         json_text(*info, "expiresAt")});
        }
      }
    }
    const json::value* next = page->if_contains("next");
    if (!next || !next->is_string()) break;
    after = std::string(next->get_string());
  }
  if (globals.output == OutputFormat::json)
    fmt::print("{}", pretty_json(json::object{{"keys", std::move(all)}}));
  else
    fmt::print("{}", table.render());
  return kExitOk;
}

void print_stores(const json::array& stores) {
  Table table({"STORE", "KEYS", "BYTES", "GRANTED"});
  for (const auto& item : stores) {
    if (const auto* info = item.if_object()) {
      std::string granted;
      if (const auto* list = info->if_contains("granted"); list && list->is_array()) {
        for (const auto& fn : list->get_array()) {
          if (fn.is_string()) granted += (granted.empty() ? "" : ", ") + std::string(fn.get_string());
        }
      }
      table.add_row({json_text(*info, "name"), json_text(*info, "keys"), json_text(*info, "bytes"),
                     granted.empty() ? "-" : granted});
    }
  }
  fmt::print("{}", table.render());
}

int run_stores(const GlobalOptions& globals) {
  auto answer = ApiClient(globals.endpoint()).get("/api/v1/state/stores");
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  const auto* body = answer->body.if_object();
  if (body && body->contains("stores") && body->at("stores").is_array()) print_stores(body->at("stores").get_array());
  return kExitOk;
}

// Grants (or revokes) functions on a shared store, creating it on the first grant.
int run_grant(const StateArgs& args, bool grant, const GlobalOptions& globals) {
  if (Status valid = validate_name("store", args.store); !valid) return report_error(valid.error());
  ApiClient client(globals.endpoint());
  const std::string path = "/api/v1/state/stores/" + args.store;
  std::vector<std::string> granted;
  HttpRequest probe;
  probe.path = path;
  probe.timeout = std::chrono::seconds(30);
  auto current = client.send(probe);
  if (!current) return report_error(current.error());
  if (current->status == 200) {
    auto parsed = json::parse(current->body);
    if (const auto* list = parsed.as_object().if_contains("granted"); list && list->is_array()) {
      for (const auto& fn : list->get_array()) granted.emplace_back(fn.as_string());
    }
  } else if (current->status != 404 || !grant) {
    return fail_with(*current, "GET", path);
  }
  for (const auto& fn : args.functions) {
    if (Status valid = validate_name("function", fn); !valid) return report_error(valid.error());
    auto it = std::find(granted.begin(), granted.end(), fn);
    if (grant && it == granted.end()) granted.push_back(fn);
    if (!grant && it != granted.end()) granted.erase(it);
  }
  json::array list;
  for (const auto& fn : granted) list.emplace_back(fn);
  auto answer = client.put_json(path, json::object{{"grants", std::move(list)}});
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  json::array one;
  one.push_back(answer->body);
  print_stores(one);
  return kExitOk;
}

}  // namespace

Command add_state_command(CLI::App& root, const GlobalOptions& globals) {
  auto args = std::make_shared<StateArgs>();
  CLI::App* app = root.add_subcommand("state", "Read and write functions' key/value state and manage shared stores");
  app->require_subcommand(1);
  auto where = [&args](CLI::App* sub) {
    sub->add_option("--function", args->function, "the function whose own keys to use");
    sub->add_option("--store", args->store, "the shared store to use");
  };
  CLI::App* get =
      app->add_subcommand("get", "Print a key's value (at a terminal its ETag follows on stderr; -o json has both)");
  get->add_option("key", args->key, "the key")->required();
  where(get);
  CLI::App* put = app->add_subcommand("put", "Set a key to VALUE (or to the contents of --file)");
  put->add_option("key", args->key, "the key")->required();
  put->add_option("value", args->value, "the value");
  put->add_option("--file", args->file, "read the value from this file");
  put->add_option("--ttl", args->ttl, "expire the key after this long (30s, 5m, 1h)");
  put->add_option("--if-match", args->if_match, "write only if the key's ETag is this (or * : only if it exists)");
  put->add_flag("--create-only", args->create_only, "write only if the key does not exist");
  where(put);
  CLI::App* del = app->add_subcommand("del", "Delete a key");
  del->add_option("key", args->key, "the key")->required();
  del->add_option("--if-match", args->if_match, "delete only if the key's ETag is this");
  where(del);
  CLI::App* ls = app->add_subcommand("ls", "List keys (all, or those starting with PREFIX)");
  ls->add_option("prefix", args->prefix, "only keys starting with this");
  where(ls);
  CLI::App* stores = app->add_subcommand("stores", "List the stores with their usage and grants");
  CLI::App* grant = app->add_subcommand("grant", "Let functions use a shared store (made on first grant)");
  grant->add_option("store", args->store, "the shared store")->required();
  grant->add_option("functions", args->functions, "the functions")->required();
  CLI::App* revoke = app->add_subcommand("revoke", "Take a shared store away from functions");
  revoke->add_option("store", args->store, "the shared store")->required();
  revoke->add_option("functions", args->functions, "the functions")->required();
  return {app, [=, &globals] {
            if (get->parsed()) return run_get(*args, globals);
            if (put->parsed()) {
              if (args->file.empty() && put->count("value") == 0) {
                return report_error(usage("give the value: fnctl state put KEY VALUE, or --file FILE"));
              }
              return run_put(*args, globals);
            }
            if (del->parsed()) return run_del(*args, globals);
            if (ls->parsed()) return run_ls(*args, globals);
            if (stores->parsed()) return run_stores(globals);
            if (grant->parsed()) return run_grant(*args, true, globals);
            return run_grant(*args, false, globals);
          }};
}

}  // namespace fnd::fnctl
