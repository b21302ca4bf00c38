// What the scheduler can tell about a function's instances and scale (for describe and list).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "scheduler/keep_alive_policy.hpp"

namespace fnd::scheduler {

struct InstanceInfo {
  std::string id;
  uint32_t revision = 0;
  std::string state;  // starting, ready, busy, stopping
  uint32_t in_flight = 0;
  int pid = 0;
  std::string origin;  // "stem cell", "pre-created" or "container": how it started
  SystemTime started_at;
  SystemTime last_used_at;
};

// The latest revision's autoscaler state.
struct ScaleStatus {
  uint32_t current = 0;   // instances ready or busy
  uint32_t starting = 0;
  uint32_t desired = 0;
  std::string mode = "stable";  // stable | panic
  double stable_demand = 0;
  double panic_demand = 0;
  KeepAliveWindows windows;     // keep-alive and pre-warm chosen for the function, and why
  uint64_t cold_starts = 0;     // invocations that waited for an instance to start
  double last_cold_start_ms = 0;
  double mean_cold_start_ms = 0;
};

// Read-only view of the scheduler. Not thread safe: io_context's thread only.
class FunctionStatus {
 public:
  virtual ~FunctionStatus() = default;
  virtual std::vector<InstanceInfo> instances(const std::string& function) const = 0;
  virtual size_t instance_count(const std::string& function) const = 0;
  virtual ScaleStatus scale_status(const std::string& function) const = 0;
};

}  // namespace fnd::scheduler
