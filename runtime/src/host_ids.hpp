// Which host uids and gids instances run as. Every instance has a user namespace that maps its
// ids 0..65535 onto a block of 65536 host ids of its own, taken from one subordinate range that
// no host user has: so no host process shares a uid with an instance (it cannot read its /proc
// entries, signal or trace it), and no two instances share one. Private to the runtime module.
//
// Pure policy: the host's account files are passed in as text, so that tests need no host.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "core/error.hpp"

namespace fnd::runtime::internal {

inline constexpr uint32_t kIdBlockSize = 65536;
// The default range when config sets none and /etc/subuid has no entry for user "fnd":
// 0x70000000..0x7FFDFFFF, 4094 blocks. Below 2^31, because tools that print ids as signed
// numbers misbehave above it; above systemd-nspawn's container ranges (up to 0x6FFFFFFF), and
// below the range systemd keeps for "foreign" ids (0x7FFE0000).
inline constexpr uint32_t kDefaultIdBase = 0x70000000;
inline constexpr uint32_t kDefaultIdCount = 0x0FFE0000;
// The user whose /etc/subuid and /etc/subgid entries fnd takes when config sets no range.
inline constexpr const char* kSubordinateIdUser = "fnd";

// Error codes.
inline constexpr std::string_view kBadIdRange = "bad_id_range";       // 500 at start: the range cannot be used
inline constexpr std::string_view kIdBlocksExhausted = "no_id_block";  // 503: every block is in use

struct HostIdRange {
  uint32_t base = 0;
  uint32_t count = 0;
  std::string source;  // where it came from, for messages: "runtime.subuid_base", "/etc/subuid", "the default"

  uint32_t blocks() const { return count / kIdBlockSize; }
};

// The host's account files, as text ("" when a file does not exist).
struct HostAccounts {
  std::string passwd;  // /etc/passwd
  std::string group;   // /etc/group
  std::string subuid;  // /etc/subuid
  std::string subgid;  // /etc/subgid
};
// Reads them from /etc.
HostAccounts read_host_accounts();

// Chooses the range: `configured_base`/`configured_count` (runtime.subuid_base/_count) when
// set (count > 0); else the first entry of user "fnd" in /etc/subuid (which /etc/subgid must
// match, as the same numbers serve as uids and gids); else the default range. Errors: 500
// bad_id_range when the range is smaller than one block, reaches into 0..65535 or past
// 4294967294, or holds the uid of a user or the gid of a group of the host, or overlaps another
// user's subordinate range; the message names the conflict and the keys that fix it.
Result<HostIdRange> choose_host_id_range(uint32_t configured_base, uint32_t configured_count,
                                         const HostAccounts& accounts);

// Hands out the range's blocks, one per instance, lowest free first: a block is reused only
// once the instance that had it is gone (its processes ended, its tmpfs mounts with them), and
// the lowest first keeps the set of blocks in use, and what is cached per block, small.
// Not thread safe.
class HostIdBlocks {
 public:
  explicit HostIdBlocks(HostIdRange range) : range_(std::move(range)) {}

  // A free block's index; nullopt when every block is in use.
  std::optional<uint32_t> acquire();
  // Gives a block back. Releasing a block not in use is a bug.
  void release(uint32_t block);
  // The first host id of `block`: ids 0..65535 inside map to first_id..first_id + 65535.
  uint32_t first_id(uint32_t block) const { return range_.base + block * kIdBlockSize; }
  uint32_t capacity() const { return range_.blocks(); }
  uint32_t in_use() const { return next_ - static_cast<uint32_t>(released_.size()); }
  const HostIdRange& range() const { return range_; }

 private:
  HostIdRange range_;
  uint32_t next_ = 0;            // blocks [0, next_) were handed out at least once
  std::set<uint32_t> released_;  // of those, the ones free again
};

}  // namespace fnd::runtime::internal
