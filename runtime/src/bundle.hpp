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
constexpr const char* kSecretsMount = "/run/secrets";
// The function's uid and gid inside its user namespace (nobody). On the host it is the
// instance's block's first id + kFunctionUid.
constexpr uint32_t kFunctionUid = 65534;

struct ContainerConfig {
  std::string hostname;
  std::vector<std::string> args;
  std::vector<std::string> env;  // "K=V"
  std::string rootfs;            // the shared template
  std::string code_dir;          // host dir bound read-only at /function
  std::string runtimes_dir;      // host dir bound read-only at /fnd/runtime
  std::string secrets_dir;       // host dir bound read-only at /run/secrets; empty: none
  uint32_t host_id_base = 0;     // the user namespace maps ids 0..65535 to host_id_base + id
  bool seccomp = true;           // false: no seccomp filter (the spec's security.seccomp: unconfined)
  std::string netns_path;
  std::string cgroups_path;      // "/fnd/<id>"
  config::ResourceLimits resources;
  // A stem cell: /function and /run/secrets are bound with rslave propagation (and the root
  // too, as propagation needs), so what fnd mounts on code_dir and secrets_dir later appears
  // inside.
  bool stem_cell = false;
};

// The OCI runtime-spec config.json for one instance: read-only root, host system dirs bound
// read-only, private /tmp, own user/pid/ipc/uts/mount/cgroup namespaces, the given network
// namespace, uid 65534 inside (host_id_base + 65534 outside), no capabilities,
// no-new-privileges, the seccomp profile (unless disabled) and the spec's cgroup limits.
boost::json::object build_oci_config(const ContainerConfig& config);

// Creates (idempotently, and safely while another daemon does the same) the rootfs template:
// mount points, merged-/usr links mirroring the host, and a minimal /etc. Missing parents are
// made mode 0755. Error rootfs_failed when it cannot be written, or when a parent folder is not
// searchable by everyone (an instance's root could not reach it from its user namespace).
Status prepare_rootfs_template(const std::string& dir);

// Writes `config` as <bundle_dir>/config.json.
Status write_bundle(const std::string& bundle_dir, const boost::json::object& config);

}  // namespace fnd::runtime::internal
