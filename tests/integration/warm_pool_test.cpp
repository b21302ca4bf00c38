// Warm pools. Stem cells: cold starts of python3, shell and node functions take a container that
// was started ahead with the runtime's bootstrap, get the function's code, env and limits, serve
// only that function, and leave nothing behind when fnd stops or is killed. Pre-created
// containers: binary functions start from a container created ahead.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

namespace fs = std::filesystem;

DaemonOptions with_cells(uint32_t python3, uint32_t shell, uint32_t node) {
  DaemonOptions options;
  options.warm_pools = true;
  std::ostringstream yaml;
  yaml << "scheduler:\n  stem_cells:\n    python3: " << python3 << "\n    shell: " << shell << "\n    node: " << node << "\n";
  options.config_yaml = yaml.str();
  return options;
}

// Ids of the containers of this daemon whose id starts with `prefix` and whose status is `wanted`.
std::set<std::string> containers(const Daemon& fnd, const std::string& prefix, const std::string& wanted = "running") {
  CommandResult listing = run_command({"crun", "--root", fnd.state_dir() + "/oci", "list"});
  std::set<std::string> ids;
  std::istringstream lines(listing.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string id, pid, status;
    fields >> id >> pid >> status;
    if (id.starts_with(prefix) && status == wanted) ids.insert(id);
  }
  return ids;
}

// The value of a /metrics line that starts with `series`, or -1.
long metric(const Daemon& fnd, const std::string& series) {
  std::istringstream lines(fnd.http("GET", "/metrics").body);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(series + " ")) return std::stol(line.substr(series.size() + 1));
  }
  return -1;
}

// Waits until `count` cells of the runtime are ready for a function; REQUIREs it. Returns the
// runtime's cell containers (taken ones included).
std::set<std::string> wait_for_cells(const Daemon& fnd, const std::string& runtime, long count) {
  std::string series = "fnd_stem_cells_ready{runtime=\"" + runtime + "\"}";
  bool ready = wait_until([&] { return metric(fnd, series) >= count; }, 20s, 50ms);
  INFO("fnd log:\n" << fnd.log());
  REQUIRE(ready);
  return containers(fnd, "cell-" + runtime + "-");
}

std::string instance_origin(const Daemon& fnd, const std::string& name) {
  auto described = fnd.describe(name);
  const auto& instances = described.at("instances").as_array();
  REQUIRE(instances.size() == 1);
  return std::string(instances.at(0).as_object().at("origin").as_string());
}

// The memory limit the kernel enforces on the instance's cgroup (v1 or v2), or 0 when not found.
uint64_t cgroup_memory_limit(const std::string& instance_id) {
  for (const char* base : {"/sys/fs/cgroup/memory/fnd", "/sys/fs/cgroup/fnd"}) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(base, ec)) {
      if (!entry.path().filename().string().ends_with(instance_id)) continue;
      for (const char* file : {"memory.limit_in_bytes", "memory.max"}) {
        std::ifstream in(entry.path() / file);
        uint64_t value = 0;
        if (in >> value) return value;
      }
    }
  }
  return 0;
}

size_t mounts_under(const std::string& dir) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  size_t count = 0;
  for (std::string line; std::getline(mountinfo, line);) count += line.find(dir) != std::string::npos ? 1 : 0;
  return count;
}

constexpr const char* kEnvSource =
    "import os\n"
    "def handle(req):\n"
    "    try:\n"
    "        open('/function/written', 'w')\n"
    "        writable = 'writable'\n"
    "    except OSError:\n"
    "        writable = 'read-only'\n"
    "    return ' '.join([os.environ['GREETING'], os.environ['FN_NAME'], os.environ['FN_REVISION'],\n"
    "                     writable, ','.join(sorted(os.listdir('/function')))])\n";

}  // namespace

TEST_CASE("a python3 cold start takes a stem cell with the function's code, env and limits", "[integration]") {
  Daemon fnd(with_cells(1, 0, 0));
  std::set<std::string> cells = wait_for_cells(fnd, "python3", 1);
  fnd.deploy("greeter", {{"main.py", kEnvSource}},
             R"({"runtime":"python3","handler":"main.handle","env":{"GREETING":"hi"},"resources":{"memory":"48Mi"}})");

  HttpAnswer answer = fnd.invoke("greeter");
  INFO("answer: " << answer.status << " " << answer.body << "\nfnd log:\n" << fnd.log());
  REQUIRE(answer.status == 200);
  CHECK(answer.body == "hi greeter 1 read-only main.py");
  CHECK(instance_origin(fnd, "greeter") == "stem cell");
  std::set<std::string> ids = fnd.instance_ids("greeter");
  REQUIRE(ids.size() == 1);
  CHECK(cells.count(*ids.begin()) == 1);
  CHECK(cgroup_memory_limit(*ids.begin()) == 48ULL << 20);

  // The pool refills with a new cell; the taken one stays the function's.
  wait_for_cells(fnd, "python3", 1);
  CHECK(containers(fnd, "cell-python3-").size() == 2);
  CHECK(metric(fnd, "fnd_stem_cells_taken_total{runtime=\"python3\"}") == 1);
  CHECK(metric(fnd, "fnd_cold_starts_total{function=\"greeter\",origin=\"stem_cell\"}") == 1);
  CHECK(fnd.invoke("greeter").body == "hi greeter 1 read-only main.py");
  CHECK(fnd.instance_ids("greeter") == ids);
}

TEST_CASE("a stem cell serves one function for its whole life", "[integration]") {
  Daemon fnd(with_cells(1, 0, 0));
  wait_for_cells(fnd, "python3", 1);
  fnd.deploy("first", {{"main.py", "def handle(req):\n    return 'first'\n"}}, R"({"runtime":"python3","handler":"main.handle"})");
  REQUIRE(fnd.invoke("first").body == "first");
  std::set<std::string> first_ids = fnd.instance_ids("first");
  REQUIRE(first_ids.size() == 1);
  CHECK(instance_origin(fnd, "first") == "stem cell");

  // Deleting the function stops its instance: the cell is gone, not back in the pool.
  REQUIRE(fnd.http("DELETE", "/api/v1/functions/first").status == 200);
  CHECK(wait_until([&] { return containers(fnd, *first_ids.begin()).empty(); }, 10s));

  wait_for_cells(fnd, "python3", 1);
  fnd.deploy("second", {{"main.py", "def handle(req):\n    return 'second'\n"}}, R"({"runtime":"python3","handler":"main.handle"})");
  REQUIRE(fnd.invoke("second").body == "second");
  std::set<std::string> second_ids = fnd.instance_ids("second");
  REQUIRE(second_ids.size() == 1);
  CHECK(second_ids != first_ids);
}

TEST_CASE("node and shell cold starts take stem cells", "[integration]") {
  Daemon fnd(with_cells(0, 1, 1));
  wait_for_cells(fnd, "node", 1);
  wait_for_cells(fnd, "shell", 1);
  fnd.deploy("js", {{"index.js", "exports.handle = async (req) => `js ${process.env.FN_NAME} ${req.body}`;\n"}},
             R"({"runtime":"node","handler":"index.handle"})");
  fnd.deploy("sh", {{"run.sh", "printf 'sh %s ' \"$FN_NAME\"; cat\n"}}, R"({"runtime":"shell","handler":"sh run.sh"})");

  HttpAnswer js = fnd.invoke("js", "body");
  INFO("fnd log:\n" << fnd.log());
  CHECK(js.status == 200);
  CHECK(js.body == "js js body");
  CHECK(instance_origin(fnd, "js") == "stem cell");
  HttpAnswer sh = fnd.invoke("sh", "body");
  CHECK(sh.status == 200);
  CHECK(sh.body == "sh sh body");
  CHECK(instance_origin(fnd, "sh") == "stem cell");
}

TEST_CASE("a handler that cannot load in a stem cell is a 502 with its stderr", "[integration]") {
  Daemon fnd(with_cells(1, 0, 0));
  wait_for_cells(fnd, "python3", 1);
  fnd.deploy("broken", {{"main.py", "import nosuchmodule\n"}}, R"({"runtime":"python3","handler":"main.handle"})");
  HttpAnswer answer = fnd.invoke("broken");
  INFO("answer: " << answer.body);
  CHECK(answer.status == 502);
  CHECK(answer.error_code() == "function_start_failed");
  CHECK_THAT(answer.error_message(), Catch::Contains("No module named 'nosuchmodule'"));
}

TEST_CASE("a handler that loads slower than runtime.start_timeout in a stem cell is a 502 saying so", "[integration]") {
  DaemonOptions options = with_cells(1, 0, 0);
  options.config_yaml += "runtime:\n  start_timeout: 1s\n";
  Daemon fnd(options);
  wait_for_cells(fnd, "python3", 1);
  fnd.deploy("slow", {{"main.py", "import time\ntime.sleep(30)\ndef handle(req):\n    return 'late'\n"}},
             R"({"runtime":"python3","handler":"main.handle"})");
  HttpAnswer answer = fnd.invoke("slow");
  INFO("answer: " << answer.body << "\nfnd log:\n" << fnd.log());
  CHECK(answer.status == 502);
  CHECK(answer.error_code() == "function_start_failed");
  CHECK_THAT(answer.error_message(), Catch::Contains("did not load its handler within 1s"));
  // The cell was stopped, not left running with the function half loaded.
  CHECK(wait_until([&] { return fnd.instance_ids("slow").empty(); }, 10s));
}

TEST_CASE("env an interpreter reads only at start gets a plain container", "[integration]") {
  Daemon fnd(with_cells(1, 0, 0));
  wait_for_cells(fnd, "python3", 1);
  fnd.deploy("tuned", {{"main.py", "import sys\ndef handle(req):\n    return str(sys.flags.optimize)\n"}},
             R"({"runtime":"python3","handler":"main.handle","env":{"PYTHONOPTIMIZE":"1"}})");
  HttpAnswer answer = fnd.invoke("tuned");
  CHECK(answer.status == 200);
  CHECK(answer.body == "1");
  CHECK(instance_origin(fnd, "tuned") == "container");
}

TEST_CASE("stem cells leave neither containers nor mounts after SIGTERM or kill -9", "[integration]") {
  Daemon fnd(with_cells(2, 0, 0));
  wait_for_cells(fnd, "python3", 2);
  fnd.deploy("user", {{"main.py", "def handle(req):\n    return 'ok'\n"}}, R"({"runtime":"python3","handler":"main.handle"})");
  REQUIRE(fnd.invoke("user").status == 200);
  std::set<std::string> first_cells = wait_for_cells(fnd, "python3", 2);
  REQUIRE(first_cells.size() == 3);
  std::string instances_dir = fnd.state_dir() + "/instances/";
  CHECK(mounts_under(instances_dir) >= 3);

  fnd.kill9();
  fnd.restart();
  // The restarted daemon removes the old cells (and their code mounts) and starts new ones.
  bool swept = wait_until([&] {
    auto now = containers(fnd, "cell-");
    for (const auto& id : first_cells) {
      if (now.count(id)) return false;
    }
    return now.size() >= 2;
  }, 20s, 100ms);
  INFO("fnd log:\n" << fnd.log());
  CHECK(swept);
  CHECK(fnd.invoke("user").body == "ok");

  REQUIRE(fnd.stop() == 0);
  Leftovers left = fnd.leftovers(first_cells);
  INFO("after stop: " << left.describe());
  CHECK(left.none());
  CHECK(mounts_under(instances_dir) == 0);
  // The function's code survived the mounts' removal.
  CHECK(fs::exists(fnd.state_dir() + "/code"));
  size_t code_files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(fnd.state_dir() + "/code")) code_files += entry.is_regular_file() ? 1 : 0;
  CHECK(code_files >= 1);
}

TEST_CASE("a binary function starts from a container created ahead, and a new one follows", "[integration]") {
  Daemon fnd(with_cells(0, 0, 0));
  // Any executable serving HTTP on $PORT is a binary function; python's http.server will do.
  fnd.deploy("native",
             {{"server", "#!/usr/bin/python3\n"
                         "import http.server\n"
                         "class H(http.server.BaseHTTPRequestHandler):\n"
                         "    protocol_version = 'HTTP/1.1'\n"
                         "    def do_GET(self):\n"
                         "        self.send_response(200)\n"
                         "        self.send_header('Content-Length', '2')\n"
                         "        self.end_headers()\n"
                         "        self.wfile.write(b'ok')\n"
                         "http.server.ThreadingHTTPServer(('0.0.0.0', 8080), H).serve_forever()\n"}},
             R"({"runtime":"binary","handler":"./server"})", {"server"});
  // fnd counts the container once it holds it (crun lists it a moment earlier).
  REQUIRE(wait_until([&] { return metric(fnd, "fnd_precreated_containers") == 1; }, 10s));
  std::set<std::string> created = containers(fnd, "native-", "created");
  REQUIRE(created.size() == 1);

  HttpAnswer answer = fnd.http("GET", "/function/native");
  INFO("fnd log:\n" << fnd.log());
  REQUIRE(answer.status == 200);
  CHECK(answer.body == "ok");
  CHECK(instance_origin(fnd, "native") == "pre-created");
  CHECK(fnd.instance_ids("native") == created);
  CHECK(metric(fnd, "fnd_cold_starts_total{function=\"native\",origin=\"precreated\"}") == 1);

  // The next cold start has its container ready again; deleting the function removes it.
  std::set<std::string> next;
  CHECK(wait_until([&] { return (next = containers(fnd, "native-", "created")).size() == 1 && next != created; }, 10s));
  REQUIRE(fnd.http("DELETE", "/api/v1/functions/native").status == 200);
  CHECK(wait_until([&] { return containers(fnd, "native-", "created").empty() && containers(fnd, "native-").empty(); }, 10s));
}

TEST_CASE("a pre-created container that died is replaced by a plain start", "[integration]") {
  Daemon fnd(with_cells(0, 0, 0));
  fnd.deploy("native", {{"server", "#!/bin/sh\nexec python3 -m http.server 8080\n"}},
             R"({"runtime":"binary","handler":"./server"})", {"server"});
  REQUIRE(wait_until([&] { return metric(fnd, "fnd_precreated_containers") == 1; }, 10s));
  std::set<std::string> created = containers(fnd, "native-", "created");
  REQUIRE(created.size() == 1);
  CommandResult killed = run_command({"crun", "--root", fnd.state_dir() + "/oci", "kill", *created.begin(), "KILL"});
  REQUIRE(killed.exit_code == 0);
  // Once fnd has seen it die (a kill racing the very request that takes it is a 502 like any
  // start that dies), the request gets a plain container instead.
  REQUIRE(wait_until([&] { return metric(fnd, "fnd_precreated_containers") == 0; }, 10s));

  HttpAnswer answer = fnd.http("GET", "/function/native/");
  INFO("fnd log:\n" << fnd.log());
  CHECK(answer.status == 200);
  CHECK(instance_origin(fnd, "native") == "container");
}

}  // namespace fnd::test
