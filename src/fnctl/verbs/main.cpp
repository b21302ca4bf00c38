// fnctl: the command-line client of fnd's REST API. This file only wires the verbs together.
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "fnctl/client.hpp"
#include "commands.hpp"

namespace {

constexpr const char* kDefaultUrl = "http://127.0.0.1:8080";
constexpr const char* kDefaultSocket = "/run/fnd/api.sock";

}  // namespace

namespace fnd::fnctl {

Endpoint GlobalOptions::endpoint() const {
  Endpoint endpoint;
  endpoint.token = token;
  endpoint.cacert = cacert;
  if (!url.empty()) {
    endpoint.url = url;
  } else if (!socket.empty() && ::access(socket.c_str(), R_OK | W_OK) == 0) {
    endpoint.url = "http://localhost";
    endpoint.unix_socket = socket;
  } else {
    endpoint.url = kDefaultUrl;
  }
  return endpoint;
}

}  // namespace fnd::fnctl

int main(int argc, char** argv) {
  using namespace fnd::fnctl;

  CLI::App app{"fnctl: deploy, invoke and inspect functions on an fnd server"};
  app.require_subcommand(1);
  // Lets global options follow the verb too: `fnctl list -o json`.
  app.fallthrough();

  GlobalOptions globals{.socket = kDefaultSocket};
  app.add_option("--url", globals.url, "fnd's address, e.g. https://host:8443 (default: the local socket when this user "
                                       "may use it, else http://127.0.0.1:8080)")
      ->envname("FNCTL_URL");
  app.add_option("--socket", globals.socket, "fnd's local management socket (root and the fnd-admin group need no token there)")
      ->envname("FNCTL_SOCKET")
      ->capture_default_str();
  app.add_option("--token", globals.token, "API token for --url (fnctl token create makes one)")->envname("FNCTL_TOKEN");
  app.add_option("--cacert", globals.cacert, "CA certificate (PEM) an https fnd's certificate must chain to")
      ->envname("FNCTL_CACERT");
  std::string output = "table";
  app.add_option("-o,--output", output, "how to print answers")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();

  std::vector<Command> commands = {
      add_deploy_command(app, globals),   add_invoke_command(app, globals),  add_list_command(app, globals),
      add_describe_command(app, globals), add_logs_command(app, globals),    add_delete_command(app, globals),
      add_version_command(app, globals),  add_admin_command(app, globals),   add_token_command(app, globals),
      add_secret_command(app, globals),   add_audit_command(app, globals),   add_event_command(app, globals),
      add_broker_command(app, globals),   add_trigger_command(app, globals), add_invocation_command(app, globals),
      add_traffic_command(app, globals),  add_state_command(app, globals), add_source_command(app, globals),
      add_service_command(app, globals), add_policy_command(app, globals), add_authz_command(app, globals),
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
