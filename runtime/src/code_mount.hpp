// How a stem cell gets its function's code after it started. The cell's /function is bound
// (rslave) from a per-cell host dir that fnd first makes a shared mount point; a read-only bind
// of the code onto that dir later propagates into the running container. Private to the runtime
// module.
#pragma once

#include <string>

#include "core/error.hpp"

namespace fnd::runtime::internal {

// Binds `dir` onto itself and marks it shared, so mounts made on it later reach the containers
// that bound it with rslave propagation.
Status make_shared_mount_point(const std::string& dir);

// Mounts a read-only, nosuid, nodev copy of `source` on `target` in one step (open_tree +
// mount_setattr + move_mount): a container never sees the code writable, not even for a moment.
// With `idmap_userns` (a user namespace fd, see make_idmap_namespace) the copy is an idmapped
// mount: files owned by root on disk appear owned by the namespace's host id, so an instance reads
// code that no other user of the host may read. Errors: mount_failed (the message says when the
// file system cannot idmap).
Status bind_read_only(const std::string& source, const std::string& target, int idmap_userns = -1);

// Mounts the detached mount `mount_fd` (from fsmount or open_tree) on `target`.
Status attach_mount(int mount_fd, const std::string& target);

// Detaches the mount at `point` (lazily: whoever uses it keeps it); quiet when there is none.
void detach_mount(const std::string& point);

// Detaches every mount at or below `dir`, deepest first. Returns how many were detached.
int unmount_tree(const std::string& dir);

}  // namespace fnd::runtime::internal
