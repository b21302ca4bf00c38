// The delivery policy of a trigger: how often a failed delivery is retried, how long each retry
// waits, which answers are worth retrying and how long one attempt may take. Pure logic: no
// clock, no I/O; randomness (jitter) comes in as a number the caller draws.
//
// Attempts and retries: attempt 1 is the first delivery; retry n is attempt n + 1. A policy with
// `retries` = 3 makes at most 4 attempts, then the event goes to the dead-letter sink.
//
// Delays: retry n waits
//   linear       base * n
//   exponential  base * 2^(n-1)
// so the first retry waits one base delay in both; the delay is then capped at `cap` and
// shortened (never lengthened) by jitter: delay * (1 - jitter * u), u drawn uniformly from
// [0, 1). A 429 or 503 with Retry-After waits at least what the server asked for, up to the
// cap (and without jitter).
//
// Which answers retry (classify): 2xx is delivered; 5xx, 404, 408, 409, 429, a timeout and a
// connection error (status 0) are retried; any other status (other 4xx, 1xx, 3xx) goes straight
// to the dead-letter sink: the subscriber has refused the event, sending it again will not help.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/time.hpp"
#include "eventing/cloud_event.hpp"

namespace fnd::eventing {

// 422: a delivery policy (JSON or text) that cannot be used; the message names the field.
inline constexpr std::string_view kInvalidDeliveryPolicy = "invalid_delivery_policy";

// The error codes of an AttemptResult without an HTTP status. A Subscriber may give others
// (a Kafka error name, say); every status-0 result is retried.
inline constexpr std::string_view kAttemptTimeout = "timeout";
inline constexpr std::string_view kConnectionFailed = "connection_failed";

// Limits that keep a policy sane (and a retrying event from pinning the log for ever).
inline constexpr uint32_t kMaxRetries = 100;
inline constexpr std::chrono::milliseconds kMaxBackoffCap = std::chrono::hours(24);
inline constexpr std::chrono::milliseconds kMaxAttemptTimeout = std::chrono::hours(1);
// The most response body an AttemptResult keeps (and a dead letter carries, base64-encoded).
inline constexpr std::size_t kMaxResponseBodyKept = 1024;

enum class BackoffKind { linear, exponential };
std::string_view to_string(BackoffKind kind);  // "linear", "exponential"

struct Backoff {
  BackoffKind kind = BackoffKind::exponential;
  std::chrono::milliseconds base = std::chrono::milliseconds(200);

  bool operator==(const Backoff&) const = default;
};

struct DeliveryPolicy {
  uint32_t retries = 3;  // retries after the first attempt, 0 to kMaxRetries
  Backoff backoff;
  std::chrono::milliseconds cap = std::chrono::minutes(5);       // no retry waits longer
  double jitter = 0.1;                                           // 0 to 1: the largest fraction a delay is shortened by
  std::chrono::milliseconds timeout = std::chrono::seconds(30);  // per attempt, > 0

  bool operator==(const DeliveryPolicy&) const = default;
};

// What one delivery attempt gave. A Subscriber fills it (dispatcher.hpp).
struct AttemptResult {
  int status = 0;     // the HTTP status (a Kafka sink answers 200 once the record is acknowledged); 0: none
  std::string error;  // with status 0: why there was none (kAttemptTimeout, kConnectionFailed, ...)
  std::string body;   // the start of the response body, at most kMaxResponseBodyKept bytes
  std::optional<std::chrono::milliseconds> retry_after;  // the response's Retry-After, if any
  std::optional<CloudEvent> reply;                       // a 2xx response that carried a CloudEvent
};

enum class AttemptVerdict { delivered, retry, dead_letter };
std::string_view to_string(AttemptVerdict verdict);  // "delivered", "retry", "dead_letter"

// What to do after an attempt, by the rules above (the policy does not change them).
AttemptVerdict classify(const AttemptResult& result);
// True for the statuses that are retried (5xx, 404, 408, 409, 429) and for 0.
bool is_retryable_status(int status);

// The delay before retry `retry` (1 = the first retry), before the cap and jitter.
std::chrono::milliseconds backoff_delay(const Backoff& backoff, uint32_t retry);
// The wait before retry `retry` after `result` failed: backoff_delay capped at policy.cap, then
// shortened by jitter with `u` in [0, 1); Retry-After of a 429/503 raises it to what the server
// asked for, still within the cap. Never negative.
std::chrono::milliseconds retry_delay(const DeliveryPolicy& policy, uint32_t retry, const AttemptResult& result,
                                      double u);

// The value of a Retry-After header (RFC 9110 section 10.2.3) as the wait from `now`: either
// delay-seconds ("120") or an HTTP-date, in the preferred IMF-fixdate form ("Sun, 06 Nov 1994
// 08:49:37 GMT") or either obsolete one (RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT", whose
// two-digit year is the latest one not more than 50 years ahead of `now`, and asctime "Sun Nov  6
// 08:49:37 1994"). A date already past is a wait of 0; seconds beyond a year are read as a year
// (retry_delay caps the wait anyway). Surrounding spaces are ignored. nullopt when the value is
// neither form: the caller then waits its backoff, as for no header. A Subscriber fills
// AttemptResult::retry_after with it.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value, SystemTime now);

// Checks the ranges above. kInvalidDeliveryPolicy naming the field.
Status validate(const DeliveryPolicy& policy);

// JSON (fnd's own shape, all members optional, defaults as above):
//   {"retries": 3, "backoff": "exponential:200ms", "cap": "5m", "jitter": 0.1, "timeout": "30s"}
// Durations are strings ("250ms", "30s", "1m30s", "1.5s") or numbers of seconds; written back
// exactly, in format_duration's form (core/units.hpp). Unknown members are
// refused. `path` prefixes field names in errors ("delivery"). Errors: kInvalidDeliveryPolicy, 422.
Result<DeliveryPolicy> parse_delivery_policy(const boost::json::value& json, std::string_view path = "delivery");
boost::json::object delivery_policy_to_json(const DeliveryPolicy& policy);

// The text forms a CLI flag takes (`--backoff exponential:200ms`, `--backoff linear:1s`); a bare
// kind keeps the default base ("linear" is linear:200ms). Errors: kInvalidDeliveryPolicy.
Result<Backoff> parse_backoff(std::string_view text);
std::string format_backoff(const Backoff& backoff);  // "exponential:200ms", "linear:1.5s"

}  // namespace fnd::eventing
