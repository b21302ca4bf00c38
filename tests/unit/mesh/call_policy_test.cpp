#include <catch2/catch.hpp>

#include <chrono>
#include <optional>

#include "mesh/call_policy.hpp"

using namespace std::chrono_literals;
using fnd::mesh::CallPolicy;
using fnd::mesh::CallPolicyOverrides;
using fnd::mesh::effective_call_policy;
using fnd::mesh::PolicySource;

TEST_CASE("with nothing observed and nothing set, the defaults apply", "[unit]") {
  CallPolicy p = effective_call_policy(std::nullopt, {});
  CHECK(p.timeout.value == 30s);
  CHECK(p.timeout.source == PolicySource::by_default);
  CHECK(p.retries.value == 1);
  CHECK(p.retries.source == PolicySource::by_default);
  CHECK_FALSE(p.retry_non_idempotent.value);
  CHECK(p.eject_consecutive_5xx.value == 5);
  CHECK(p.base_ejection.value == 30s);
  CHECK(p.max_ejected_percent.value == 50);
  CHECK(to_string(p.timeout.source) == "default");
}

TEST_CASE("a short target gets 4 x p99 within 100 ms..10 s and two retries", "[unit]") {
  CallPolicy p = effective_call_policy(120ms, {});
  CHECK(p.timeout.value == 480ms);
  CHECK(p.timeout.source == PolicySource::adapted);
  CHECK(p.retries.value == 2);
  CHECK(p.retries.source == PolicySource::adapted);
  CHECK(to_string(p.retries.source) == "adapted");
  // The fields not adapted keep their defaults.
  CHECK(p.eject_consecutive_5xx.source == PolicySource::by_default);

  CHECK(effective_call_policy(5ms, {}).timeout.value == 100ms);  // floor
  CHECK(effective_call_policy(0ms, {}).timeout.value == 100ms);
  CHECK(effective_call_policy(999ms, {}).timeout.value == 3996ms);
}

TEST_CASE("a long target gets max(2 x p99, 60 s) and no retries", "[unit]") {
  CallPolicy p = effective_call_policy(1s, {});  // 1 s is already long
  CHECK(p.timeout.value == 60s);
  CHECK(p.timeout.source == PolicySource::adapted);
  CHECK(p.retries.value == 0);
  CHECK(p.retries.source == PolicySource::adapted);
  CHECK(effective_call_policy(45s, {}).timeout.value == 90s);
  CHECK(effective_call_policy(10min, {}).timeout.value == 20min);
}

TEST_CASE("a value the user set always wins and says set", "[unit]") {
  CallPolicyOverrides o;
  o.timeout = 5s;
  o.retries = 3;
  o.retry_non_idempotent = true;
  o.eject_consecutive_5xx = 2;
  o.base_ejection = 10s;
  o.max_ejected_percent = 20;
  using Ms = std::chrono::milliseconds;
  for (std::optional<Ms> p99 : {std::optional<Ms>{}, std::optional<Ms>{50ms}, std::optional<Ms>{2min}}) {
    CallPolicy p = effective_call_policy(p99, o);
    CHECK(p.timeout.value == 5s);
    CHECK(p.timeout.source == PolicySource::set);
    CHECK(p.retries.value == 3);
    CHECK(p.retries.source == PolicySource::set);
    CHECK(p.retry_non_idempotent.value);
    CHECK(p.retry_non_idempotent.source == PolicySource::set);
    CHECK(p.eject_consecutive_5xx.value == 2);
    CHECK(p.base_ejection.value == 10s);
    CHECK(p.max_ejected_percent.value == 20);
    CHECK(p.max_ejected_percent.source == PolicySource::set);
  }
  CHECK(to_string(PolicySource::set) == "set");
}

TEST_CASE("setting one field leaves the others adapted", "[unit]") {
  CallPolicyOverrides o;
  o.retries = 0;
  CallPolicy p = effective_call_policy(200ms, o);
  CHECK(p.retries.value == 0);
  CHECK(p.retries.source == PolicySource::set);
  CHECK(p.timeout.value == 800ms);
  CHECK(p.timeout.source == PolicySource::adapted);
}

TEST_CASE("idempotent methods and retryable statuses", "[unit]") {
  using fnd::mesh::is_idempotent;
  using fnd::mesh::is_retryable_status;
  for (auto m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}) CHECK(is_idempotent(m));
  for (auto m : {"POST", "PATCH", "CONNECT", "TRACE", "get", ""}) CHECK_FALSE(is_idempotent(m));
  for (int s : {502, 503, 504}) CHECK(is_retryable_status(s));
  for (int s : {200, 400, 404, 429, 500, 501, 505}) CHECK_FALSE(is_retryable_status(s));
}

TEST_CASE("may_retry: status, method, connect errors and the retry count", "[unit]") {
  using fnd::mesh::may_retry;
  CallPolicy p = effective_call_policy(100ms, {});  // 2 retries
  CHECK(may_retry(p, "GET", 503, 0));
  CHECK(may_retry(p, "GET", 503, 1));
  CHECK_FALSE(may_retry(p, "GET", 503, 2));
  CHECK_FALSE(may_retry(p, "GET", 500, 0));
  CHECK_FALSE(may_retry(p, "POST", 503, 0));
  CHECK(may_retry(p, "POST", std::nullopt, 0));  // nothing was sent
  CHECK_FALSE(may_retry(p, "POST", std::nullopt, 2));

  CallPolicyOverrides o;
  o.retry_non_idempotent = true;
  CallPolicy q = effective_call_policy(100ms, o);
  CHECK(may_retry(q, "POST", 502, 0));
  CHECK_FALSE(may_retry(q, "POST", 500, 0));

  CallPolicy long_running = effective_call_policy(30s, {});
  CHECK_FALSE(may_retry(long_running, "GET", 503, 0));
  CHECK_FALSE(may_retry(long_running, "GET", std::nullopt, 0));
}

TEST_CASE("overrides are validated", "[unit]") {
  using fnd::mesh::validate;
  CHECK(validate(CallPolicyOverrides{}).ok());
  auto expect_invalid = [](CallPolicyOverrides o, const char* needle) {
    auto s = validate(o);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == fnd::mesh::kInvalidCallPolicy);
    CHECK(s.error().http_status == 422);
    CHECK_THAT(s.error().message, Catch::Contains(needle));
  };
  CallPolicyOverrides o;
  o.timeout = 0ms;
  expect_invalid(o, "timeout");
  o = {};
  o.eject_consecutive_5xx = 0;
  expect_invalid(o, "eject_consecutive_5xx");
  o = {};
  o.base_ejection = -1s;
  expect_invalid(o, "base_ejection");
  o = {};
  o.max_ejected_percent = 101;
  expect_invalid(o, "max_ejected_percent");
}

TEST_CASE("the policy gives the outlier detector its settings", "[unit]") {
  CallPolicyOverrides o;
  o.eject_consecutive_5xx = 3;
  o.base_ejection = 10min;
  o.max_ejected_percent = 30;
  auto s = fnd::mesh::outlier_settings(effective_call_policy(std::nullopt, o));
  CHECK(s.consecutive_errors == 3);
  CHECK(s.base_ejection == 10min);
  CHECK(s.max_ejected_percent == 30);
  CHECK(s.max_ejection == 10min);  // raised to the base
  CHECK(fnd::mesh::outlier_settings(CallPolicy{}).max_ejection == 300s);
}
