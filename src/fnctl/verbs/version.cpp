// fnctl version: this client's version (the daemon's is in `fnd --version`).
#include <boost/json.hpp>
#include <fmt/format.h>

#include "commands.hpp"

#ifndef FND_VERSION
#error "FND_VERSION must be defined by the build (the project's version)"
#endif

namespace fnd::fnctl {

namespace {

int run_version(const GlobalOptions& globals) {
  if (globals.output == OutputFormat::json) {
    fmt::print("{}\n", boost::json::serialize(boost::json::object{{"fnctl", FND_VERSION}}));
  } else {
    fmt::print("fnctl {}\n", FND_VERSION);
  }
  return kExitOk;
}

}  // namespace

Command add_version_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("version", "Print fnctl's version");
  return {app, [&globals] { return run_version(globals); }};
}

}  // namespace fnd::fnctl
