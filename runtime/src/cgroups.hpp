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

// Kills every process in the cgroup /fnd/<name>, whatever it does (ignores SIGTERM, forks, is
// traced or stopped): cgroup.kill on cgroup v2, else freeze, SIGKILL each process, thaw. Returns
// how many processes were signalled (v1) or 1 (v2), 0 when the cgroup is gone already.
int kill_cgroup(const std::string& name);

// Sets the memory, pids and CPU limits of the running cgroup /fnd/<name> (v1, v2 or hybrid):
// a stem cell takes on the limits of the function it is given.
Status set_limits(const std::string& name, const config::ResourceLimits& limits);

}  // namespace fnd::runtime::internal
