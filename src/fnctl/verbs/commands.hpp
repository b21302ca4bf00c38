// fnctl's verbs. Each verb file adds its subcommand to the root app and returns the action that
// runs it; main() parses the command line, then runs the chosen action and exits with its code
// (kExitOk, kExitFailure, kExitUsage from output.hpp).
#pragma once

#include <CLI/CLI.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <string>

#include "fnctl/client.hpp"
#include "fnctl/output.hpp"

namespace fnd::fnctl {

// Options every verb understands; filled in by parsing before any action runs.
struct GlobalOptions {
  std::string url;     // empty: the local socket when it is there, else http://127.0.0.1:8080
  std::string socket;  // the local management socket
  std::string token;
  std::string cacert;
  OutputFormat output = OutputFormat::table;

  // Where requests go: an explicit URL wins; else the local socket when this user can use it (no
  // token needed there); else the default URL.
  Endpoint endpoint() const;
};

struct Command {
  CLI::App* app;            // the subcommand, to tell which one was chosen
  std::function<int()> run;  // reads its options (and the globals) only when called
};

Command add_deploy_command(CLI::App& root, const GlobalOptions& globals);
Command add_invoke_command(CLI::App& root, const GlobalOptions& globals);
Command add_list_command(CLI::App& root, const GlobalOptions& globals);
Command add_describe_command(CLI::App& root, const GlobalOptions& globals);
Command add_logs_command(CLI::App& root, const GlobalOptions& globals);
Command add_delete_command(CLI::App& root, const GlobalOptions& globals);
Command add_version_command(CLI::App& root, const GlobalOptions& globals);
Command add_admin_command(CLI::App& root, const GlobalOptions& globals);
Command add_token_command(CLI::App& root, const GlobalOptions& globals);
Command add_secret_command(CLI::App& root, const GlobalOptions& globals);
Command add_audit_command(CLI::App& root, const GlobalOptions& globals);
Command add_event_command(CLI::App& root, const GlobalOptions& globals);
Command add_broker_command(CLI::App& root, const GlobalOptions& globals);
Command add_trigger_command(CLI::App& root, const GlobalOptions& globals);
Command add_invocation_command(CLI::App& root, const GlobalOptions& globals);
// Prints a target's effective call policy (GET /api/v1/policies/NAME) with where each value came
// from; shared by policy get, service describe and describe.
void print_call_policy(const boost::json::object& policy);

Command add_service_command(CLI::App& root, const GlobalOptions& globals);
Command add_policy_command(CLI::App& root, const GlobalOptions& globals);
Command add_authz_command(CLI::App& root, const GlobalOptions& globals);
Command add_source_command(CLI::App& root, const GlobalOptions& globals);
Command add_traffic_command(CLI::App& root, const GlobalOptions& globals);
Command add_state_command(CLI::App& root, const GlobalOptions& globals);

}  // namespace fnd::fnctl
