// Reads and sweeps the cgroups fnd's containers run in (cgroupsPath "/fnd/<id>"), under cgroup v1,
// v2 or hybrid hierarchies. Private to the runtime module.
#pragma once

#include <cstdint>
#include <string>

#include "config/function_spec.hpp"
#include "core/error.hpp"

namespace fnd::runtime::internal {

constexpr const char* kCgroupParent = "fnd";

// The memory cgroup's oom_kill counter for the cgroup /fnd/<name> (0 when unknown).
uint64_t oom_kill_count(const std::string& name);

// Kills every process left in /sys/fs/cgroup/**/fnd/<prefix>* and removes those cgroups.
// The prefix is this daemon's: other fnd daemons on the host keep their instances.
// Returns how many cgroups were removed.
int sweep_cgroups(const std::string& prefix);

// Sets the memory, pids and CPU limits of the running cgroup /fnd/<name> (v1, v2 or hybrid):
// a stem cell takes on the limits of the function it is given.
Status set_limits(const std::string& name, const config::ResourceLimits& limits);

}  // namespace fnd::runtime::internal
