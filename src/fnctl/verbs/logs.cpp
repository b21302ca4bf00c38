// fnctl logs NAME [-f] [--since S]: prints what the function's instances wrote, as it arrives.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/names.hpp"
#include "fnctl/client.hpp"
#include "commands.hpp"

namespace fnd::fnctl {

namespace {

struct LogsOptions {
  std::string name;
  bool follow = false;
  std::string since;
};

std::string logs_path(const LogsOptions& options, OutputFormat output) {
  std::vector<std::string> query;
  if (options.follow) query.emplace_back("follow=1");
  if (!options.since.empty()) query.push_back("since=" + url_encode(options.since));
  if (output == OutputFormat::json) query.emplace_back("format=json");
  std::string path = function_api_path(options.name, "/logs");
  if (!query.empty()) path += fmt::format("?{}", fmt::join(query, "&"));
  return path;
}

int run_logs(const LogsOptions& options, const GlobalOptions& globals) {
  if (Status valid = validate_name("function", options.name); !valid) return report_error(valid.error());
  Status written;
  Status streamed = ApiClient(globals.endpoint()).stream_get(logs_path(options, globals.output), [&](std::string_view chunk) {
    written = write_and_flush(stdout, chunk, "stdout");
    return written.ok();
  });
  if (!written) return report_error(written.error());
  if (!streamed) return report_error(streamed.error());
  return kExitOk;
}

}  // namespace

Command add_logs_command(CLI::App& root, const GlobalOptions& globals) {
  auto options = std::make_shared<LogsOptions>();
  CLI::App* app = root.add_subcommand("logs", "Print a function's output (stdout and stderr of its instances)");
  app->add_option("name", options->name, "the function")->required();
  app->add_flag("-f,--follow", options->follow, "keep printing new lines as they come");
  app->add_option("--since", options->since, "only lines after a time (RFC 3339) or within a duration (5m)");
  return {app, [options, &globals] { return run_logs(*options, globals); }};
}

}  // namespace fnd::fnctl
