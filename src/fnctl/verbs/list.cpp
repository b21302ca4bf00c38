// fnctl list: one line per function.
#include <boost/json.hpp>
#include <fmt/format.h>

#include "fnctl/client.hpp"
#include "commands.hpp"

namespace fnd::fnctl {

namespace json = boost::json;

namespace {

Table functions_table(const json::array& functions, SystemTime now) {
  Table table({"NAME", "REVISION", "RUNTIME", "HANDLER", "INSTANCES", "UPDATED"});
  for (const auto& item : functions) {
    const auto* function = item.if_object();
    if (function == nullptr) continue;
    table.add_row({json_text(*function, "name"), json_text(*function, "revision"), json_text(*function, "runtime"),
                   json_text(*function, "handler"), json_text(*function, "instances"),
                   format_age(json_text(*function, "updated_at"), now)});
  }
  return table;
}

int run_list(const GlobalOptions& globals) {
  auto answer = ApiClient(globals.endpoint()).get("/api/v1/functions");
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  const auto* object = answer->body.if_object();
  const auto* functions = object ? object->if_contains("functions") : nullptr;
  if (functions == nullptr || !functions->is_array()) {
    return report_error(make_error("invalid_answer", "fnd's function list has no 'functions' array; is fnd up to date?"));
  }
  Table table = functions_table(functions->get_array(), std::chrono::system_clock::now());
  if (table.empty()) {
    fmt::print(stderr, "no functions yet; deploy one with: fnctl deploy DIR\n");
    return kExitOk;
  }
  fmt::print("{}", table.render());
  return kExitOk;
}

}  // namespace

Command add_list_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("list", "List the deployed functions");
  return {app, [&globals] { return run_list(globals); }};
}

}  // namespace fnd::fnctl
