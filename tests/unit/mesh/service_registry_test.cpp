// The registry's bookkeeping without calls: what it stores and loads again, how the effective
// policy adapts to observed durations, the retry budget and authorization with their counters.
// No network (health checks start only with start(), which these tests do not call).
#include "mesh/service_registry.hpp"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "core/metrics.hpp"
#include "store/database.hpp"
#include "store/resource_repository.hpp"
#include "unit/mesh/fake_clock.hpp"

using namespace std::chrono_literals;
namespace json = boost::json;
using fnd::mesh::CallPolicyOverrides;
using fnd::mesh::MeshOptions;
using fnd::mesh::PolicySource;
using fnd::mesh::ServiceRegistry;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fnd-service-registry-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

struct Fixture {
  TempDir dir;
  std::unique_ptr<fnd::store::Database> db;
  std::unique_ptr<fnd::store::ResourceRepository> resources;
  boost::asio::io_context io;
  fnd::mesh::test::FakeClock clock;
  fnd::MetricsRegistry metrics;

  Fixture() {
    auto opened = fnd::store::Database::open((dir.path / "fnd.db").string());
    REQUIRE(opened);
    db = std::move(*opened);
    resources = std::make_unique<fnd::store::ResourceRepository>(*db);
  }
  std::unique_ptr<ServiceRegistry> registry(bool authorization = false) {
    MeshOptions options;
    options.authorization = authorization;
    return std::make_unique<ServiceRegistry>(
        ServiceRegistry::Services{io.get_executor(), *resources, clock, metrics, nullptr}, options);
  }
};

fnd::mesh::ServiceSpec users_spec() {
  auto spec = fnd::mesh::parse_service_spec(
      json::parse(R"({"urls":["http://127.0.0.1:9001","http://127.0.0.1:9002"],"health":{"path":"/healthz"}})"),
      "users");
  REQUIRE(spec);
  return *spec;
}

bool has_line(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

}  // namespace

TEST_CASE("services, policies and rules are stored and come back at the next load", "[unit]") {
  Fixture f;
  {
    auto registry = f.registry();
    REQUIRE(registry->load());
    auto created = registry->put_service(users_spec());
    REQUIRE(created);
    CHECK(*created);
    CHECK_FALSE(*registry->put_service(users_spec()));  // replaced
    CallPolicyOverrides policy;
    policy.timeout = 800ms;
    REQUIRE(registry->put_policy("pricing", policy));
    auto rule = fnd::mesh::parse_authz_rule(json::parse(R"({"from":["checkout"],"to":"pricing"})"), "checkout-pricing");
    REQUIRE(rule);
    REQUIRE(registry->put_rule(*rule));
  }
  auto registry = f.registry();
  REQUIRE(registry->load());
  CHECK(registry->has_service("users"));
  auto described = registry->service_json("users");
  REQUIRE(described);
  CHECK(described->at("endpoints").as_array().size() == 2);
  CHECK(described->at("endpoints").at(0).at("healthy") == true);
  CHECK(registry->effective_policy("pricing").timeout.value == 800ms);
  CHECK(registry->effective_policy("pricing").timeout.source == PolicySource::set);
  CHECK(registry->rules_json().size() == 1);

  REQUIRE(registry->delete_service("users"));
  auto missing = registry->delete_service("users");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == "service_not_found");
  CHECK_FALSE(registry->service_json("users"));
  REQUIRE(registry->delete_policy("pricing"));
  CHECK(registry->delete_policy("pricing").error().code == "call_policy_not_found");
  CHECK(registry->delete_rule("nope").error().code == "rule_not_found");
  CHECK(f.resources->list("service")->empty());
}

TEST_CASE("the effective policy adapts to the durations observed, after enough of them", "[unit]") {
  Fixture f;
  auto registry = f.registry();
  REQUIRE(registry->load());
  for (int i = 0; i < 19; ++i) registry->observe_duration("pricing", 20ms);
  CHECK(registry->effective_policy("pricing").timeout.source == PolicySource::by_default);
  registry->observe_duration("pricing", 50ms);
  auto short_target = registry->effective_policy("pricing");
  CHECK(short_target.timeout.source == PolicySource::adapted);
  CHECK(short_target.timeout.value == 200ms);  // 4 x p99 (50 ms)
  CHECK(short_target.retries.value == 2);
  CHECK(registry->policy_json("pricing").at("observedP99") == "50ms");

  for (int i = 0; i < 20; ++i) registry->observe_duration("report", 3s);
  auto long_target = registry->effective_policy("report");
  CHECK(long_target.timeout.value == 60s);
  CHECK(long_target.retries.value == 0);
  CHECK(long_target.retries.source == PolicySource::adapted);

  CallPolicyOverrides set;
  set.retries = 1;
  REQUIRE(registry->put_policy("report", set));
  CHECK(registry->effective_policy("report").retries.source == PolicySource::set);
  CHECK(registry->effective_policy("report").timeout.source == PolicySource::adapted);
}

TEST_CASE("retries are bounded by the target's budget and both outcomes are counted", "[unit]") {
  Fixture f;
  auto registry = f.registry();
  REQUIRE(registry->load());
  for (int i = 0; i < 10; ++i) registry->record_function_request("pricing");
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += registry->try_retry("pricing") ? 1 : 0;
  CHECK(allowed == 3);  // the floor of 3 a second (20% of 10 requests is 2)
  const std::string metrics = f.metrics.render();
  CHECK(has_line(metrics, R"(fnd_mesh_retries_total{target="pricing"} 3)"));
  CHECK(has_line(metrics, R"(fnd_mesh_retry_budget_exhausted_total{target="pricing"} 7)"));
}

TEST_CASE("authorization: off allows all, on denies what no rule allows and counts it", "[unit]") {
  Fixture f;
  auto open = f.registry(false);
  REQUIRE(open->load());
  CHECK(open->authorize("checkout", "pricing", "GET", "/quote"));

  auto guarded = f.registry(true);
  REQUIRE(guarded->load());
  auto denied = guarded->authorize("checkout", "pricing", "GET", "/quote");
  REQUIRE_FALSE(denied);
  CHECK(denied.error().code == "call_denied");
  CHECK(denied.error().http_status == 403);
  CHECK(denied.error().message.find("'checkout'") != std::string::npos);
  CHECK(denied.error().message.find("'pricing'") != std::string::npos);

  auto allow = fnd::mesh::parse_authz_rule(
      json::parse(R"({"from":["checkout"],"to":"pricing","methods":["GET"],"paths":["/quote"]})"), "quotes");
  REQUIRE(allow);
  REQUIRE(guarded->put_rule(*allow));
  CHECK(guarded->authorize("checkout", "pricing", "GET", "/quote/7"));
  CHECK_FALSE(guarded->authorize("checkout", "pricing", "POST", "/quote"));
  auto deny = fnd::mesh::parse_authz_rule(
      json::parse(R"({"effect":"deny","from":"*","to":"pricing","paths":["/quote/secret"]})"), "secrets");
  REQUIRE(deny);
  REQUIRE(guarded->put_rule(*deny));
  auto secret = guarded->authorize("checkout", "pricing", "GET", "/quote/secret");
  REQUIRE_FALSE(secret);
  CHECK(secret.error().message.find("'secrets'") != std::string::npos);
  CHECK(has_line(f.metrics.render(), R"(fnd_mesh_authz_denied_total{caller="checkout",target="pricing"} 3)"));
}

TEST_CASE("functions are known from the deployment events", "[unit]") {
  Fixture f;
  auto registry = f.registry();
  REQUIRE(registry->load());
  CHECK_FALSE(registry->has_function("pricing"));
  registry->function_deployed("pricing");
  CHECK(registry->has_function("pricing"));
  registry->function_deleted("pricing");
  CHECK_FALSE(registry->has_function("pricing"));
}
