// Outlier ejection over the N endpoints of one target (Envoy's consecutive-5xx detection):
// an endpoint that answers `consecutive_errors` 5xx (or fails to connect) in a row is ejected,
// so no call is sent to it, for base_ejection x the number of times it has been ejected (capped
// at max_ejection); it comes back by itself when that time is over. A success (any answer below
// 500) resets the count. At most max_ejected_percent of the endpoints are out at once, and never
// all of them: when the cap forbids an ejection, the endpoint stays in and
// ejections_refused_total() counts the refusal, so an unhealthy target still gets some calls.
//
// Endpoints are indexes 0..N-1 into the caller's list; when that list changes, the caller builds
// a new detector. Pure logic over an injected clock. Not thread safe: the owner serializes calls.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/time.hpp"

namespace fnd::mesh {

// The defaults, also those of CallPolicy's ejection fields.
inline constexpr uint32_t kDefaultConsecutiveErrors = 5;
inline constexpr std::chrono::milliseconds kDefaultBaseEjection{30'000};
inline constexpr std::chrono::milliseconds kDefaultMaxEjection{300'000};  // Envoy's default cap
inline constexpr uint32_t kDefaultMaxEjectedPercent = 50;

struct OutlierDetectorSettings {
  uint32_t consecutive_errors = kDefaultConsecutiveErrors;  // >= 1
  std::chrono::milliseconds base_ejection = kDefaultBaseEjection;
  std::chrono::milliseconds max_ejection = kDefaultMaxEjection;  // >= base_ejection
  uint32_t max_ejected_percent = kDefaultMaxEjectedPercent;      // 0..100; one endpoint stays usable regardless
};

class OutlierDetector {
 public:
  // `clock` is borrowed and must outlive the detector. Invalid settings are a caller's bug:
  // asserted.
  OutlierDetector(size_t endpoints, OutlierDetectorSettings settings, const Clock& clock);

  // The outcome of one call to `endpoint` (< size()). An HTTP status of 500 or more counts as an
  // error, anything else as a success. Outcomes of calls to an ejected endpoint (sent before it
  // was ejected) are ignored: they say nothing about how it does after its rest.
  void record_status(size_t endpoint, int http_status);
  // A connection to `endpoint` could not be made (refused, reset, timed out): an error.
  void record_connect_error(size_t endpoint);

  // False while `endpoint` is ejected.
  bool usable(size_t endpoint) const;
  size_t size() const { return endpoints_.size(); }
  size_t ejected_count() const;
  // The most endpoints that may be ejected at once: max_ejected_percent of them, rounded down,
  // and at most size() - 1.
  size_t max_ejected() const;
  // When `endpoint` comes back; nullopt when it is not ejected.
  std::optional<SteadyTime> ejected_until(size_t endpoint) const;
  uint32_t times_ejected(size_t endpoint) const;
  uint32_t consecutive_errors(size_t endpoint) const;

  // Totals since construction, for /metrics.
  uint64_t ejections_total() const { return ejections_total_; }
  uint64_t ejections_refused_total() const { return ejections_refused_total_; }

  const OutlierDetectorSettings& settings() const { return settings_; }

 private:
  struct Endpoint {
    uint32_t consecutive_errors = 0;
    uint32_t times_ejected = 0;
    std::optional<SteadyTime> ejected_until;
  };
  bool ejected_at(const Endpoint& e, SteadyTime now) const;
  void record_error(size_t endpoint);

  OutlierDetectorSettings settings_;
  const Clock& clock_;
  std::vector<Endpoint> endpoints_;
  uint64_t ejections_total_ = 0;
  uint64_t ejections_refused_total_ = 0;
};

}  // namespace fnd::mesh
