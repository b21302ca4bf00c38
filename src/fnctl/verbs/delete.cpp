// fnctl delete NAME: stops the function's instances and removes it with all its revisions.
#include <fmt/format.h>

#include "core/names.hpp"
#include "fnctl/client.hpp"
#include "commands.hpp"

namespace fnd::fnctl {

namespace {

int run_delete(const std::string& name, const GlobalOptions& globals) {
  if (Status valid = validate_name("function", name); !valid) return report_error(valid.error());
  auto answer = ApiClient(globals.endpoint()).del(function_api_path(name));
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  const auto* object = answer->body.if_object();
  std::string stopped = object ? json_text(*object, "stopped_instances") : "-";
  fmt::print("deleted {} (stopped {} instance{})\n", name, stopped, stopped == "1" ? "" : "s");
  return kExitOk;
}

}  // namespace

Command add_delete_command(CLI::App& root, const GlobalOptions& globals) {
  auto name = std::make_shared<std::string>();
  CLI::App* app = root.add_subcommand("delete", "Delete a function, its revisions and its instances");
  app->add_option("name", *name, "the function")->required();
  return {app, [name, &globals] { return run_delete(*name, globals); }};
}

}  // namespace fnd::fnctl
