// The host ids of the live instances: one block of 65536 per instance (see host_ids.hpp), and
// per block the user namespace that idmaps code mounts onto the block's function user. Private
// to the runtime module.
//
// Not thread safe: the runtime's thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "host_ids.hpp"
#include "process.hpp"

namespace fnd::runtime::internal {

class InstanceIds {
 public:
  explicit InstanceIds(HostIdRange range) : blocks_(std::move(range)) {}

  // Gives instance `instance` a block of its own; returns the block's first host id. Error:
  // 503 no_id_block (retryable) when every block is held by a live instance.
  Result<uint32_t> acquire(const std::string& instance);
  // Takes the instance's block back, once none of its processes is left. Idempotent.
  void release(const std::string& instance);
  // The first host id of the instance's block, if it holds one.
  std::optional<uint32_t> first_id(const std::string& instance) const;
  // A user namespace mapping id 0 to the instance's function user on the host (its block's
  // first id + 65534): the idmap for its code mount. Made once per block, then kept (blocks are
  // reused lowest first, so few are ever made). Owned here. Errors: userns_failed, and
  // no_id_block when the instance holds no block.
  Result<int> code_idmap(const std::string& instance);

  const HostIdRange& range() const { return blocks_.range(); }
  uint32_t in_use() const { return blocks_.in_use(); }

 private:
  HostIdBlocks blocks_;
  std::map<std::string, uint32_t> held_;  // instance id -> block
  std::map<uint32_t, UniqueFd> idmaps_;   // block -> its code idmap namespace
};

}  // namespace fnd::runtime::internal
