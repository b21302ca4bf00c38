// The policy for calls to one target (a function or service) through the mesh: timeout,
// retries, outlier ejection. Defaults are tuned per target from its observed execution time, as
// DESIGN.md says: a short-lived function gets a tight timeout and retries, a long-running one a
// generous timeout and no automatic retries (retrying a 5-minute job doubles it). Whatever the
// user sets wins. Every value records where it came from, so that describe can say why.
//
// Pure functions and plain values: no clock, no I/O, safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/error.hpp"
#include "mesh/outlier_detector.hpp"

namespace fnd::mesh {

// Error code of validate(const CallPolicyOverrides&): 422.
inline constexpr std::string_view kInvalidCallPolicy = "invalid_call_policy";
inline bool is_invalid_call_policy(const Error& e) { return e.code == kInvalidCallPolicy; }

enum class PolicySource {
  by_default,  // the built-in default: nothing observed about the target, nothing set
  adapted,     // tuned from the target's observed execution time
  set,         // set by the user
};
std::string_view to_string(PolicySource source);  // "default", "adapted", "set"

template <typename T>
struct PolicyValue {
  T value{};
  PolicySource source = PolicySource::by_default;
};

// The built-in defaults, and the bounds of the adaptation.
inline constexpr std::chrono::milliseconds kDefaultTimeout{30'000};
inline constexpr uint32_t kDefaultRetries = 1;
inline constexpr std::chrono::milliseconds kShortTargetP99{1'000};  // p99 below this: a short target
inline constexpr std::chrono::milliseconds kShortTimeoutMin{100};
// Out of reach while a short target means p99 < 1 s (4 x p99 < 4 s); it keeps the timeout sane
// should kShortTargetP99 ever be raised.
inline constexpr std::chrono::milliseconds kShortTimeoutMax{10'000};
inline constexpr uint32_t kShortTargetRetries = 2;
inline constexpr std::chrono::milliseconds kLongTimeoutMin{60'000};

struct CallPolicy {
  PolicyValue<std::chrono::milliseconds> timeout{kDefaultTimeout};  // for one attempt
  PolicyValue<uint32_t> retries{kDefaultRetries};                   // attempts after the first
  PolicyValue<bool> retry_non_idempotent{false};                    // retry POST/PATCH on 502/503/504 too
  PolicyValue<uint32_t> eject_consecutive_5xx{kDefaultConsecutiveErrors};
  PolicyValue<std::chrono::milliseconds> base_ejection{kDefaultBaseEjection};
  PolicyValue<uint32_t> max_ejected_percent{kDefaultMaxEjectedPercent};
};

// What the user set for a target; unset fields are left to the defaults or the adaptation.
struct CallPolicyOverrides {
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<uint32_t> retries;
  std::optional<bool> retry_non_idempotent;
  std::optional<uint32_t> eject_consecutive_5xx;
  std::optional<std::chrono::milliseconds> base_ejection;
  std::optional<uint32_t> max_ejected_percent;
};

// Errors (422 invalid_call_policy): a timeout or base ejection of zero or less, an ejection
// threshold of 0, a max ejected percent above 100.
Status validate(const CallPolicyOverrides& overrides);

// The policy for a target whose execution time has p99 `observed_p99` (nullopt: not enough
// observations yet; the caller decides how many are enough), with `overrides` applied:
// - short target (p99 < 1 s): timeout = clamp(4 x p99, 100 ms, 10 s), 2 retries (adapted);
// - long target (p99 >= 1 s): timeout = max(2 x p99, 60 s), no retries (adapted);
// - nothing observed: timeout 30 s, 1 retry (default).
// The other fields keep their defaults. A field in `overrides` always wins (set).
// `overrides` is expected to have passed validate().
CallPolicy effective_call_policy(std::optional<std::chrono::milliseconds> observed_p99,
                                 const CallPolicyOverrides& overrides);

// GET, HEAD, OPTIONS, PUT, DELETE (RFC 9110 9.2.2; TRACE is never proxied). Methods are case
// sensitive: "get" is not GET.
bool is_idempotent(std::string_view method);
// 502, 503, 504: the target (or the way to it) failed before it could have done the work, or
// said so. Other 5xx may have done part of it.
bool is_retryable_status(int http_status);

// Whether a call that got `http_status` (nullopt: the connection could not be made) may be
// tried again, after `retries_done` retries. A connect error is always retryable, whatever the
// method: nothing was sent. A retryable status is, for an idempotent method or when
// retry_non_idempotent is on. The retry budget is asked separately, and last.
bool may_retry(const CallPolicy& policy, std::string_view method, std::optional<int> http_status,
               uint32_t retries_done);

// The outlier detector's settings for `policy` (max_ejection keeps its default).
OutlierDetectorSettings outlier_settings(const CallPolicy& policy);

}  // namespace fnd::mesh
