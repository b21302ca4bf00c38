// Reads and sweeps the cgroups fnd's containers run in (cgroupsPath "/fnd/<id>"), under cgroup v1,
// v2 or hybrid hierarchies. Private to the runtime module.
#pragma once

#include <cstdint>
#include <string>

namespace fnd::runtime::internal {

constexpr const char* kCgroupParent = "fnd";

// The memory cgroup's oom_kill counter for a container (0 when unknown).
uint64_t oom_kill_count(const std::string& container_id);

// Kills every process left in /sys/fs/cgroup/**/fnd/* and removes those cgroups.
// Returns how many cgroups were removed.
int sweep_cgroups();

}  // namespace fnd::runtime::internal
