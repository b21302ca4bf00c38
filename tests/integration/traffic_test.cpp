// Traffic splitting across revisions (issue 11, item 4): weights (a canary, a rollback), tags
// and Fn-Revision reaching the revision they name, at the gateway and through the mesh alike,
// stored durably, and driven by fnctl as a user would. Each revision of `pricing` answers its own
// revision number, so an answer says where the call went.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <future>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

namespace json = boost::json;

constexpr const char* kRevisionAnswer =
    "import os\n"
    "def handle(req):\n"
    "    return os.environ['FN_REVISION']\n";

// Calls the function its body names through the mesh `count` times ({"path", "count",
// "headers"}) and answers how many answers of each kind came back: {"3": 902, "4": 98}.
constexpr const char* kMeshCounter =
    "import json, os, urllib.error, urllib.request\n"
    "MESH = os.environ['FN_MESH_URL']\n"
    "def handle(req):\n"
    "    order = json.loads(req.body)\n"
    "    counts = {}\n"
    "    for _ in range(order.get('count', 1)):\n"
    "        request = urllib.request.Request(MESH + order['path'], headers=order.get('headers', {}))\n"
    "        try:\n"
    "            with urllib.request.urlopen(request, timeout=30) as answer:\n"
    "                key = answer.read().decode()\n"
    "        except urllib.error.HTTPError as error:\n"
    "            key = f'{error.code} {json.loads(error.read())[\"error\"][\"code\"]}'\n"
    "        counts[key] = counts.get(key, 0) + 1\n"
    "    return counts\n";

std::string spec_of(int version) {
  return R"({"runtime":"python3","handler":"main.handle","env":{"V":")" + std::to_string(version) + R"("}})";
}

// pricing at revisions 1..4 (each deploy changes its env, so each is a new revision), and the
// mesh counter.
void deploy_four_revisions(const Daemon& fnd) {
  for (int version = 1; version <= 4; ++version) {
    HttpAnswer deployed = fnd.deploy("pricing", {{"main.py", kRevisionAnswer}}, spec_of(version));
    REQUIRE(deployed.json().at("revision").as_int64() == version);
  }
  fnd.deploy("counter", {{"main.py", kMeshCounter}}, R"({"runtime":"python3","handler":"main.handle"})");
}

// `calls` calls to /function/pricing`suffix` from 4 threads; how many answered each body.
std::map<std::string, int> count_gateway(const Daemon& fnd, int calls, const std::string& suffix = "",
                                         const HeaderList& headers = {}) {
  std::vector<std::future<std::map<std::string, int>>> workers;
  for (int t = 0; t < 4; ++t) {
    workers.push_back(std::async(std::launch::async, [&fnd, calls, suffix, headers] {
      std::map<std::string, int> counts;
      for (int i = 0; i < calls / 4; ++i) {
        HttpAnswer answer = fnd.http("GET", "/function/pricing" + suffix, "", headers);
        ++counts[answer.status == 200 ? answer.body : std::to_string(answer.status) + " " + answer.error_code()];
      }
      return counts;
    }));
  }
  std::map<std::string, int> total;
  for (auto& worker : workers) {
    for (const auto& [body, n] : worker.get()) total[body] += n;
  }
  return total;
}

// The counter's tally of `count` mesh calls to `path`.
std::map<std::string, int> count_mesh(const Daemon& fnd, const std::string& path, int count,
                                      const json::object& headers = {}) {
  json::object order{{"path", path}, {"count", count}, {"headers", headers}};
  HttpAnswer answer = fnd.invoke("counter", json::serialize(order));
  INFO("counter answered " << answer.status << ": " << answer.body);
  REQUIRE(answer.status == 200);
  std::map<std::string, int> counts;
  const json::value tally = answer.json();
  for (const auto& [key, n] : tally.as_object()) counts[std::string(key)] = static_cast<int>(n.as_int64());
  return counts;
}

std::string body_of(const Daemon& fnd, const std::string& suffix, const HeaderList& headers = {}) {
  HttpAnswer answer = fnd.http("GET", "/function/pricing" + suffix, "", headers);
  return std::to_string(answer.status) + " " + (answer.status == 200 ? answer.body : answer.error_code());
}

}  // namespace

TEST_CASE("a 90/10 canary split holds within 3 percent over 1,000 calls at the gateway and through the mesh",
          "[integration][traffic]") {
  Daemon fnd;
  deploy_four_revisions(fnd);
  // Before any split, the latest revision takes every call.
  CHECK(count_gateway(fnd, 40) == std::map<std::string, int>{{"4", 40}});

  CommandResult set = fnd.run_fnctl({"traffic", "set", "pricing", "r3=90", "r4=10"});
  INFO("fnctl: " << set.out << set.err);
  REQUIRE(set.exit_code == 0);
  CHECK(set.out.find("split across revisions") != std::string::npos);

  auto gateway = count_gateway(fnd, 1000);
  INFO("gateway: 3 -> " << gateway["3"] << ", 4 -> " << gateway["4"]);
  CHECK(gateway.size() == 2);
  CHECK(gateway["3"] + gateway["4"] == 1000);
  CHECK(gateway["4"] >= 70);
  CHECK(gateway["4"] <= 130);

  auto mesh = count_mesh(fnd, "/fn/pricing", 1000);
  INFO("mesh: 3 -> " << mesh["3"] << ", 4 -> " << mesh["4"]);
  CHECK(mesh.size() == 2);
  CHECK(mesh["3"] + mesh["4"] == 1000);
  CHECK(mesh["4"] >= 70);
  CHECK(mesh["4"] <= 130);

  // Both revisions run side by side, each in instances of its own.
  std::set<int64_t> running;
  const json::object described = fnd.describe("pricing");
  for (const auto& instance : described.at("instances").as_array()) {
    running.insert(instance.at("revision").as_int64());
  }
  CHECK(running == std::set<int64_t>{3, 4});
}

TEST_CASE("tags, r<N> and Fn-Revision reach the revision they name, at the gateway and through the mesh",
          "[integration][traffic]") {
  Daemon fnd;
  deploy_four_revisions(fnd);
  CommandResult split = fnd.run_fnctl({"traffic", "set", "pricing", "r3=90", "r4=10"});
  REQUIRE(split.exit_code == 0);
  CommandResult tag = fnd.run_fnctl({"traffic", "tag", "pricing", "r4", "canary"});
  INFO("fnctl: " << tag.out << tag.err);
  REQUIRE(tag.exit_code == 0);
  CHECK(tag.out.find("canary") != std::string::npos);

  for (int i = 0; i < 20; ++i) {
    CHECK(body_of(fnd, "@canary") == "200 4");
    CHECK(body_of(fnd, "@r3/quote?sku=7") == "200 3");
    CHECK(body_of(fnd, "", {{"Fn-Revision", "canary"}}) == "200 4");
    CHECK(body_of(fnd, "", {{"Fn-Revision", "3"}}) == "200 3");
  }
  // The path's selector wins over the field.
  CHECK(body_of(fnd, "@r4", {{"Fn-Revision", "r3"}}) == "200 4");
  // A revision the traffic does not name is not served, and the error says what is.
  HttpAnswer old = fnd.http("GET", "/function/pricing@r1");
  CHECK(old.status == 404);
  CHECK(old.error_code() == "revision_not_found");
  CHECK(old.error_message().find("it serves r3, r4; its tags are canary (r4)") != std::string::npos);
  CHECK(body_of(fnd, "@beta") == "404 revision_not_found");

  CHECK(count_mesh(fnd, "/fn/pricing@canary", 30) == std::map<std::string, int>{{"4", 30}});
  CHECK(count_mesh(fnd, "/fn/pricing@r3/quote", 30) == std::map<std::string, int>{{"3", 30}});
  CHECK(count_mesh(fnd, "/fn/pricing", 30, {{"Fn-Revision", "canary"}}) == std::map<std::string, int>{{"4", 30}});
  CHECK(count_mesh(fnd, "/fn/pricing@r2", 1) == std::map<std::string, int>{{"404 revision_not_found", 1}});

  // describe and traffic show tell the same.
  json::object traffic = fnd.describe("pricing").at("traffic").as_object();
  CHECK(json::serialize(traffic.at("split")) == R"({"3":90,"4":10})");
  CHECK(json::serialize(traffic.at("tags")) == R"({"canary":4})");
  CommandResult described = fnd.run_fnctl({"describe", "pricing"});
  CHECK(described.out.find("Traffic:    r3 90%, r4 10% (split); tags: canary=r4") != std::string::npos);
  CommandResult shown = fnd.run_fnctl({"traffic", "show", "pricing"});
  INFO(shown.out);
  CHECK(shown.out.find("r4         10%       canary") != std::string::npos);
}

TEST_CASE("a rollback is instant, a new deploy keeps a split, and the split survives a restart",
          "[integration][traffic]") {
  Daemon fnd;
  deploy_four_revisions(fnd);
  REQUIRE(fnd.run_fnctl({"traffic", "set", "pricing", "r3=50", "r4=50"}).exit_code == 0);
  REQUIRE(fnd.run_fnctl({"traffic", "tag", "pricing", "r4", "canary"}).exit_code == 0);
  CHECK(count_gateway(fnd, 200).size() == 2);

  // Roll back: the very next calls all go to revision 3.
  REQUIRE(fnd.run_fnctl({"traffic", "set", "pricing", "r3=100"}).exit_code == 0);
  CHECK(count_gateway(fnd, 100) == std::map<std::string, int>{{"3", 100}});
  CHECK(body_of(fnd, "@canary") == "200 4");  // the tag stays: r4 can still be tried

  // A deploy keeps the split: revision 5 answers by name only, until the split names it.
  HttpAnswer deployed = fnd.deploy("pricing", {{"main.py", kRevisionAnswer}}, spec_of(5));
  CHECK(deployed.json().at("revision").as_int64() == 5);
  CHECK(count_gateway(fnd, 40) == std::map<std::string, int>{{"3", 40}});
  CHECK(body_of(fnd, "@r5") == "200 5");

  // Stored: after a restart the same split and tags apply.
  fnd.restart();
  CHECK(count_gateway(fnd, 40) == std::map<std::string, int>{{"3", 40}});
  CHECK(body_of(fnd, "@canary") == "200 4");
  CHECK(body_of(fnd, "@r5") == "200 5");

  // Back to following the latest revision, as before any split.
  REQUIRE(fnd.run_fnctl({"traffic", "set", "pricing", "latest"}).exit_code == 0);
  CHECK(count_gateway(fnd, 40) == std::map<std::string, int>{{"5", 40}});
  CHECK(body_of(fnd, "@canary") == "200 4");
  REQUIRE(fnd.run_fnctl({"traffic", "clear", "pricing"}).exit_code == 0);
  CHECK(body_of(fnd, "@canary") == "404 revision_not_found");
}

TEST_CASE("traffic that cannot hold is refused with a reason and changes nothing", "[integration][traffic]") {
  Daemon fnd;
  deploy_four_revisions(fnd);
  REQUIRE(fnd.http("PUT", "/api/v1/functions/pricing/traffic", R"({"split":{"3":90,"4":10}})").status == 200);
  HttpAnswer over = fnd.http("PUT", "/api/v1/functions/pricing/traffic", R"({"split":{"3":90,"4":20}})");
  CHECK(over.status == 422);
  CHECK(over.error_code() == "invalid_traffic");
  CHECK(over.error_message().find("add up to 110, not 100") != std::string::npos);
  HttpAnswer unknown = fnd.http("PUT", "/api/v1/functions/pricing/traffic", R"({"split":{"9":100}})");
  CHECK(unknown.status == 422);
  CHECK(unknown.error_message().find("revision 9, which does not exist") != std::string::npos);
  HttpAnswer missing = fnd.http("PUT", "/api/v1/functions/nosuch/traffic", R"({"split":{"1":100}})");
  CHECK(missing.status == 404);
  CommandResult usage = fnd.run_fnctl({"traffic", "set", "pricing", "r3:90"});
  CHECK(usage.exit_code != 0);
  CHECK(usage.err.find("is not REVISION=PERCENT") != std::string::npos);
  json::object traffic = fnd.http("GET", "/api/v1/functions/pricing/traffic").json().as_object();
  CHECK(json::serialize(traffic.at("split")) == R"({"3":90,"4":10})");
  CHECK(json::serialize(traffic.at("served")) == "[3,4]");
  CHECK(traffic.at("latest").as_int64() == 4);
}

}  // namespace fnd::test
