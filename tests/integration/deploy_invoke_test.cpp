// Deploy and invoke through the real daemon: one function per runtime, the request and answer
// reaching each side intact, and the fnctl flow a newcomer follows.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

namespace fs = std::filesystem;

// Echoes what reached the handler, with a status and a header of its own choosing.
constexpr const char* kEchoRequestSource = R"(
def handle(req):
    info = {
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "greeting": req.headers.get("x-greeting"),
        "body": req.body.decode(),
    }
    return 202, info, {"X-Answered-By": "echo"}
)";

// A binary function: any executable that serves HTTP on $PORT.
constexpr const char* kBinaryServerSource = R"(#!/usr/bin/python3
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"binary ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = answer
    do_POST = answer

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
)";

constexpr size_t kLargeBodyBytes = 5 * 1024 * 1024;

// The same 0..255 byte pattern the large-answer function produces, so corruption or a
// reordered chunk shows up as a mismatch rather than only as a wrong length.
std::string byte_pattern(size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>(i % 256);
  return out;
}

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path);
  out << content;
  REQUIRE(out.good());
}

// A function folder on disk for fnctl deploy; removed with the object.
class FunctionFolder {
 public:
  FunctionFolder() {
    char dir_template[] = "/tmp/fnd-test-fn-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    path_ = dir_template;
  }
  ~FunctionFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  FunctionFolder(const FunctionFolder&) = delete;
  FunctionFolder& operator=(const FunctionFolder&) = delete;

  void add(const std::string& name, const std::string& content) const { write_file(path_ / name, content); }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("python3 function answers with its return value", "[integration]") {
  Daemon fnd;
  fnd.deploy("hello", {{"main.py", "def handle(req):\n    return 'hello ' + req.body.decode()\n"}},
             R"({"runtime":"python3","handler":"main.handle"})");

  HttpAnswer answer = fnd.invoke("hello", "world");
  CHECK(answer.status == 200);
  CHECK(answer.body == "hello world");
  CHECK(answer.header("content-type").starts_with("text/plain"));

  // A second call reuses the warm instance.
  CHECK(fnd.invoke("hello", "again").body == "hello again");

  // /metrics counts both answers and the one cold start.
  HttpAnswer metrics = fnd.http("GET", "/metrics");
  INFO(metrics.body);
  CHECK(metrics.status == 200);
  CHECK_THAT(metrics.body, Catch::Contains("fnd_invocations_total{function=\"hello\",code=\"2xx\"} 2\n"));
  CHECK_THAT(metrics.body, Catch::Contains("fnd_invocation_duration_seconds_count{function=\"hello\"} 2\n"));
  CHECK_THAT(metrics.body, Catch::Contains("fnd_cold_starts_total{function=\"hello\",origin=\"container\"} 1\n"));
  CHECK_THAT(metrics.body, Catch::Contains("fnd_instances 1\n"));
}

TEST_CASE("python3 function sees method, path, query and headers and sets status and headers", "[integration]") {
  Daemon fnd;
  fnd.deploy("echo", {{"main.py", kEchoRequestSource}}, R"({"runtime":"python3","handler":"main.handle"})");

  HttpAnswer answer = fnd.http("PUT", "/function/echo/a/b?x=1", "payload", {{"X-Greeting", "hi there"}});
  INFO(answer.body);
  REQUIRE(answer.status == 202);
  CHECK(answer.header("x-answered-by") == "echo");
  CHECK(answer.header("content-type") == "application/json");
  CHECK(answer.header("x-fnd-error").empty());
  auto seen = answer.json().as_object();
  CHECK(seen.at("method").as_string() == "PUT");
  CHECK(seen.at("path").as_string() == "/a/b");
  CHECK(seen.at("query") == boost::json::value({{"x", "1"}}));
  CHECK(seen.at("greeting").as_string() == "hi there");
  CHECK(seen.at("body").as_string() == "payload");

  // Without a sub-path the function sees "/".
  HttpAnswer root = fnd.http("GET", "/function/echo");
  REQUIRE(root.status == 202);
  CHECK(root.json().at("path").as_string() == "/");
}

TEST_CASE("shell function pipes the body through its command and reports failures", "[integration]") {
  Daemon fnd;
  // One function for both cases (one cold start): /fail makes the command fail with a message.
  fnd.deploy("shout", {{"README", "shell functions need no code, but a function needs an archive\n"}},
             R"({"runtime":"shell",
                 "handler":"if [ \"$REQUEST_PATH\" = /fail ]; then echo 'disk on fire' >&2; exit 7; fi; tr a-z A-Z"})");

  HttpAnswer answer = fnd.invoke("shout", "make some noise");
  CHECK(answer.status == 200);
  CHECK(answer.body == "MAKE SOME NOISE");

  HttpAnswer failed = fnd.invoke("shout", "", "/fail");
  CHECK(failed.status == 500);
  CHECK_THAT(failed.body, Catch::Contains("command exited with status 7") && Catch::Contains("disk on fire"));
  CHECK(failed.header("x-fnd-error").empty());  // the function's own error, relayed as is
}

TEST_CASE("binary function serves HTTP on $PORT itself", "[integration]") {
  Daemon fnd;
  fnd.deploy("native", {{"server", kBinaryServerSource}}, R"({"runtime":"binary","handler":"./server"})", {"server"});

  HttpAnswer answer = fnd.invoke("native", "anything");
  INFO(answer.body << "\nfnd log:\n" << fnd.log());
  CHECK(answer.status == 200);
  CHECK(answer.body == "binary ok");
  CHECK(fnd.http("GET", "/function/native/x").body == "binary ok");
}

TEST_CASE("a new revision replaces the old code", "[integration]") {
  Daemon fnd;
  fnd.deploy("versioned", {{"main.py", "def handle(req):\n    return 'v1'\n"}},
             R"({"runtime":"python3","handler":"main.handle"})");
  REQUIRE(fnd.invoke("versioned").body == "v1");
  std::set<std::string> v1_instances = fnd.instance_ids("versioned");

  // The code upload only stores the code; the spec PUT naming it makes revision 2.
  HttpAnswer v2 = fnd.deploy("versioned", {{"main.py", "def handle(req):\n    return 'v2'\n"}},
                             R"({"runtime":"python3","handler":"main.handle"})");
  CHECK(v2.json().at("revision") == 2);
  CHECK(fnd.invoke("versioned").body == "v2");
  // The old revision's instance is retired, not kept around.
  CHECK(wait_until(
      [&] {
        std::set<std::string> now = fnd.instance_ids("versioned");
        return std::none_of(v1_instances.begin(), v1_instances.end(), [&](const auto& id) { return now.contains(id); });
      },
      5s, 50ms));
}

TEST_CASE("a large answer arrives intact", "[integration]") {
  Daemon fnd;
  fnd.deploy("big",
             {{"main.py",
               "PATTERN = bytes(range(256)) * (5 * 1024 * 4)\n"
               "def handle(req):\n    return PATTERN\n"}},
             R"({"runtime":"python3","handler":"main.handle"})");

  HttpAnswer answer = fnd.http("GET", "/function/big");
  REQUIRE(answer.status == 200);
  REQUIRE(answer.body.size() == kLargeBodyBytes);
  CHECK(answer.body == byte_pattern(kLargeBodyBytes));
  CHECK(answer.header("content-type") == "application/octet-stream");
}

TEST_CASE("fnctl deploys, invokes, lists, describes, shows logs and deletes", "[integration]") {
  Daemon fnd;
  FunctionFolder folder;
  folder.add("fn.yaml", "name: hello\nruntime: python3\nhandler: main.handle\n");
  folder.add("main.py",
             "def handle(req):\n    print('called with', req.body)\n    return 'hello ' + req.body.decode()\n");

  auto expect_success = [&](const std::vector<std::string>& args) {
    CommandResult result = fnd.run_fnctl(args);
    INFO("fnctl " << args.front() << "\nstdout: " << result.out << "\nstderr: " << result.err);
    CHECK(result.exit_code == 0);
    return result;
  };

  expect_success({"deploy", folder.path()});
  CHECK(expect_success({"invoke", "hello", "-d", "world"}).out == "hello world");
  CHECK_THAT(expect_success({"list"}).out, Catch::Contains("hello") && Catch::Contains("python3"));
  CHECK_THAT(expect_success({"describe", "hello"}).out, Catch::Contains("hello") && Catch::Contains("main.handle"));
  // Log capture is asynchronous: the line may land a moment after the answer.
  CHECK(wait_until(
      [&] {
        return fnd.run_fnctl({"logs", "hello"}).out.find("called with b'world'") != std::string::npos;
      },
      5s, 50ms));
  expect_success({"logs", "hello"});
  CHECK_THAT(expect_success({"delete", "hello"}).out, Catch::Contains("deleted hello"));
  CHECK(fnd.http("GET", "/api/v1/functions/hello").status == 404);

  CommandResult missing = fnd.run_fnctl({"invoke", "nosuch"});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("no function named"));
}

}  // namespace fnd::test
