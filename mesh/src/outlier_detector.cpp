#include "mesh/outlier_detector.hpp"

#include <algorithm>
#include <cassert>

namespace fnd::mesh {

OutlierDetector::OutlierDetector(size_t endpoints, OutlierDetectorSettings settings, const Clock& clock)
    : settings_(settings), clock_(clock), endpoints_(endpoints) {
  assert(settings_.consecutive_errors >= 1);
  assert(settings_.max_ejected_percent <= 100);
  assert(settings_.base_ejection.count() >= 0 && settings_.max_ejection >= settings_.base_ejection);
}

bool OutlierDetector::ejected_at(const Endpoint& e, SteadyTime now) const {
  return e.ejected_until && now < *e.ejected_until;
}

void OutlierDetector::record_status(size_t endpoint, int http_status) {
  if (http_status >= 500) {
    record_error(endpoint);
    return;
  }
  assert(endpoint < endpoints_.size());
  Endpoint& e = endpoints_[endpoint];
  if (!ejected_at(e, clock_.now())) e.consecutive_errors = 0;
}

void OutlierDetector::record_connect_error(size_t endpoint) { record_error(endpoint); }

void OutlierDetector::record_error(size_t endpoint) {
  assert(endpoint < endpoints_.size());
  SteadyTime now = clock_.now();
  Endpoint& e = endpoints_[endpoint];
  if (ejected_at(e, now)) return;
  if (++e.consecutive_errors < settings_.consecutive_errors) return;
  if (ejected_count() >= max_ejected()) {
    // Keep the count: the next error tries again, once another endpoint may have come back.
    ++ejections_refused_total_;
    return;
  }
  ++e.times_ejected;
  auto rest = std::min<std::chrono::milliseconds>(settings_.base_ejection * e.times_ejected, settings_.max_ejection);
  e.ejected_until = now + rest;
  e.consecutive_errors = 0;
  ++ejections_total_;
}

bool OutlierDetector::usable(size_t endpoint) const {
  assert(endpoint < endpoints_.size());
  return !ejected_at(endpoints_[endpoint], clock_.now());
}

size_t OutlierDetector::ejected_count() const {
  SteadyTime now = clock_.now();
  return static_cast<size_t>(
      std::count_if(endpoints_.begin(), endpoints_.end(), [&](const Endpoint& e) { return ejected_at(e, now); }));
}

size_t OutlierDetector::max_ejected() const {
  if (endpoints_.empty()) return 0;
  size_t by_percent = endpoints_.size() * settings_.max_ejected_percent / 100;
  return std::min(by_percent, endpoints_.size() - 1);
}

std::optional<SteadyTime> OutlierDetector::ejected_until(size_t endpoint) const {
  assert(endpoint < endpoints_.size());
  const Endpoint& e = endpoints_[endpoint];
  if (!ejected_at(e, clock_.now())) return std::nullopt;
  return e.ejected_until;
}

uint32_t OutlierDetector::times_ejected(size_t endpoint) const {
  assert(endpoint < endpoints_.size());
  return endpoints_[endpoint].times_ejected;
}

uint32_t OutlierDetector::consecutive_errors(size_t endpoint) const {
  assert(endpoint < endpoints_.size());
  return endpoints_[endpoint].consecutive_errors;
}

}  // namespace fnd::mesh
