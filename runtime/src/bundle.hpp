// OCI bundles for instances: a shared read-only rootfs template plus a per-instance config.json.
// Private to the runtime module.
#pragma once

#include <boost/json/fwd.hpp>
#include <string>
#include <vector>

#include "config/function_spec.hpp"
#include "core/error.hpp"

namespace fnd::runtime::internal {

// Where things appear inside every instance.
constexpr const char* kCodeMount = "/function";
constexpr const char* kBootstrapMount = "/fnd/runtime";
constexpr uint32_t kFunctionUid = 65534;  // nobody

struct ContainerConfig {
  std::string hostname;
  std::vector<std::string> args;
  std::vector<std::string> env;  // "K=V"
  std::string rootfs;            // the shared template
  std::string code_dir;          // host dir bound read-only at /function
  std::string runtimes_dir;      // host dir bound read-only at /fnd/runtime
  std::string netns_path;
  std::string cgroups_path;      // "/fnd/<id>"
  config::ResourceLimits resources;
  // A stem cell: /function is bound with rslave propagation (and the root too, as
  // propagation needs), so the code fnd mounts on code_dir later appears inside.
  bool stem_cell = false;
};

// The OCI runtime-spec config.json for one instance: read-only root, host system dirs bound
// read-only, private /tmp, own pid/ipc/uts/mount/cgroup namespaces, the given network
// namespace, uid 65534, no capabilities, no-new-privileges and the spec's cgroup limits.
boost::json::object build_oci_config(const ContainerConfig& config);

// Creates (idempotently) the rootfs template: mount points, merged-/usr links mirroring the
// host, and a minimal /etc.
Status prepare_rootfs_template(const std::string& dir);

// Writes `config` as <bundle_dir>/config.json.
Status write_bundle(const std::string& bundle_dir, const boost::json::object& config);

}  // namespace fnd::runtime::internal
