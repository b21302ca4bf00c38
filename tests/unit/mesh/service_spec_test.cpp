#include "mesh/service_spec.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

using namespace std::chrono_literals;
namespace json = boost::json;
using fnd::mesh::parse_authz_rule;
using fnd::mesh::parse_call_policy;
using fnd::mesh::parse_service_spec;
using fnd::mesh::parse_service_url;
using fnd::mesh::RuleEffect;

TEST_CASE("service URLs: http and https with a host, an optional port and base path", "[unit]") {
  auto plain = parse_service_url("http://users.internal");
  REQUIRE(plain);
  CHECK_FALSE(plain->tls);
  CHECK(plain->host == "users.internal");
  CHECK(plain->port == 80);
  CHECK(plain->base_path.empty());

  auto secure = parse_service_url("https://127.0.0.1:9001/api/");
  REQUIRE(secure);
  CHECK(secure->tls);
  CHECK(secure->host == "127.0.0.1");
  CHECK(secure->port == 9001);
  CHECK(secure->base_path == "/api");
  CHECK(secure->text == "https://127.0.0.1:9001/api");

  auto v6 = parse_service_url("https://[::1]:8443");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 8443);
  CHECK(parse_service_url("https://[::1]")->port == 443);

  for (const char* bad : {"ftp://x", "users:80", "http://", "http://u:p@host", "http://h:0", "http://h:70000",
                          "http://h/?q=1", "http://h:x", "http://[::1"}) {
    INFO(bad);
    auto parsed = parse_service_url(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == "invalid_service");
    CHECK(parsed.error().http_status == 422);
  }
}

TEST_CASE("a service spec takes its name from the path and checks every field", "[unit]") {
  auto spec = parse_service_spec(json::parse(R"({"urls":["https://a:1","https://b:2"],
      "health":{"path":"/healthz","interval":"5s","timeout":"1s","healthyThreshold":1,"unhealthyThreshold":2},
      "tls":{"ca":"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n","spiffeId":"spiffe://td/svc/users"}})"),
                                 "users");
  REQUIRE(spec);
  CHECK(spec->name == "users");
  CHECK(spec->urls.size() == 2);
  CHECK(spec->health.path == "/healthz");
  CHECK(spec->health.interval == 5s);
  CHECK(spec->health.timeout == 1s);
  CHECK(spec->health.healthy_threshold == 1);
  CHECK(spec->health.unhealthy_threshold == 2);
  CHECK(spec->spiffe_id == "spiffe://td/svc/users");

  // What is written reads back the same.
  auto again = parse_service_spec(json::value(fnd::mesh::service_spec_to_json(*spec)), "users");
  REQUIRE(again);
  CHECK(json::serialize(fnd::mesh::service_spec_to_json(*again)) ==
        json::serialize(fnd::mesh::service_spec_to_json(*spec)));

  auto defaults = parse_service_spec(json::parse(R"({"urls":"http://a"})"), "a");
  REQUIRE(defaults);
  CHECK(defaults->health.path.empty());
  CHECK(defaults->health.interval == 10s);

  for (const char* bad :
       {R"({"urls":[]})", R"({"name":"other","urls":["http://a"]})", R"({"urls":["http://a","http://a"]})",
        R"({"urls":["http://a"],"health":{"path":"healthz"}})",
        R"({"urls":["http://a"],"health":{"path":"/h","interval":"10ms"}})",
        R"({"urls":["http://a"],"health":{"path":"/h","interval":"1s","timeout":"2s"}})",
        R"({"urls":["http://a"],"health":{"path":"/h","unhealthyThreshold":0}})",
        R"({"urls":["http://a"],"tls":{"ca":"not pem"}})", R"({"urls":["http://a"],"tls":{"spiffeId":"https://x"}})",
        R"({"urls":["http://a"],"tls":{"spiffeId":"spiffe://x/y","serverName":"x"}})", R"([1])"}) {
    INFO(bad);
    auto parsed = parse_service_spec(json::parse(bad), "a");
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == "invalid_service");
  }
  CHECK_FALSE(parse_service_spec(json::parse(R"({"urls":["http://a"]})"), "Not_A_Name"));
}

TEST_CASE("a call policy body sets only what it names, and refuses what cannot work", "[unit]") {
  auto policy = parse_call_policy(json::parse(R"({"timeout":"800ms","retries":2,"eject":{"consecutive5xx":5}})"));
  REQUIRE(policy);
  CHECK(policy->timeout == 800ms);
  CHECK(policy->retries == 2u);
  CHECK(policy->eject_consecutive_5xx == 5u);
  CHECK_FALSE(policy->base_ejection);
  CHECK_FALSE(policy->retry_non_idempotent);
  CHECK(json::serialize(fnd::mesh::call_policy_to_json(*policy)) ==
        R"({"timeout":"800ms","retries":2,"eject":{"consecutive5xx":5}})");

  auto effective = fnd::mesh::effective_policy_to_json(fnd::mesh::effective_call_policy(std::nullopt, *policy));
  CHECK(effective.at("timeout").at("source") == "set");
  CHECK(effective.at("baseEjection").at("value") == "30s");
  CHECK(effective.at("baseEjection").at("source") == "default");

  for (const char* bad : {R"({"timeout":"0s"})", R"({"timeout":"soon"})", R"({"retries":-1})", R"({"retries":"2"})",
                          R"({"eject":{"consecutive5xx":0}})", R"({"eject":{"maxEjectedPercent":101}})",
                          R"({"retryNonIdempotent":"yes"})", R"("x")"}) {
    INFO(bad);
    auto parsed = parse_call_policy(json::parse(bad));
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == "invalid_call_policy");
  }
}

TEST_CASE("an authorization rule body: allow by default, deny when said, validated as a rule", "[unit]") {
  auto rule = parse_authz_rule(
      json::parse(R"({"from":["checkout"],"to":"pricing","methods":["GET"],"paths":["/quote"]})"), "quote-reads");
  REQUIRE(rule);
  CHECK(rule->name == "quote-reads");
  CHECK(rule->effect == RuleEffect::allow);
  CHECK(rule->from == std::vector<std::string>{"checkout"});
  CHECK(rule->path_prefixes == std::vector<std::string>{"/quote"});
  auto round = parse_authz_rule(json::value(fnd::mesh::authz_rule_to_json(*rule)), "quote-reads");
  REQUIRE(round);
  CHECK(round->methods == rule->methods);

  auto deny = parse_authz_rule(json::parse(R"({"effect":"deny","from":"*","to":"*"})"), "lockdown");
  REQUIRE(deny);
  CHECK(deny->effect == RuleEffect::deny);

  for (const char* bad :
       {R"({"from":["checkout"]})", R"({"effect":"maybe","from":["a"],"to":"b"})", R"({"from":[],"to":"b"})",
        R"({"from":["a"],"to":"b","methods":["get"]})", R"({"from":["a"],"to":"b","paths":["quote"]})"}) {
    INFO(bad);
    auto parsed = parse_authz_rule(json::parse(bad), "r");
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == "invalid_rule");
  }
}
