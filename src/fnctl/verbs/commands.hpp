// fnctl's verbs. Each verb file adds its subcommand to the root app and returns the action that
// runs it; main() parses the command line, then runs the chosen action and exits with its code
// (kExitOk, kExitFailure, kExitUsage from output.hpp).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "fnctl/output.hpp"

namespace fnd::fnctl {

// Options every verb understands; filled in by parsing before any action runs.
struct GlobalOptions {
  std::string url;
  OutputFormat output = OutputFormat::table;
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

}  // namespace fnd::fnctl
