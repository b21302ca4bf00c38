// The host-wide memory budget for instances: eviction of idle instances, and a clear 503 when
// everything in the budget is busy.
#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kSleepySource =
    "import time\n"
    "def handle(req):\n"
    "    if req.body == b'slow':\n"
    "        time.sleep(3)\n"
    "    return 'ok'\n";

std::string spec_with(const char* memory, const char* timeout) {
  return std::string(R"({"runtime":"python3","handler":"main.handle","timeout":")") + timeout +
         R"(","resources":{"memory":")" + memory + R"("}})";
}

}  // namespace

TEST_CASE("a full memory budget stops another function's idle instance", "[integration]") {
  // Room for one 64Mi instance at a time.
  Daemon fnd({.config_yaml = "scheduler:\n  memory_budget: 100Mi\n"});
  fnd.deploy("first", {{"main.py", kSleepySource}}, spec_with("64Mi", "30s"));
  fnd.deploy("second", {{"main.py", kSleepySource}}, spec_with("64Mi", "30s"));

  REQUIRE(fnd.invoke("first").status == 200);
  REQUIRE(fnd.instance_ids("first").size() == 1);
  REQUIRE(fnd.invoke("second").status == 200);
  CHECK(fnd.instance_ids("second").size() == 1);
  CHECK(fnd.instance_ids("first").empty());
}

TEST_CASE("a memory budget full of busy instances is a 503 naming the budget", "[integration]") {
  Daemon fnd({.config_yaml = "scheduler:\n  memory_budget: 100Mi\nruntime:\n  start_timeout: 1s\n"});
  fnd.deploy("busy", {{"main.py", kSleepySource}}, spec_with("64Mi", "10s"));
  fnd.deploy("other", {{"main.py", kSleepySource}}, spec_with("64Mi", "1s"));
  REQUIRE(fnd.invoke("busy").status == 200);

  // "busy" sleeps 3 s; "other" may wait start_timeout + its timeout = 2 s for room, so it cannot get any.
  auto busy = std::async(std::launch::async, [&] { return fnd.invoke("busy", "slow"); });
  REQUIRE(wait_until(
      [&] {
    auto described = fnd.describe("busy");
    for (const auto& i : described.at("instances").as_array()) {
      if (i.at("in_flight").to_number<int>() > 0) return true;
    }
    return false;
      },
      5s));
  HttpAnswer answer = fnd.invoke("other");
  INFO("answer: HTTP " << answer.status << " " << answer.body);
  CHECK(answer.status == 503);
  CHECK(answer.error_code() == "memory_budget_full");
  CHECK_THAT(answer.error_message(), Catch::Contains("100Mi"));
  CHECK(answer.headers.count("retry-after") == 1);
  CHECK(busy.get().status == 200);
}

}  // namespace fnd::test

namespace fnd::test {

TEST_CASE("a request whose client hung up while it waited for memory evicts nobody afterwards", "[integration]") {
  Daemon fnd({.config_yaml = "scheduler:\n  memory_budget: 100Mi\n"});
  fnd.deploy("hog", {{"main.py", kSleepySource}}, spec_with("64Mi", "30s"));
  fnd.deploy("needy", {{"main.py", kSleepySource}}, spec_with("64Mi", "30s"));
  REQUIRE(fnd.invoke("hog").status == 200);
  std::set<std::string> hog_instances = fnd.instance_ids("hog");
  REQUIRE(hog_instances.size() == 1);

  // hog is busy for 3 s, so needy must wait for room; its client gives up after half a second.
  auto busy = std::async(std::launch::async, [&] { return fnd.invoke("hog", "slow"); });
  REQUIRE(wait_until([&] { return fnd.describe("hog").at("instances").as_array().at(0).at("in_flight").to_number<int>() > 0; }, 5s));
  HttpAnswer gave_up = fnd.http("POST", "/function/needy", "", {}, 500ms);
  CHECK(gave_up.status == 0);
  REQUIRE(busy.get().status == 200);

  // hog's instance is idle now: nobody is left waiting, so it must not be stopped for needy.
  std::this_thread::sleep_for(1500ms);
  CHECK(fnd.instance_ids("hog") == hog_instances);
  CHECK(fnd.instance_ids("needy").empty());
}

}  // namespace fnd::test
