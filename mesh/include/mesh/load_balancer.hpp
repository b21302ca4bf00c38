// Least-request balancing over the N endpoints of one target by the power of two choices
// (Mitzenmacher; Envoy's LEAST_REQUEST): draw two distinct usable endpoints at random and send
// the call to the one with fewer requests in flight (a tie goes to the first drawn, itself
// random). This avoids both the herd that "always the least loaded" causes when loads are
// stale and the blind spots of round robin, at O(N) per pick with no allocation.
//
// Endpoints are indexes 0..N-1 into the caller's list (the same as the OutlierDetector's); when
// the list changes, the caller builds a new balancer. Pure logic, no clock. Not thread safe: the
// owner serializes calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <vector>

namespace fnd::mesh {

class LeastRequestBalancer {
 public:
  // Which endpoints may be picked; typically [&](size_t i) { return outliers.usable(i); }.
  using UsableFilter = std::function<bool(size_t endpoint)>;

  // `random` is borrowed and must outlive the balancer; tests seed it to be repeatable.
  LeastRequestBalancer(size_t endpoints, std::mt19937_64& random);

  // The endpoint for the next call among those `usable` (all when not given); nullopt when there
  // is none. Picking does not count the call: call start() when it is sent.
  std::optional<size_t> pick(const UsableFilter& usable = {});

  // A call to `endpoint` was sent / has finished (answered, failed or cancelled). Every start()
  // is matched by exactly one finish(); a finish() without its start() is a bug (asserted).
  void start(size_t endpoint);
  void finish(size_t endpoint);

  uint32_t in_flight(size_t endpoint) const;
  size_t size() const { return in_flight_.size(); }

 private:
  std::mt19937_64& random_;
  std::vector<uint32_t> in_flight_;
};

}  // namespace fnd::mesh
