// fnctl: the command-line client of fnd's REST API. This file only wires the verbs together.
#include <cstdlib>
#include <string>
#include <vector>

#include "fnctl/client.hpp"
#include "commands.hpp"

namespace {

constexpr const char* kDefaultUrl = "http://127.0.0.1:8080";

}  // namespace

int main(int argc, char** argv) {
  using namespace fnd::fnctl;

  CLI::App app{"fnctl: deploy, invoke and inspect functions on an fnd server"};
  app.require_subcommand(1);
  // Lets global options follow the verb too: `fnctl list -o json`.
  app.fallthrough();

  GlobalOptions globals{.url = kDefaultUrl};
  app.add_option("--url", globals.url, "fnd's address")->envname("FNCTL_URL")->capture_default_str();
  std::string output = "table";
  app.add_option("-o,--output", output, "how to print answers")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();

  std::vector<Command> commands = {
      add_deploy_command(app, globals), add_invoke_command(app, globals),   add_list_command(app, globals),
      add_describe_command(app, globals), add_logs_command(app, globals), add_delete_command(app, globals),
      add_version_command(app, globals), add_admin_command(app, globals),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a ParseError with exit code 0; everything else is a usage error.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  globals.output = output == "json" ? OutputFormat::json : OutputFormat::table;

  CurlLibrary curl;
  for (const auto& command : commands) {
    if (app.got_subcommand(command.app)) return command.run();
  }
  return kExitUsage;  // unreachable: require_subcommand(1) rejected the command line already
}
