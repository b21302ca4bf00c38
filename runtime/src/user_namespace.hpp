// User namespaces fnd makes itself, for idmapped mounts. Private to the runtime module.
#pragma once

#include <cstdint>

#include "core/error.hpp"
#include "process.hpp"

namespace fnd::runtime::internal {

// A user namespace that maps id 0 (uid and gid) to `host_id` and nothing else, with no process
// left in it: the idmap of an instance's code mount. Through such a mount, files that root owns
// on disk appear owned by `host_id`, the instance's function user, so code trees need not be
// readable by anyone else. Runs a short-lived child (a clone with its own user namespace whose
// maps fnd writes); blocks for about a millisecond. Errors: userns_failed (with errno).
Result<UniqueFd> make_idmap_namespace(uint32_t host_id);

}  // namespace fnd::runtime::internal
