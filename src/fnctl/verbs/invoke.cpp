// fnctl invoke NAME [-d DATA | -f FILE | stdin] [-H K:V]... [-X METHOD] [--path P]: calls the
// function through fnd's gateway and streams its answer to stdout, byte for byte.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fmt/format.h>
#include <optional>

#include "core/names.hpp"
#include "fnctl/client.hpp"
#include "commands.hpp"
#include "fnctl/input.hpp"

namespace fnd::fnctl {

namespace {

struct InvokeOptions {
  std::string name;
  std::string data;
  std::string body_file;
  std::vector<std::string> headers;
  std::string method;
  std::string path;
  bool data_given = false;
  bool async = false;
  std::string callback;
};

// A body from -d, -f (where "-" is stdin) or a piped stdin; none when stdin is a terminal, or
// when a pipe brought nothing (so `fnctl invoke x < /dev/null` is a GET).
Result<std::optional<std::string>> read_body(const InvokeOptions& options) {
  if (options.data_given && options.data.starts_with('@')) {  // -d @photo.jpg, as curl reads it
    auto content = read_file(options.data.substr(1));
    if (!content) return content.error();
    return std::optional<std::string>(std::move(*content));
  }
  if (options.data_given) return std::optional<std::string>(options.data);
  if (!options.body_file.empty()) {
    auto content = options.body_file == "-" ? read_all(STDIN_FILENO, "stdin") : read_file(options.body_file);
    if (!content) return content.error();
    return std::optional<std::string>(std::move(*content));
  }
  if (::isatty(STDIN_FILENO)) return std::optional<std::string>();
  auto piped = read_all(STDIN_FILENO, "stdin");
  if (!piped) return piped.error();
  if (piped->empty()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(*piped));
}

// "Name: value" from "Name:value"; nullopt when it is not a header (which would also let a
// CR/LF smuggle extra headers into the request).
std::optional<std::string> parse_header(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view name = text.substr(0, colon);
  std::string_view value = text.substr(colon + 1);
  bool name_ok = std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isgraph(c) != 0; });
  bool value_ok = value.find_first_of("\r\n") == std::string_view::npos;
  if (!name_ok || !value_ok) return std::nullopt;
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return fmt::format("{}: {}", name, value);
}

std::string invoke_path(const InvokeOptions& options) {
  std::string_view sub = options.path;
  while (sub.starts_with('/')) sub.remove_prefix(1);
  const std::string_view prefix = options.async ? "/async-function" : "/function";
  if (sub.empty()) return fmt::format("{}/{}", prefix, options.name);
  return fmt::format("{}/{}/{}", prefix, options.name, sub);
}

std::string request_method(const InvokeOptions& options, bool has_body) {
  std::string method = options.method.empty() ? (has_body ? "POST" : "GET") : options.method;
  std::transform(method.begin(), method.end(), method.begin(), [](unsigned char c) { return std::toupper(c); });
  return method;
}

bool is_fnd_error(long status, const HttpHeaders& headers) {
  auto it = headers.find("x-fnd-error");
  return status >= 400 && it != headers.end() && it->second == "1";
}

// --async: fnd answers 202 with the invocation's id once it is durable; print the id alone.
int run_async(const InvokeOptions& options, HttpRequest& request, const std::optional<std::string>& body,
              const GlobalOptions& globals) {
  if (!options.callback.empty()) request.headers.push_back("X-Callback-Url: " + options.callback);
  if (body) {
    request.body = *body;
    request.has_body = true;
  }
  request.timeout = std::chrono::seconds(60);
  auto response = ApiClient(globals.endpoint()).send(request);
  if (!response) return report_error(response.error());
  if (response->status != 202) return report_error(error_from_answer(*response, request.method, request.path));
  const std::string* id = response->header("x-invocation-id");
  if (id == nullptr) return report_error(make_error("invalid_answer", "fnd's answer has no X-Invocation-Id; is fnd up to date?"));
  fmt::print("{}\n", *id);
  fmt::print(stderr, "invocation queued; see it with: fnctl invocation get {}\n", *id);
  return kExitOk;
}

int run_invoke(const InvokeOptions& options, const GlobalOptions& globals) {
  if (Status valid = validate_name("function", options.name); !valid) return report_error(valid.error());
  HttpRequest request;
  for (const auto& text : options.headers) {
    auto header = parse_header(text);
    if (!header) {
      fmt::print(stderr, "error: -H '{}' is not a header; write it as Name:value\n", text);
      return kExitUsage;
    }
    request.headers.push_back(std::move(*header));
  }
  auto body = read_body(options);
  if (!body) return report_error(body.error());

  request.method = options.async ? std::string("POST") : request_method(options, body->has_value());
  request.path = invoke_path(options);
  if (options.async) return run_async(options, request, *body, globals);
  if (*body) {
    request.body = **body;
    request.has_body = true;
  }
  // fnd's own errors are JSON for us to reword; everything else is the function's and goes
  // to stdout untouched, as it arrives.
  std::string fnd_error_body;
  Status written;
  request.on_body = [&](long status, const HttpHeaders& headers, std::string_view chunk) {
    if (is_fnd_error(status, headers)) {
      fnd_error_body.append(chunk);
      return true;
    }
    written = write_and_flush(stdout, chunk, "stdout");
    return written.ok();
  };

  auto response = ApiClient(globals.endpoint()).send(request);
  if (!written) return report_error(written.error());
  if (!response) return report_error(response.error());
  if (is_fnd_error(response->status, response->headers)) {
    response->body = std::move(fnd_error_body);
    return report_error(error_from_answer(*response, request.method, request.path));
  }
  if (response->status >= 400) {
    fmt::print(stderr, "error: function answered HTTP {}\n", response->status);
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

Command add_invoke_command(CLI::App& root, const GlobalOptions& globals) {
  auto options = std::make_shared<InvokeOptions>();
  CLI::App* app = root.add_subcommand("invoke", "Call a function and print its answer");
  app->add_option("name", options->name, "the function")->required();
  CLI::Option* data = app->add_option("-d,--data", options->data, "the request body (@FILE: the file's bytes)");
  CLI::Option* file = app->add_option("-f,--file", options->body_file, "read the request body from FILE ('-' = stdin)");
  data->excludes(file);
  app->add_option("-H,--header", options->headers, "a request header Name:value (repeatable)");
  app->add_option("-X,--method", options->method, "the HTTP method (default: POST with a body, GET without)");
  app->add_option("--path", options->path, "the path after /function/NAME/ (may carry ?query)");
  app->add_flag("--async", options->async, "queue the call (durably) and print its invocation id; the answer is kept "
                                           "for fnctl invocation get");
  app->add_option("--callback", options->callback, "with --async: a URL the result is POSTed to (as a CloudEvent)");
  return {app, [options, data, &globals] {
            options->data_given = data->count() > 0;
            return run_invoke(*options, globals);
          }};
}

}  // namespace fnd::fnctl
