// The daemon over time: restarts, shutdown and crash cleanup, logs, keep-alive and scaling.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

constexpr const char* kPythonSpec = R"({"runtime":"python3","handler":"main.handle"})";
constexpr const char* kHelloSource = "def handle(req):\n    return 'hello ' + req.body.decode()\n";
// Prints the body to stdout and a fixed line to stderr, so each stream has a known line.
constexpr const char* kPrintingSource =
    "import sys\n"
    "def handle(req):\n"
    "    print(req.body.decode())\n"
    "    print('complaint', file=sys.stderr)\n"
    "    return 'ok'\n";

bool lists_function(const Daemon& fnd, const std::string& name) {
  HttpAnswer answer = fnd.http("GET", "/api/v1/functions");
  if (answer.status != 200) return false;
  boost::json::value list = answer.json();
  for (const auto& item : list.at("functions").as_array()) {
    if (item.at("name").as_string() == name) return true;
  }
  return false;
}

std::string function_logs(const Daemon& fnd, const std::string& name) {
  return fnd.http("GET", "/api/v1/functions/" + name + "/logs").body;
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

}  // namespace

TEST_CASE("functions survive a restart on the same state dir", "[integration]") {
  Daemon fnd;
  fnd.deploy("persist", {{"main.py", kHelloSource}}, kPythonSpec);
  REQUIRE(fnd.invoke("persist", "before").body == "hello before");
  auto revision = fnd.describe("persist").at("revision");

  CHECK(fnd.stop() == 0);
  fnd.restart();

  HttpAnswer answer = fnd.invoke("persist", "after");
  CHECK(answer.status == 200);
  CHECK(answer.body == "hello after");
  CHECK(lists_function(fnd, "persist"));
  CHECK(fnd.describe("persist").at("revision") == revision);
}

TEST_CASE("SIGTERM stops every instance and leaves nothing behind", "[integration]") {
  Daemon fnd;
  std::set<std::string> ids;
  for (const std::string name : {"alpha", "beta"}) {
    fnd.deploy(name, {{"main.py", kHelloSource}}, kPythonSpec);
    REQUIRE(fnd.invoke(name, name).status == 200);
    ids.merge(fnd.instance_ids(name));
  }
  REQUIRE(ids.size() == 2);
  // The counters must see running instances, or "zero after stop" would prove nothing.
  Leftovers running = fnd.leftovers(ids);
  INFO("while running: " << running.describe());
  CHECK(running.containers == 2);
  CHECK(running.bundles == 2);
  CHECK(running.cgroups >= 2);
  CHECK(running.processes >= 2);

  CHECK(fnd.stop() == 0);
  Leftovers left = fnd.leftovers(ids);
  INFO("after stop: " << left.describe() << "\nfnd log:\n" << fnd.log());
  CHECK(left.none());
}

TEST_CASE("after kill -9 the restarted daemon removes the old instances", "[integration]") {
  Daemon fnd;
  fnd.deploy("survivor", {{"main.py", kHelloSource}}, kPythonSpec);
  REQUIRE(fnd.invoke("survivor", "one").status == 200);
  std::set<std::string> old_ids = fnd.instance_ids("survivor");
  REQUIRE(old_ids.size() == 1);

  fnd.kill9();
  Leftovers orphaned = fnd.leftovers(old_ids);
  INFO("after kill -9: " << orphaned.describe());
  CHECK(orphaned.containers == 1);
  CHECK(orphaned.processes >= 1);

  fnd.restart();
  Leftovers left;
  bool cleaned = wait_until(
      [&] {
        left = fnd.leftovers(old_ids);
        return left.none();
      },
      5s, 100ms);
  INFO("after restart: " << left.describe() << "\nfnd log:\n" << fnd.log());
  CHECK(cleaned);

  HttpAnswer answer = fnd.invoke("survivor", "two");
  CHECK(answer.status == 200);
  CHECK(answer.body == "hello two");
}

TEST_CASE("a daemon starting on another state dir leaves this one's instances alone", "[integration]") {
  Daemon fnd;
  // TOKEN differs per process: an unchanged token means the same instance still serves.
  fnd.deploy("steady", {{"main.py", "import os\nTOKEN = os.urandom(8).hex()\ndef handle(req):\n    return TOKEN\n"}},
             kPythonSpec);
  HttpAnswer before = fnd.invoke("steady");
  REQUIRE(before.status == 200);
  std::set<std::string> ids = fnd.instance_ids("steady");

  Daemon neighbour;  // its startup cleans up after *its* previous run only

  Leftovers running = fnd.leftovers(ids);
  INFO("the first daemon's instance after the second one started: " << running.describe() << "\nsecond daemon's log:\n"
                                                                    << neighbour.log());
  CHECK(running.processes >= 1);
  HttpAnswer after = fnd.invoke("steady");
  CHECK(after.status == 200);
  CHECK(after.body == before.body);
}

TEST_CASE("logs hold each instance's stdout and stderr lines", "[integration]") {
  Daemon fnd;
  fnd.deploy("chatty", {{"main.py", kPrintingSource}}, kPythonSpec);
  REQUIRE(fnd.invoke("chatty", "said out loud").status == 200);
  std::set<std::string> ids = fnd.instance_ids("chatty");
  REQUIRE(ids.size() == 1);
  const std::string& id = *ids.begin();

  // Output is captured asynchronously: the lines may land a moment after the answer.
  std::string logs;
  bool complete = wait_until(
      [&] {
        logs = function_logs(fnd, "chatty");
        return contains(logs, "stdout: said out loud") && contains(logs, "stderr: complaint");
      },
      5s);
  INFO("logs:\n" << logs);
  CHECK(complete);
  CHECK(contains(logs, id + " stdout: said out loud"));
  CHECK(contains(logs, id + " stderr: complaint"));
}

TEST_CASE("logs over the per-function limit say how many lines were dropped", "[integration]") {
  Daemon fnd({.config_yaml = "logs:\n  max_bytes_per_function: 4Ki\n"});
  fnd.deploy("verbose",
             {{"main.py",
               "def handle(req):\n"
               "    for i in range(300):\n        print(f'line {i:04} of a long story')\n"
               "    return 'done'\n"}},
             kPythonSpec);
  REQUIRE(fnd.invoke("verbose").status == 200);

  std::string logs;
  bool dropped = wait_until(
      [&] {
        logs = function_logs(fnd, "verbose");
        return contains(logs, "line 0299");
      },
      5s);
  INFO("logs:\n" << logs);
  CHECK(dropped);
  CHECK_THAT(logs, Catch::StartsWith("# ") && Catch::Contains(" older lines were dropped"));
  CHECK_FALSE(contains(logs, "line 0000"));
  CHECK(logs.size() < 8 * 1024);
}

TEST_CASE("logs with follow=1 stream lines written after the request started", "[integration]") {
  Daemon fnd;
  fnd.deploy("chatty", {{"main.py", kPrintingSource}}, kPythonSpec);
  REQUIRE(fnd.invoke("chatty", "first words").status == 200);
  REQUIRE(wait_until([&] { return contains(function_logs(fnd, "chatty"), "first words"); }, 5s));

  // The stream starts with the existing lines: seeing "first words" means it is live.
  std::atomic<bool> streaming = false;
  auto follower = std::async(std::launch::async, [&] {
    return fnd.stream_get(
        "/api/v1/functions/chatty/logs?follow=1",
        [&](std::string_view text) {
          if (contains(text, "first words")) streaming = true;
          return contains(text, "last words");
        },
        10s);
  });
  REQUIRE(wait_until([&] { return streaming.load(); }, 5s));

  REQUIRE(fnd.invoke("chatty", "last words").status == 200);
  std::string streamed = follower.get();
  INFO("streamed:\n" << streamed);
  CHECK(contains(streamed, "stdout: last words"));
}

TEST_CASE("an idle instance stops after scale.keepAlive", "[integration]") {
  Daemon fnd;
  fnd.deploy("brief", {{"main.py", kHelloSource}},
             R"({"runtime":"python3","handler":"main.handle","scale":{"keepAlive":"1s"}})");
  REQUIRE(fnd.invoke("brief", "x").status == 200);
  std::set<std::string> ids = fnd.instance_ids("brief");
  REQUIRE(ids.size() == 1);

  CHECK(wait_until([&] { return fnd.instance_ids("brief").empty(); }, 5s, 100ms));
  Leftovers left;
  bool cleaned = wait_until(
      [&] {
        left = fnd.leftovers(ids);
        return left.none();
      },
      5s, 100ms);
  INFO("after keep-alive: " << left.describe());
  CHECK(cleaned);
}

TEST_CASE("scale.max caps the instances and concurrency caps requests per instance", "[integration]") {
  Daemon fnd;
  fnd.deploy("busy", {{"main.py", "import time\ndef handle(req):\n    time.sleep(1)\n    return 'done'\n"}},
             R"({"runtime":"python3","handler":"main.handle","scale":{"concurrency":1,"max":2}})");

  constexpr int kRequests = 4;
  std::vector<std::future<HttpAnswer>> requests;
  for (int i = 0; i < kRequests; ++i) {
    requests.push_back(std::async(std::launch::async, [&] { return fnd.invoke("busy"); }));
  }
  auto all_answered = [&] {
    return std::all_of(requests.begin(), requests.end(),
                       [](const auto& r) { return r.wait_for(0s) == std::future_status::ready; });
  };
  size_t most_instances = 0;
  int64_t most_in_flight = 0;
  while (!all_answered()) {
    boost::json::object function = fnd.describe("busy");
    const auto& instances = function.at("instances").as_array();
    most_instances = std::max(most_instances, instances.size());
    for (const auto& instance : instances)
      most_in_flight = std::max(most_in_flight, instance.at("in_flight").to_number<int64_t>());
    std::this_thread::sleep_for(20ms);
  }

  for (auto& request : requests) {
    HttpAnswer answer = request.get();
    INFO("answer: HTTP " << answer.status << " " << answer.body << answer.transport_error);
    CHECK(answer.status == 200);
    CHECK(answer.body == "done");
  }
  CHECK(most_instances >= 1);
  CHECK(most_instances <= 2);
  CHECK(most_in_flight <= 1);
}

}  // namespace fnd::test

namespace fnd::test {

TEST_CASE("deleting a function lets its requests in flight finish, answers new ones 404, then stops its instances",
          "[integration]") {
  Daemon fnd;
  fnd.deploy("slow",
             {{"main.py", "import time\ndef handle(req):\n    time.sleep(1.5)\n    return 'done ' + req.body.decode()\n"}},
             R"({"runtime":"python3","handler":"main.handle","timeout":"10s","scale":{"concurrency":1,"max":3}})");
  std::vector<std::future<HttpAnswer>> in_flight;
  for (int i = 0; i < 3; ++i) {
    in_flight.push_back(std::async(std::launch::async, [&fnd, i] { return fnd.invoke("slow", std::to_string(i)); }));
  }
  REQUIRE(wait_until(
      [&] {
        int busy = 0;
        boost::json::object described = fnd.describe("slow");
        for (const auto& i : described.at("instances").as_array()) busy += i.at("in_flight").to_number<int>();
        return busy == 3;
      },
      10s, 20ms));
  std::set<std::string> instances = fnd.instance_ids("slow");

  auto deleted = std::async(std::launch::async, [&] { return fnd.http("DELETE", "/api/v1/functions/slow"); });
  std::this_thread::sleep_for(200ms);
  HttpAnswer late = fnd.invoke("slow", "late");
  CHECK(late.status == 404);

  for (int i = 0; i < 3; ++i) {
    HttpAnswer answer = in_flight[static_cast<size_t>(i)].get();
    INFO(answer.body);
    CHECK(answer.status == 200);
    CHECK(answer.body == "done " + std::to_string(i));
  }
  HttpAnswer deleted_answer = deleted.get();
  CHECK(deleted_answer.status == 200);
  Leftovers left = fnd.leftovers(instances);
  INFO(left.describe());
  CHECK(left.none());
}

}  // namespace fnd::test
