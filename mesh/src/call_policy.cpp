#include "mesh/call_policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

namespace fnd::mesh {

namespace {

Error invalid(std::string message) { return make_error(std::string(kInvalidCallPolicy), std::move(message), 422); }

template <typename T>
void apply(PolicyValue<T>& field, const std::optional<T>& set) {
  if (set) field = {*set, PolicySource::set};
}

}  // namespace

std::string_view to_string(PolicySource source) {
  switch (source) {
    case PolicySource::by_default:
      return "default";
    case PolicySource::adapted:
      return "adapted";
    case PolicySource::set:
      return "set";
  }
  return "default";
}

Status validate(const CallPolicyOverrides& overrides) {
  if (overrides.timeout && overrides.timeout->count() <= 0) {
    return invalid(
        fmt::format("call timeout is {} ms; give a timeout above 0, such as 30s", overrides.timeout->count()));
  }
  if (overrides.eject_consecutive_5xx && *overrides.eject_consecutive_5xx == 0) {
    return invalid("eject_consecutive_5xx is 0; give the number of 5xx in a row that ejects an endpoint, 1 or more");
  }
  if (overrides.base_ejection && overrides.base_ejection->count() <= 0) {
    return invalid(fmt::format("base_ejection is {} ms; give an ejection time above 0, such as 30s",
                               overrides.base_ejection->count()));
  }
  if (overrides.max_ejected_percent && *overrides.max_ejected_percent > 100) {
    return invalid(
        fmt::format("max_ejected_percent is {}; give a percent from 0 to 100", *overrides.max_ejected_percent));
  }
  return {};
}

CallPolicy effective_call_policy(std::optional<std::chrono::milliseconds> observed_p99,
                                 const CallPolicyOverrides& overrides) {
  CallPolicy p;
  if (observed_p99) {
    if (*observed_p99 < kShortTargetP99) {
      p.timeout = {std::clamp(*observed_p99 * 4, kShortTimeoutMin, kShortTimeoutMax), PolicySource::adapted};
      p.retries = {kShortTargetRetries, PolicySource::adapted};
    } else {
      p.timeout = {std::max(*observed_p99 * 2, kLongTimeoutMin), PolicySource::adapted};
      p.retries = {0, PolicySource::adapted};
    }
  }
  apply(p.timeout, overrides.timeout);
  apply(p.retries, overrides.retries);
  apply(p.retry_non_idempotent, overrides.retry_non_idempotent);
  apply(p.eject_consecutive_5xx, overrides.eject_consecutive_5xx);
  apply(p.base_ejection, overrides.base_ejection);
  apply(p.max_ejected_percent, overrides.max_ejected_percent);
  return p;
}

bool is_idempotent(std::string_view method) {
  static constexpr std::array<std::string_view, 5> kIdempotent = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"};
  return std::find(kIdempotent.begin(), kIdempotent.end(), method) != kIdempotent.end();
}

bool is_retryable_status(int http_status) { return http_status == 502 || http_status == 503 || http_status == 504; }

bool may_retry(const CallPolicy& policy, std::string_view method, std::optional<int> http_status,
               uint32_t retries_done) {
  if (retries_done >= policy.retries.value) return false;
  if (!http_status) return true;
  return is_retryable_status(*http_status) && (is_idempotent(method) || policy.retry_non_idempotent.value);
}

OutlierDetectorSettings outlier_settings(const CallPolicy& policy) {
  OutlierDetectorSettings s;
  s.consecutive_errors = policy.eject_consecutive_5xx.value;
  s.base_ejection = policy.base_ejection.value;
  s.max_ejected_percent = policy.max_ejected_percent.value;
  // The cap must not be below the base, or the first ejection would already be cut short.
  s.max_ejection = std::max(s.max_ejection, s.base_ejection);
  return s;
}

}  // namespace fnd::mesh
