// Wall time read through fnd's injected monotonic Clock, private to the store module.
#pragma once

#include <chrono>
#include <cstdint>

#include "core/time.hpp"

namespace fnd::store::internal {

// Stored rows carry wall-clock times while fnd's Clock is monotonic. A repository ties the two by
// an anchor read once, at its construction:
//     wall(t) = wall_at_start + (clock.now() - steady_at_start)
// so a fake Clock moves stored times in tests. A wall clock stepped after start shifts the times
// written until the next start: stored times order and date events; expiry is decided on a time
// the caller passes.
inline SystemTime wall_now(const Clock& clock, SteadyTime steady_at_start, SystemTime wall_at_start) {
  return wall_at_start + std::chrono::duration_cast<SystemTime::duration>(clock.now() - steady_at_start);
}

inline int64_t to_millis(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline SystemTime from_millis(int64_t ms) {
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(std::chrono::milliseconds(ms)));
}

}  // namespace fnd::store::internal
