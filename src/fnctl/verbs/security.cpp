// fnctl token, secret and audit: API tokens (create, list, revoke), secrets (create, list,
// delete: values go in, never come out) and the audit log.
#include <boost/json.hpp>
#include <fmt/format.h>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "listing.hpp"
#include "core/base64.hpp"
#include "fnctl/client.hpp"
#include "fnctl/input.hpp"

namespace fnd::fnctl {

namespace json = boost::json;

namespace {

struct TokenCreate {
  std::string name;
  std::string role = "reader";
  std::vector<std::string> functions;
  std::string expires;
};

int run_token_create(const TokenCreate& options, const GlobalOptions& globals) {
  json::object body{{"name", options.name}, {"role", options.role}};
  json::array functions;
  for (const auto& pattern : options.functions) functions.emplace_back(pattern);
  body["functions"] = std::move(functions);
  if (!options.expires.empty()) body["expires"] = options.expires;
  auto answer = ApiClient(globals.endpoint()).post_json("/api/v1/tokens", body);
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  const auto* object = answer->body.if_object();
  const auto* secret = object ? object->if_contains("secret") : nullptr;
  if (secret == nullptr || !secret->is_string()) {
    return report_error(make_error("invalid_answer", "fnd's answer holds no token; is fnd up to date?"));
  }
  // The token on stdout alone, so that `TOKEN=$(fnctl token create ...)` works; the rest on stderr.
  fmt::print("{}\n", std::string_view(secret->get_string()));
  fmt::print(stderr, "token '{}' ({}) created; it is shown only this once: keep it somewhere safe\n", options.name,
             options.role);
  return kExitOk;
}

int run_token_list(const GlobalOptions& globals) {
  SystemTime now = std::chrono::system_clock::now();
  return print_list(ApiClient(globals.endpoint()).get("/api/v1/tokens"), globals, "tokens", [&](const json::array& items) {
    Table table({"NAME", "ROLE", "FUNCTIONS", "CREATED", "EXPIRES", "STATE"});
    for (const auto& item : items) {
      const auto* token = item.if_object();
      if (token == nullptr) continue;
      std::string functions = joined(*token, "functions");
      std::string state = token->contains("revoked_at") ? "revoked" : "active";
      table.add_row({json_text(*token, "name"), json_text(*token, "role"), functions.empty() ? "*" : functions,
                     format_age(json_text(*token, "created_at"), now),
                     token->contains("expires_at") ? json_text(*token, "expires_at") : "never", state});
    }
    return table;
  }, "no tokens yet; create one with: fnctl token create NAME --role deployer");
}

int run_token_revoke(const std::string& name, const GlobalOptions& globals) {
  auto answer = ApiClient(globals.endpoint()).del("/api/v1/tokens/" + url_encode(name));
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) fmt::print("{}", pretty_json(answer->body));
  else fmt::print("token '{}' revoked\n", name);
  return kExitOk;
}

struct SecretCreate {
  std::string name;
  std::vector<std::string> literals;  // KEY=VALUE
  std::vector<std::string> files;     // KEY=PATH
};

int run_secret_create(const SecretCreate& options, const GlobalOptions& globals) {
  json::object data;
  auto split = [](const std::string& pair) -> std::optional<std::pair<std::string, std::string>> {
    auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) return std::nullopt;
    return std::make_pair(pair.substr(0, eq), pair.substr(eq + 1));
  };
  for (const auto& literal : options.literals) {
    auto kv = split(literal);
    if (!kv) return report_error(make_error("usage", fmt::format("--from-literal '{}' is not KEY=VALUE", literal)));
    data[kv->first] = base64_encode(kv->second);
  }
  for (const auto& file : options.files) {
    auto kv = split(file);
    if (!kv) return report_error(make_error("usage", fmt::format("--from-file '{}' is not KEY=PATH", file)));
    auto content = read_file(kv->second);
    if (!content) return report_error(content.error());
    data[kv->first] = base64_encode(*content);
  }
  if (data.empty()) {
    return report_error(make_error("usage", "a secret needs at least one value: --from-literal KEY=VALUE or "
                                            "--from-file KEY=PATH"));
  }
  json::object body{{"data", std::move(data)}};
  auto answer = ApiClient(globals.endpoint()).put_json("/api/v1/secrets/" + url_encode(options.name), body);
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) fmt::print("{}", pretty_json(answer->body));
  else fmt::print("secret '{}' stored (functions that use it are rolled to read it)\n", options.name);
  return kExitOk;
}

int run_secret_list(const GlobalOptions& globals) {
  SystemTime now = std::chrono::system_clock::now();
  return print_list(ApiClient(globals.endpoint()).get("/api/v1/secrets"), globals, "secrets", [&](const json::array& items) {
    Table table({"NAME", "KEYS", "VERSION", "UPDATED"});
    for (const auto& item : items) {
      const auto* secret = item.if_object();
      if (secret == nullptr) continue;
      table.add_row({json_text(*secret, "name"), joined(*secret, "keys"), json_text(*secret, "version"),
                     format_age(json_text(*secret, "updated_at"), now)});
    }
    return table;
  }, "no secrets yet; create one with: fnctl secret create NAME --from-literal KEY=VALUE");
}

int run_secret_delete(const std::string& name, const GlobalOptions& globals) {
  auto answer = ApiClient(globals.endpoint()).del("/api/v1/secrets/" + url_encode(name));
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) fmt::print("{}", pretty_json(answer->body));
  else fmt::print("secret '{}' deleted\n", name);
  return kExitOk;
}

struct AuditOptions {
  std::string since;
  std::string actor;
  std::string action;
  unsigned limit = 100;
};

int run_audit(const AuditOptions& options, const GlobalOptions& globals) {
  std::string path = fmt::format("/api/v1/audit?limit={}", options.limit);
  if (!options.since.empty()) path += "&since=" + url_encode(options.since);
  if (!options.actor.empty()) path += "&actor=" + url_encode(options.actor);
  if (!options.action.empty()) path += "&action=" + url_encode(options.action);
  return print_list(ApiClient(globals.endpoint()).get(path), globals, "entries", [](const json::array& items) {
    Table table({"TIME", "ACTOR", "ACTION", "TARGET", "RESULT", "DETAIL"});
    for (const auto& item : items) {
      const auto* entry = item.if_object();
      if (entry == nullptr) continue;
      table.add_row({json_text(*entry, "time"), json_text(*entry, "actor"), json_text(*entry, "action"),
                     json_text(*entry, "target"), json_text(*entry, "result"), json_text(*entry, "detail")});
    }
    return table;
  }, "no audit entries in that period");
}

}  // namespace

Command add_token_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("token", "API tokens: create (shown once), list, revoke");
  app->require_subcommand(1);
  auto create = std::make_shared<TokenCreate>();
  auto revoke_name = std::make_shared<std::string>();
  CLI::App* create_app = app->add_subcommand("create", "Create a token and print it (only this once)");
  create_app->add_option("name", create->name, "the token's name (a DNS label)")->required();
  create_app->add_option("--role", create->role, "admin, deployer, invoker or reader")
      ->check(CLI::IsMember({"admin", "deployer", "invoker", "reader"}))
      ->capture_default_str();
  create_app->add_option("--functions", create->functions, "function name patterns it may act on ('shop-*'); default all")
      ->delimiter(',');
  create_app->add_option("--expires", create->expires, "lifetime (30d, 12h) or an RFC 3339 time; default never");
  CLI::App* list_app = app->add_subcommand("list", "List tokens (never their values)");
  CLI::App* revoke_app = app->add_subcommand("revoke", "Revoke a token: it stops working at once");
  revoke_app->add_option("name", *revoke_name, "the token's name")->required();
  return {app, [=, &globals] {
            if (create_app->parsed()) return run_token_create(*create, globals);
            if (list_app->parsed()) return run_token_list(globals);
            return run_token_revoke(*revoke_name, globals);
          }};
}

Command add_secret_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("secret", "Secrets delivered to functions as files: create, list, delete");
  app->require_subcommand(1);
  auto create = std::make_shared<SecretCreate>();
  auto delete_name = std::make_shared<std::string>();
  CLI::App* create_app = app->add_subcommand("create", "Create or replace a secret (functions using it are rolled)");
  create_app->add_option("name", create->name, "the secret's name (a DNS label)")->required();
  create_app->add_option("--from-literal", create->literals, "KEY=VALUE (repeatable)");
  create_app->add_option("--from-file", create->files, "KEY=PATH: the file's bytes (repeatable)");
  CLI::App* list_app = app->add_subcommand("list", "List secrets: names and keys, never values");
  CLI::App* delete_app = app->add_subcommand("delete", "Delete a secret");
  delete_app->add_option("name", *delete_name, "the secret's name")->required();
  return {app, [=, &globals] {
            if (create_app->parsed()) return run_secret_create(*create, globals);
            if (list_app->parsed()) return run_secret_list(globals);
            return run_secret_delete(*delete_name, globals);
          }};
}

Command add_audit_command(CLI::App& root, const GlobalOptions& globals) {
  auto options = std::make_shared<AuditOptions>();
  CLI::App* app = root.add_subcommand("audit", "Who changed what, newest first");
  app->add_option("--since", options->since, "how far back: a duration (1h, 7d is 168h) or an RFC 3339 time");
  app->add_option("--actor", options->actor, "only this actor (token:NAME or uid:N)");
  app->add_option("--action", options->action, "only this action (function.deploy, secret.put, ...)");
  app->add_option("--limit", options->limit, "at most this many entries")->check(CLI::Range(1, 10000))->capture_default_str();
  return {app, [options, &globals] { return run_audit(*options, globals); }};
}

}  // namespace fnd::fnctl
