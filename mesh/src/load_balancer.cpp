#include "mesh/load_balancer.hpp"

#include <cassert>

namespace fnd::mesh {

LeastRequestBalancer::LeastRequestBalancer(size_t endpoints, std::mt19937_64& random)
    : random_(random), in_flight_(endpoints, 0) {}

std::optional<size_t> LeastRequestBalancer::pick(const UsableFilter& usable) {
  auto is_usable = [&](size_t i) { return !usable || usable(i); };
  size_t count = 0;
  for (size_t i = 0; i < in_flight_.size(); ++i) count += is_usable(i) ? 1 : 0;
  if (count == 0) return std::nullopt;

  // The n-th usable endpoint (n < count). The filter is asked again rather than its answers
  // kept, so that a pick allocates nothing.
  auto nth_usable = [&](size_t n) {
    for (size_t i = 0; i < in_flight_.size(); ++i) {
      if (is_usable(i) && n-- == 0) return i;
    }
    assert(false && "the usable filter changed its answer during a pick");
    return size_t{0};
  };
  if (count == 1) return nth_usable(0);

  // Two distinct ranks: the second is drawn among the other count - 1 and shifted past the first.
  size_t first_rank = std::uniform_int_distribution<size_t>(0, count - 1)(random_);
  size_t second_rank = std::uniform_int_distribution<size_t>(0, count - 2)(random_);
  if (second_rank >= first_rank) ++second_rank;
  size_t first = nth_usable(first_rank);
  size_t second = nth_usable(second_rank);
  return in_flight_[second] < in_flight_[first] ? second : first;
}

void LeastRequestBalancer::start(size_t endpoint) {
  assert(endpoint < in_flight_.size());
  ++in_flight_[endpoint];
}

void LeastRequestBalancer::finish(size_t endpoint) {
  assert(endpoint < in_flight_.size() && in_flight_[endpoint] > 0);
  --in_flight_[endpoint];
}

uint32_t LeastRequestBalancer::in_flight(size_t endpoint) const {
  assert(endpoint < in_flight_.size());
  return in_flight_[endpoint];
}

}  // namespace fnd::mesh
