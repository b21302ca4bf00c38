#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "mesh/authorization.hpp"

using fnd::mesh::AuthorizationPolicy;
using fnd::mesh::AuthorizationRule;
using fnd::mesh::RuleEffect;

namespace {
AuthorizationRule rule(std::string name, RuleEffect effect, std::vector<std::string> from, std::string to,
                       std::vector<std::string> methods = {}, std::vector<std::string> paths = {}) {
  return AuthorizationRule{std::move(name),    effect,          std::move(from), std::move(to),
                           std::move(methods), std::move(paths)};
}

AuthorizationPolicy make(std::vector<AuthorizationRule> rules) {
  auto p = AuthorizationPolicy::create(true, std::move(rules));
  REQUIRE(p.ok());
  return std::move(p).value();
}

void expect_invalid(AuthorizationRule r, const std::string& needle) {
  auto p = AuthorizationPolicy::create(true, {std::move(r)});
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().code == fnd::mesh::kInvalidRule);
  CHECK(p.error().http_status == 422);
  CHECK(fnd::mesh::is_invalid_rule(p.error()));
  CHECK_THAT(p.error().message, Catch::Contains(needle));
}
}  // namespace

TEST_CASE("disabled: every call is allowed", "[unit]") {
  AuthorizationPolicy off;
  auto d = off.check("a", "b", "POST", "/x");
  CHECK(d.allowed);
  CHECK_THAT(d.reason, Catch::Contains("off"));
  // Rules are kept but not applied while disabled.
  auto p = AuthorizationPolicy::create(false, {rule("no", RuleEffect::deny, {"*"}, "*")});
  REQUIRE(p.ok());
  CHECK(p->check("a", "b", "GET", "/").allowed);
  CHECK_FALSE(p->enabled());
}

TEST_CASE("enabled with no rule: everything is denied, and the reason says so", "[unit]") {
  auto p = make({});
  auto d = p.check("frontend", "billing", "GET", "/invoices");
  CHECK_FALSE(d.allowed);
  CHECK_THAT(d.reason, Catch::Contains("no rule allows 'frontend' to call 'billing'"));
}

TEST_CASE("an allow rule allows what it matches and nothing else", "[unit]") {
  auto p = make({rule("front-to-billing", RuleEffect::allow, {"frontend", "checkout"}, "billing", {"GET", "POST"},
                      {"/invoices"})});
  auto d = p.check("frontend", "billing", "GET", "/invoices/42");
  CHECK(d.allowed);
  CHECK_THAT(d.reason, Catch::Contains("'frontend'") && Catch::Contains("'billing'") &&
                           Catch::Contains("rule 'front-to-billing'"));
  CHECK(p.check("checkout", "billing", "POST", "/invoices").allowed);
  CHECK_FALSE(p.check("intruder", "billing", "GET", "/invoices").allowed);     // caller
  CHECK_FALSE(p.check("frontend", "payroll", "GET", "/invoices").allowed);     // target
  CHECK_FALSE(p.check("frontend", "billing", "DELETE", "/invoices").allowed);  // method
  CHECK_FALSE(p.check("frontend", "billing", "get", "/invoices").allowed);     // methods are case sensitive
  CHECK_FALSE(p.check("frontend", "billing", "GET", "/refunds").allowed);      // path
  CHECK_FALSE(p.check("frontend", "billing", "GET", "/invoicesx").allowed);    // prefix at a segment boundary
}

TEST_CASE("deny wins over allow, whatever the order", "[unit]") {
  auto allow_all = rule("everyone", RuleEffect::allow, {"*"}, "*");
  auto deny_admin = rule("no-admin", RuleEffect::deny, {"*"}, "billing", {}, {"/admin/"});
  for (const auto& rules : {std::vector{allow_all, deny_admin}, std::vector{deny_admin, allow_all}}) {
    auto p = make(rules);
    auto d = p.check("frontend", "billing", "GET", "/admin/users");
    CHECK_FALSE(d.allowed);
    CHECK_THAT(d.reason, Catch::Contains("'frontend' may not call 'billing'") && Catch::Contains("rule 'no-admin'"));
    CHECK(p.check("frontend", "billing", "GET", "/invoices").allowed);
    CHECK(p.check("frontend", "payroll", "GET", "/admin/users").allowed);
  }
}

TEST_CASE("a deny without an allow still denies, naming the deny rule", "[unit]") {
  auto p = make({rule("", RuleEffect::deny, {"batch"}, "*")});
  auto d = p.check("batch", "billing", "GET", "/");
  CHECK_FALSE(d.allowed);
  CHECK_THAT(d.reason, Catch::Contains("rule #1"));
}

TEST_CASE("an unnamed rule is named by its position", "[unit]") {
  auto p = make({rule("", RuleEffect::allow, {"a"}, "b"), rule("", RuleEffect::allow, {"*"}, "c")});
  CHECK_THAT(p.check("x", "c", "GET", "/").reason, Catch::Contains("allowed by rule #2"));
}

TEST_CASE("prefixes match at segment boundaries, and '/' matches everything", "[unit]") {
  auto p = make({rule("api", RuleEffect::allow, {"*"}, "*", {}, {"/api"}),
                 rule("root", RuleEffect::allow, {"*"}, "docs", {}, {"/"})});
  CHECK(p.check("a", "b", "GET", "/api").allowed);
  CHECK(p.check("a", "b", "GET", "/api/v1").allowed);
  CHECK_FALSE(p.check("a", "b", "GET", "/apiv1").allowed);
  CHECK(p.check("a", "docs", "GET", "/anything/at/all").allowed);
}

TEST_CASE("a path that is not normalized is denied so that a prefix cannot be dodged", "[unit]") {
  auto p = make(
      {rule("all", RuleEffect::allow, {"*"}, "*"), rule("no-admin", RuleEffect::deny, {"*"}, "*", {}, {"/admin"})});
  CHECK_FALSE(p.check("a", "b", "GET", "/public/../admin").allowed);
  CHECK_FALSE(p.check("a", "b", "GET", "/./admin").allowed);
  CHECK_FALSE(p.check("a", "b", "GET", "admin").allowed);
  CHECK_FALSE(p.check("a", "b", "GET", "").allowed);
  CHECK_THAT(p.check("a", "b", "GET", "/x/..").reason, Catch::Contains("not normalized"));
  CHECK(p.check("a", "b", "GET", "/public/..hidden").allowed);  // a name, not a dot segment
}

TEST_CASE("rules are validated", "[unit]") {
  expect_invalid(rule("r", RuleEffect::allow, {}, "b"), "no 'from'");
  expect_invalid(rule("r", RuleEffect::allow, {"*", "a"}, "b"), "\"*\" already means any caller");
  expect_invalid(rule("r", RuleEffect::allow, {"Front_End"}, "b"), "Front_End");
  expect_invalid(rule("r", RuleEffect::allow, {"a"}, ""), "no 'to'");
  expect_invalid(rule("r", RuleEffect::allow, {"a"}, "Billing"), "Billing");
  expect_invalid(rule("r", RuleEffect::allow, {"a"}, "b", {"get"}), "such as 'GET'");
  expect_invalid(rule("r", RuleEffect::allow, {"a"}, "b", {""}), "methods are upper case");
  expect_invalid(rule("r", RuleEffect::allow, {"a"}, "b", {}, {"api"}), "path prefix 'api'");
  expect_invalid(rule("r", RuleEffect::allow, {"a"}, "b", {}, {"/a/../b"}), "path prefix");
  expect_invalid(rule("r", RuleEffect::allow, {"a"}, "b", {}, {"/a?x=1"}), "path prefix");
  expect_invalid(rule("Bad Name", RuleEffect::allow, {"a"}, "b"), "Bad Name");
  // The message names the rule.
  expect_invalid(rule("", RuleEffect::allow, {}, "b"), "rule #1");
}

TEST_CASE("two rules may not share a name", "[unit]") {
  auto p = AuthorizationPolicy::create(
      true, {rule("same", RuleEffect::allow, {"a"}, "b"), rule("same", RuleEffect::deny, {"c"}, "d")});
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().code == fnd::mesh::kInvalidRule);
  CHECK_THAT(p.error().message, Catch::Contains("two rules are named 'same'"));
}

TEST_CASE("effects have names", "[unit]") {
  CHECK(fnd::mesh::to_string(RuleEffect::allow) == "allow");
  CHECK(fnd::mesh::to_string(RuleEffect::deny) == "deny");
}
