// Regression tests for specs and deploys a careless or hostile user sent (issue 7, items 3, 5, 9
// and 10): numbers that are not finite, memory beyond the host, env the kernel refuses, a
// damaged stored revision, and concurrent deploys of one function.
#include <catch2/catch.hpp>
#include <future>
#include <sstream>
#include <thread>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

namespace json = boost::json;

constexpr const char* kHelloSource = "def handle(req):\n    return 'hello ' + req.body.decode()\n";

HttpAnswer put_spec(const Daemon& fnd, const std::string& name, const std::string& spec, const HeaderList& headers = {}) {
  HeaderList all{{"Content-Type", "application/json"}};
  all.insert(all.end(), headers.begin(), headers.end());
  return fnd.http("PUT", "/api/v1/functions/" + name, spec, all);
}

std::string with_code(const std::string& spec_json, const std::string& digest) {
  json::value spec = json::parse(spec_json);
  spec.as_object()["code"] = digest;
  return json::serialize(spec);
}

std::string sqlite(const std::string& database, const std::string& sql) {
  CommandResult result = run_command({"sqlite3", database, sql});
  INFO("sqlite3 " << sql << ": " << result.err);
  REQUIRE(result.exit_code == 0);
  return result.out;
}

}  // namespace

TEST_CASE("a spec that is not finite JSON is refused and cannot stop fnd from starting", "[integration]") {
  Daemon fnd;
  fnd.deploy("hello", {{"main.py", kHelloSource}}, R"({"runtime":"python3","handler":"main.handle"})");
  for (const char* bad : {R"({"runtime":"python3","handler":"main.handle","resources":{"cpu":"NaN"}})",
                          R"({"runtime":"python3","handler":"main.handle","resources":{"cpu":1e999}})",
                          R"({"runtime":"python3","handler":"main.handle","scale":{"target":"inf"}})"}) {
    HttpAnswer answer = put_spec(fnd, "hello", bad);
    INFO(bad << " -> " << answer.body);
    CHECK((answer.status == 422 || answer.status == 400));
  }
  CHECK(fnd.http("GET", "/api/v1/functions/hello").status == 200);
  fnd.restart();
  CHECK(fnd.invoke("hello", "again").body == "hello again");
}

TEST_CASE("a stored revision fnd cannot read marks that function broken and the others are served", "[integration]") {
  Daemon fnd;
  fnd.deploy("good", {{"main.py", kHelloSource}}, R"({"runtime":"python3","handler":"main.handle"})");
  fnd.deploy("damaged", {{"main.py", kHelloSource}}, R"({"runtime":"python3","handler":"main.handle"})");
  fnd.stop();
  // What an older fnd stored for {"cpu":"NaN"}: not JSON at all.
  sqlite(fnd.state_dir() + "/fnd.db",
         "UPDATE revisions SET spec = '{\"runtime\":\"python3\",\"handler\":\"main.handle\",\"resources\":{\"cpu\":NaN}}' "
         "WHERE function = 'damaged';");
  fnd.restart();

  CHECK(fnd.invoke("good", "world").body == "hello world");
  HttpAnswer broken = fnd.invoke("damaged", "x");
  CHECK(broken.status == 500);
  CHECK(broken.error_code() == "function_broken");
  CHECK_THAT(broken.error_message(), Catch::Contains("not JSON") && Catch::Contains("Deploy it again"));
  CHECK_THAT(fnd.log(), Catch::Contains("function 'damaged' cannot be served"));

  HttpAnswer described = fnd.http("GET", "/api/v1/functions/damaged");
  REQUIRE(described.status == 200);
  CHECK(described.json().as_object().contains("broken"));
  HttpAnswer listed = fnd.http("GET", "/api/v1/functions");
  CHECK_THAT(listed.body, Catch::Contains("damaged") && Catch::Contains("good"));

  // Deploying again mends it; deleting works as well.
  fnd.deploy("damaged", {{"main.py", kHelloSource}}, R"({"runtime":"python3","handler":"main.handle"})");
  CHECK(fnd.invoke("damaged", "mended").body == "hello mended");
  CHECK(fnd.http("DELETE", "/api/v1/functions/damaged").status == 200);
}

TEST_CASE("memory beyond the host or the budget is refused at deploy, and a function that cannot fit never evicts",
          "[integration]") {
  Daemon fnd({.config_yaml = "scheduler:\n  memory_budget: 1Gi\n"});
  std::string digest = fnd.upload_code("big", make_code_archive({{"main.py", kHelloSource}}));
  HttpAnswer absurd = put_spec(fnd, "big", with_code(R"({"runtime":"python3","handler":"main.handle","resources":{"memory":"1e30"}})", digest));
  CHECK(absurd.status == 422);
  CHECK_THAT(absurd.error_message(), Catch::Contains("resources.memory"));
  HttpAnswer beyond_host = put_spec(fnd, "big", with_code(R"({"runtime":"python3","handler":"main.handle","resources":{"memory":"900Gi"}})", digest));
  CHECK(beyond_host.status == 422);
  CHECK_THAT(beyond_host.error_message(), Catch::Contains("host's memory"));
  HttpAnswer beyond_budget = put_spec(fnd, "big", with_code(R"({"runtime":"python3","handler":"main.handle","resources":{"memory":"2Gi"}})", digest));
  CHECK(beyond_budget.status == 422);
  CHECK_THAT(beyond_budget.error_message(), Catch::Contains("scheduler.memory_budget"));

  // Stored under a bigger budget, then served under a smaller one: a clear 503 at once, and
  // nobody else's idle instance is stopped for it.
  REQUIRE(put_spec(fnd, "big", with_code(R"({"runtime":"python3","handler":"main.handle","resources":{"memory":"900Mi"}})", digest)).status == 201);
  fnd.set_config("scheduler:\n  memory_budget: 512Mi\n");
  fnd.restart();
  fnd.deploy("small", {{"main.py", kHelloSource}}, R"({"runtime":"python3","handler":"main.handle"})");
  REQUIRE(fnd.invoke("small", "x").status == 200);
  std::set<std::string> small_instances = fnd.instance_ids("small");
  REQUIRE(small_instances.size() == 1);

  auto asked = std::chrono::steady_clock::now();
  HttpAnswer big = fnd.invoke("big", "x");
  auto waited = std::chrono::steady_clock::now() - asked;
  INFO(big.body);
  CHECK(big.status == 503);
  CHECK(big.error_code() == "memory_budget_too_small");
  CHECK_THAT(big.error_message(), Catch::Contains("900Mi") && Catch::Contains("512Mi"));
  CHECK(waited < 2s);
  CHECK(fnd.instance_ids("small") == small_instances);
}

TEST_CASE("env with a NUL byte or beyond the kernel's limits is refused at deploy naming the variable", "[integration]") {
  Daemon fnd;
  std::string digest = fnd.upload_code("envy", make_code_archive({{"main.py", kHelloSource}}));
  json::object nul_env{{"runtime", "python3"}, {"handler", "main.handle"}, {"code", digest},
                       {"env", json::object{{"SECRET", std::string("ab\0cd", 5)}}}};
  HttpAnswer nul = put_spec(fnd, "envy", json::serialize(nul_env));
  CHECK(nul.status == 422);
  CHECK_THAT(nul.error_message(), Catch::Contains("env.SECRET") && Catch::Contains("NUL"));

  json::object huge_env{{"runtime", "python3"}, {"handler", "main.handle"}, {"code", digest},
                        {"env", json::object{{"BLOB", std::string(300 * 1024, 'x')}}}};
  HttpAnswer huge = put_spec(fnd, "envy", json::serialize(huge_env));
  CHECK(huge.status == 422);
  CHECK_THAT(huge.error_message(), Catch::Contains("env.BLOB"));
  CHECK(fnd.http("GET", "/api/v1/functions/envy").status == 404);
}

TEST_CASE("concurrent deploys of one function never mix one deploy's code with another's spec", "[integration]") {
  Daemon fnd;
  constexpr int kDeploys = 20;
  std::vector<std::future<std::string>> deploys;
  for (int i = 0; i < kDeploys; ++i) {
    deploys.push_back(std::async(std::launch::async, [&fnd, i] {
      std::string code = "CODE = " + std::to_string(i) + "\nimport os\n"
                         "def handle(req):\n    return '%s:%s' % (CODE, os.environ['TAG'])\n";
      // No REQUIRE off the test's own thread (Catch2 is not thread safe): failures come back as text.
      HttpAnswer uploaded = fnd.http("PUT", "/api/v1/functions/racy/code", make_code_archive({{"main.py", code}}),
                                     {{"Content-Type", "application/gzip"}});
      if (uploaded.status != 201) return "upload failed: " + std::to_string(uploaded.status) + " " + uploaded.body + uploaded.transport_error;
      std::string digest(json::parse(uploaded.body).at("digest").as_string());
      json::object spec{{"runtime", "python3"}, {"handler", "main.handle"}, {"code", digest},
                        {"env", json::object{{"TAG", std::to_string(i)}}}};
      HttpAnswer answer = put_spec(fnd, "racy", json::serialize(spec));
      return answer.status == 201 || answer.status == 200 ? digest : "spec failed: " + answer.body + answer.transport_error;
    }));
  }
  std::map<std::string, std::string> tag_of_digest;
  for (int i = 0; i < kDeploys; ++i) {
    std::string digest = deploys[static_cast<size_t>(i)].get();
    INFO(digest);
    REQUIRE(digest.starts_with("sha256:"));
    tag_of_digest[digest] = std::to_string(i);
  }

  // Every stored revision pairs one deploy's code with that same deploy's env.
  std::string rows = sqlite(fnd.state_dir() + "/fnd.db",
                            "SELECT code || ' ' || json_extract(spec, '$.env.TAG') FROM revisions WHERE function = 'racy';");
  std::istringstream lines(rows);
  size_t revisions = 0;
  for (std::string line; std::getline(lines, line);) {
    auto space = line.find(' ');
    REQUIRE(space != std::string::npos);
    INFO(line);
    CHECK(tag_of_digest.at(line.substr(0, space)) == line.substr(space + 1));
    ++revisions;
  }
  CHECK(revisions == kDeploys);
  std::string answer = fnd.invoke("racy").body;
  auto colon = answer.find(':');
  REQUIRE(colon != std::string::npos);
  CHECK(answer.substr(0, colon) == answer.substr(colon + 1));
}

TEST_CASE("If-Match and If-None-Match make a deploy conditional on the revision the client saw", "[integration]") {
  Daemon fnd;
  std::string digest = fnd.upload_code("cas", make_code_archive({{"main.py", kHelloSource}}));
  std::string spec = with_code(R"({"runtime":"python3","handler":"main.handle"})", digest);
  HttpAnswer created = put_spec(fnd, "cas", spec, {{"If-None-Match", "*"}});
  REQUIRE(created.status == 201);
  CHECK(created.header("etag") == "\"1\"");
  CHECK(put_spec(fnd, "cas", spec, {{"If-None-Match", "*"}}).status == 412);

  std::string v2 = with_code(R"({"runtime":"python3","handler":"main.handle","env":{"V":"2"}})", digest);
  std::string v3 = with_code(R"({"runtime":"python3","handler":"main.handle","env":{"V":"3"}})", digest);
  REQUIRE(put_spec(fnd, "cas", v2, {{"If-Match", "\"1\""}}).status == 201);
  // A second writer that also saw revision 1 loses, and is told why.
  HttpAnswer stale = put_spec(fnd, "cas", v3, {{"If-Match", "\"1\""}});
  CHECK(stale.status == 412);
  CHECK(stale.error_code() == "revision_mismatch");
  CHECK_THAT(stale.error_message(), Catch::Contains("revision 2, not 1"));
  CHECK(fnd.http("GET", "/api/v1/functions/cas").header("etag") == "\"2\"");
  CHECK(put_spec(fnd, "cas", v3, {{"If-Match", "\"2\""}}).status == 201);
}

}  // namespace fnd::test
