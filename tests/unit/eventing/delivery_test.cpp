#include "eventing/delivery.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/time.hpp"

using namespace std::chrono_literals;
using fnd::eventing::AttemptResult;
using fnd::eventing::AttemptVerdict;
using fnd::eventing::Backoff;
using fnd::eventing::BackoffKind;
using fnd::eventing::DeliveryPolicy;
using std::chrono::milliseconds;

namespace {

AttemptResult status(int code) {
  AttemptResult result;
  result.status = code;
  return result;
}

DeliveryPolicy policy(BackoffKind kind, milliseconds base, double jitter = 0) {
  DeliveryPolicy p;
  p.backoff = {kind, base};
  p.jitter = jitter;
  return p;
}

DeliveryPolicy parse(std::string_view json_text) {
  auto parsed = fnd::eventing::parse_delivery_policy(boost::json::parse(json_text));
  INFO(json_text << ": " << (parsed ? std::string("parsed") : parsed.error().message));
  REQUIRE(parsed.ok());
  return parsed.value();
}

std::string refusal(std::string_view json_text) {
  auto parsed = fnd::eventing::parse_delivery_policy(boost::json::parse(json_text));
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == "invalid_delivery_policy");
  CHECK(parsed.error().http_status == 422);
  return parsed.error().message;
}

}  // namespace

TEST_CASE("defaults: 3 retries, exponential from 200ms, 5m cap, jitter 0.1, 30s timeout", "[unit][dispatch]") {
  const DeliveryPolicy p;
  CHECK(p.retries == 3);
  CHECK(p.backoff.kind == BackoffKind::exponential);
  CHECK(p.backoff.base == 200ms);
  CHECK(p.cap == 5min);
  CHECK(p.jitter == 0.1);
  CHECK(p.timeout == 30s);
  CHECK(fnd::eventing::validate(p).ok());
}

TEST_CASE("linear backoff waits base * n, exponential base * 2^(n-1)", "[unit][dispatch]") {
  const Backoff linear{BackoffKind::linear, 200ms};
  CHECK(fnd::eventing::backoff_delay(linear, 1) == 200ms);
  CHECK(fnd::eventing::backoff_delay(linear, 2) == 400ms);
  CHECK(fnd::eventing::backoff_delay(linear, 5) == 1000ms);
  const Backoff exponential{BackoffKind::exponential, 200ms};
  CHECK(fnd::eventing::backoff_delay(exponential, 1) == 200ms);
  CHECK(fnd::eventing::backoff_delay(exponential, 2) == 400ms);
  CHECK(fnd::eventing::backoff_delay(exponential, 3) == 800ms);
  CHECK(fnd::eventing::backoff_delay(exponential, 4) == 1600ms);
  // A huge retry number saturates instead of overflowing.
  CHECK(fnd::eventing::backoff_delay(exponential, 100) > 24h);
}

TEST_CASE("the cap bounds every delay", "[unit][dispatch]") {
  DeliveryPolicy p = policy(BackoffKind::exponential, 1s);
  p.cap = 5s;
  const AttemptResult failed = status(503);
  CHECK(fnd::eventing::retry_delay(p, 1, failed, 0) == 1s);
  CHECK(fnd::eventing::retry_delay(p, 3, failed, 0) == 4s);
  CHECK(fnd::eventing::retry_delay(p, 4, failed, 0) == 5s);
  CHECK(fnd::eventing::retry_delay(p, 60, failed, 0) == 5s);
}

TEST_CASE("jitter only shortens a delay, by at most its fraction", "[unit][dispatch]") {
  const DeliveryPolicy p = policy(BackoffKind::linear, 1000ms, 0.25);
  const AttemptResult failed = status(500);
  CHECK(fnd::eventing::retry_delay(p, 2, failed, 0.0) == 2000ms);
  CHECK(fnd::eventing::retry_delay(p, 2, failed, 0.5) == 1750ms);
  CHECK(fnd::eventing::retry_delay(p, 2, failed, 0.999) == 1500ms);
  for (double u = 0; u < 1; u += 0.01) {
    const auto delay = fnd::eventing::retry_delay(p, 2, failed, u);
    CHECK(delay <= 2000ms);
    CHECK(delay >= 1500ms);
  }
  // Out-of-range draws are clamped, never lengthening a delay.
  CHECK(fnd::eventing::retry_delay(p, 2, failed, -1) == 2000ms);
  CHECK(fnd::eventing::retry_delay(p, 2, failed, 7) == 1500ms);
}

TEST_CASE("Retry-After of a 429 or 503 is honoured up to the cap", "[unit][dispatch]") {
  DeliveryPolicy p = policy(BackoffKind::exponential, 200ms, 0.5);
  p.cap = 1min;
  AttemptResult throttled = status(429);
  throttled.retry_after = 7s;
  CHECK(fnd::eventing::retry_delay(p, 1, throttled, 0.9) == 7s);
  AttemptResult unavailable = status(503);
  unavailable.retry_after = 10min;
  CHECK(fnd::eventing::retry_delay(p, 1, unavailable, 0) == 1min);
  // A shorter Retry-After than the backoff leaves the backoff.
  unavailable.retry_after = 10ms;
  CHECK(fnd::eventing::retry_delay(p, 1, unavailable, 0) == 200ms);
  // Other statuses do not honour it.
  AttemptResult failed = status(500);
  failed.retry_after = 7s;
  CHECK(fnd::eventing::retry_delay(p, 1, failed, 0) == 200ms);
}

TEST_CASE("what is retried, what is dead-lettered, what is delivered", "[unit][dispatch]") {
  for (int code : {200, 201, 202, 204, 299}) CHECK(fnd::eventing::classify(status(code)) == AttemptVerdict::delivered);
  for (int code : {500, 502, 503, 504, 599, 404, 408, 409, 429, 0}) {
    INFO(code);
    CHECK(fnd::eventing::classify(status(code)) == AttemptVerdict::retry);
  }
  for (int code : {400, 401, 403, 405, 410, 413, 415, 422, 100, 301, 304}) {
    INFO(code);
    CHECK(fnd::eventing::classify(status(code)) == AttemptVerdict::dead_letter);
  }
  AttemptResult timeout;
  timeout.error = std::string(fnd::eventing::kAttemptTimeout);
  CHECK(fnd::eventing::classify(timeout) == AttemptVerdict::retry);
  CHECK(fnd::eventing::to_string(AttemptVerdict::dead_letter) == "dead_letter");
}

TEST_CASE("policy JSON round trip", "[unit][dispatch]") {
  const DeliveryPolicy p =
      parse(R"({"retries": 5, "backoff": "linear:1500ms", "cap": "2m", "jitter": 0.2, "timeout": 10})");
  CHECK(p.retries == 5);
  CHECK(p.backoff == Backoff{BackoffKind::linear, 1500ms});
  CHECK(p.cap == 2min);
  CHECK(p.jitter == 0.2);
  CHECK(p.timeout == 10s);
  const auto json = fnd::eventing::delivery_policy_to_json(p);
  CHECK(boost::json::serialize(json) ==
        R"({"retries":5,"backoff":"linear:1.5s","cap":"2m","jitter":2E-1,"timeout":"10s"})");
  CHECK(parse(boost::json::serialize(json)) == p);
  CHECK(parse("{}") == DeliveryPolicy{});
  CHECK(parse(R"({"retries": null})") == DeliveryPolicy{});
  CHECK(parse(R"({"backoff": "exponential"})").backoff == Backoff{});
}

TEST_CASE("invalid policies are refused naming the field", "[unit][dispatch]") {
  CHECK(refusal("[]") == "delivery field 'delivery': expected an object, got a list");
  CHECK(refusal(R"({"retries": -1})") == "delivery field 'delivery.retries': expected a whole number from 0 to 100");
  CHECK(refusal(R"({"retries": 1.5})") == "delivery field 'delivery.retries': expected a whole number from 0 to 100");
  CHECK(refusal(R"({"retries": "3"})") == "delivery field 'delivery.retries': expected a number, got a string");
  CHECK(refusal(R"({"backoff": "fibonacci:1s"})").starts_with("delivery field 'delivery.backoff': unknown backoff"));
  CHECK(refusal(R"({"backoff": "linear:soon"})").starts_with("delivery field 'delivery.backoff': invalid backoff"));
  CHECK(refusal(R"({"backoff": "linear:0s"})").find("from 1ms to 24h") != std::string::npos);
  CHECK(refusal(R"({"cap": "2d"})").starts_with("delivery field 'delivery.cap': "));
  CHECK(refusal(R"({"jitter": 1.5})") == "delivery field 'delivery.jitter': must be a fraction from 0 to 1");
  CHECK(refusal(R"({"timeout": "0s"})") == "delivery field 'delivery.timeout': must be from 1ms to 1h");
  CHECK(refusal(R"({"retry": 3})").starts_with("delivery field 'delivery.retry': unknown field"));
}

TEST_CASE("backoff text for CLI flags", "[unit][dispatch]") {
  auto exponential = fnd::eventing::parse_backoff("exponential:200ms");
  REQUIRE(exponential.ok());
  CHECK(*exponential == Backoff{BackoffKind::exponential, 200ms});
  auto linear = fnd::eventing::parse_backoff("linear:1m30s");
  REQUIRE(linear.ok());
  CHECK(*linear == Backoff{BackoffKind::linear, 90s});
  auto bare = fnd::eventing::parse_backoff("linear");
  REQUIRE(bare.ok());
  CHECK(*bare == Backoff{BackoffKind::linear, 200ms});
  CHECK(fnd::eventing::format_backoff(*linear) == "linear:1m30s");
  CHECK(fnd::eventing::format_backoff({BackoffKind::exponential, 1234ms}) == "exponential:1.234s");
  auto exact = fnd::eventing::parse_backoff("exponential:1.234s");
  REQUIRE(exact.ok());
  CHECK(exact->base == 1234ms);
  auto bad = fnd::eventing::parse_backoff("expo:1s");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == "invalid_delivery_policy");
  CHECK(bad.error().message.find("exponential:200ms") != std::string::npos);
}

TEST_CASE("validate checks a policy built in code", "[unit][dispatch]") {
  DeliveryPolicy p;
  p.retries = 101;
  CHECK_FALSE(fnd::eventing::validate(p).ok());
  p = DeliveryPolicy{};
  p.jitter = -0.1;
  auto invalid = fnd::eventing::validate(p);
  REQUIRE_FALSE(invalid.ok());
  CHECK(invalid.error().message == "delivery field 'jitter': must be a fraction from 0 to 1");
}

TEST_CASE("Retry-After in seconds and in the three HTTP-date forms", "[unit][dispatch]") {
  const auto parse_at = [](std::string_view value, std::string_view now) {
    const auto at = fnd::parse_rfc3339(now);
    REQUIRE(at.has_value());
    return fnd::eventing::parse_retry_after(value, *at);
  };
  using Wait = std::optional<milliseconds>;
  const std::string_view now = "1994-11-06T08:49:30Z";
  CHECK(parse_at("120", now) == Wait(120s));
  CHECK(parse_at(" 5\t", now) == Wait(5s));
  CHECK(parse_at("0", now) == Wait(0ms));
  CHECK(parse_at("Sun, 06 Nov 1994 08:49:37 GMT", now) == Wait(7s));
  CHECK(parse_at("Sunday, 06-Nov-94 08:49:37 GMT", now) == Wait(7s));
  CHECK(parse_at("Sun Nov  6 08:49:37 1994", now) == Wait(7s));
  CHECK(parse_at("Mon, 07 Nov 1994 08:49:30 GMT", now) == Wait(24h));
  // Rounded up to the millisecond when now falls between two.
  const auto between = fnd::parse_rfc3339(now).value() + std::chrono::microseconds(400);
  CHECK(fnd::eventing::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", between) == Wait(7000ms));
  CHECK(fnd::eventing::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", between + 1ms) == Wait(6999ms));
  // A date already past: no wait beyond the backoff.
  CHECK(parse_at("Sat, 05 Nov 1994 08:49:37 GMT", now) == Wait(0ms));
  // Absurd numbers of seconds are a year (the policy's cap bounds it further).
  CHECK(parse_at("99999999999999999999999", now) == Wait(24h * 366));
  // RFC 850's two-digit year: the latest with those digits not more than 50 years ahead.
  CHECK(parse_at("Sunday, 01-Jan-27 00:00:00 GMT", "2026-12-31T23:59:00Z") == Wait(60s));
  CHECK(parse_at("Thursday, 01-Jan-99 00:00:00 GMT", "2026-12-31T23:59:00Z") == Wait(0ms));  // 1999
  for (std::string_view bad :
       {"", "soon", "-5", "1.5", "5s", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT x",
        "Sun Nov 6 08:49:37 1994", "Sund, 06-Nov-94 08:49:37 GMT"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(parse_at(bad, now).has_value());
  }
}
