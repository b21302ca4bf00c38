// fnctl deploy [DIR] [-f FILE] [--name NAME]: checks the spec locally, uploads the folder's code,
// then puts the spec pointing at it.
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <optional>

#include "config/function_spec.hpp"
#include "core/names.hpp"
#include "fnctl/archive.hpp"
#include "fnctl/client.hpp"
#include "commands.hpp"
#include "fnctl/input.hpp"

namespace fnd::fnctl {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

struct DeployOptions {
  std::string dir = ".";
  std::string spec_file;
  std::string name;
  bool dir_given = false;
};

struct DeploySources {
  fs::path spec_file;
  fs::path code_dir;
};


Result<DeploySources> locate_sources(const DeployOptions& options) {
  if (!options.spec_file.empty()) {
    fs::path spec = options.spec_file;
    fs::path code_dir = options.dir_given ? fs::path(options.dir) : spec.parent_path();
    return DeploySources{spec, code_dir.empty() ? fs::path(".") : code_dir};
  }
  fs::path dir = options.dir;
  for (const char* file_name : {"fn.yaml", "fn.yml"}) {
    std::error_code ec;
    if (fs::is_regular_file(dir / file_name, ec)) return DeploySources{dir / file_name, dir};
  }
  return make_error("spec_not_found",
                    fmt::format("no fn.yaml in {}: write one (runtime, handler, name) or point at a spec with -f FILE",
                                dir.string()));
}

// Parsed here with the daemon's own rules, so a bad spec fails before any upload.
Result<config::FunctionSpec> load_spec(const fs::path& file) {
  auto text = read_file(file);
  if (!text) return text.error();
  auto spec = config::spec_from_yaml(*text);
  if (!spec) return make_error(spec.error().code, fmt::format("{}: {}", file.string(), spec.error().message), 400);
  return spec;
}

Result<std::string> resolve_name(const std::string& flag, const config::FunctionSpec& spec) {
  if (!flag.empty()) {
    if (Status valid = validate_name("function", flag); !valid) return valid.error();
    return flag;
  }
  if (!spec.name.empty()) return spec.name;
  return make_error("name_required", "the spec has no name: add 'name: NAME' to fn.yaml or pass --name");
}

Result<std::string> upload_code(const ApiClient& client, const std::string& name, const CodeArchive& archive) {
  std::optional<ProgressLine> progress;
  if (::isatty(STDERR_FILENO)) progress.emplace(stderr, "uploading " + name);
  UploadProgress on_progress;
  if (progress) on_progress = [&](uint64_t sent, uint64_t total) { progress->update(sent, total); };

  auto answer = client.upload(function_api_path(name, "/code"), "application/gzip", archive.bytes, on_progress);
  if (progress) progress->finish();
  if (!answer) return answer.error();

  const auto* object = answer->body.if_object();
  const auto* digest = object ? object->if_contains("digest") : nullptr;
  if (!digest || !digest->is_string()) {
    return make_error("invalid_answer", "fnd accepted the code but did not say its digest; is fnd up to date?");
  }
  return std::string(digest->get_string());
}

json::object spec_body(const config::FunctionSpec& spec, const std::string& digest) {
  json::object body = config::spec_to_json(spec);
  body.erase("name");  // the name is in the URL
  body["code"] = digest;
  return body;
}

void print_outcome(const std::string& name, const JsonAnswer& answer) {
  const auto* object = answer.body.if_object();
  std::string revision = object ? json_text(*object, "revision") : "-";
  // 200: code and spec equal the latest revision's, so nothing changed.
  if (answer.status == 200) {
    fmt::print("{} unchanged at revision {}\n", name, revision);
  } else {
    fmt::print("deployed {} revision {}\n", name, revision);
  }
}

int run_deploy(const DeployOptions& options, const GlobalOptions& globals) {
  auto sources = locate_sources(options);
  if (!sources) return report_error(sources.error());
  auto spec = load_spec(sources->spec_file);
  if (!spec) return report_error(spec.error());
  auto name = resolve_name(options.name, *spec);
  if (!name) return report_error(name.error());
  auto archive = pack_directory(sources->code_dir);
  if (!archive) return report_error(archive.error());

  ApiClient client(globals.endpoint());
  // The upload only stores the code; the spec PUT naming its digest makes the revision, so that
  // this deploy's code and spec always go together.
  auto code = upload_code(client, *name, *archive);
  if (!code) return report_error(code.error());
  auto answer = client.put_json(function_api_path(*name), spec_body(*spec, *code));
  if (!answer && answer.error().code == "code_not_found") {
    // Unreferenced code may be collected between the two calls (a concurrent delete): once more.
    code = upload_code(client, *name, *archive);
    if (!code) return report_error(code.error());
    answer = client.put_json(function_api_path(*name), spec_body(*spec, *code));
  }
  if (!answer) return report_error(answer.error());

  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
  } else {
    print_outcome(*name, *answer);
  }
  return kExitOk;
}

}  // namespace

Command add_deploy_command(CLI::App& root, const GlobalOptions& globals) {
  auto options = std::make_shared<DeployOptions>();
  CLI::App* app = root.add_subcommand("deploy", "Upload a function's folder and spec, making a new revision");
  CLI::Option* dir = app->add_option("dir", options->dir, "the function's folder (holds fn.yaml)")->capture_default_str();
  app->add_option("-f,--file", options->spec_file, "the spec file; the code is its folder unless DIR is given");
  app->add_option("--name", options->name, "the function's name (default: the spec's name)");
  return {app, [options, dir, &globals] {
            options->dir_given = dir->count() > 0;
            return run_deploy(*options, globals);
          }};
}

}  // namespace fnd::fnctl
