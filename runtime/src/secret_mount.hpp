// The tmpfs that carries a function's secrets into its instance as /run/secrets/NAME/KEY.
// Private to the runtime module.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/error.hpp"
#include "process.hpp"

namespace fnd::runtime::internal {

// Secret name -> (key -> value).
using SecretFiles = std::map<std::string, std::map<std::string, std::string>>;

// A new tmpfs holding NAME/KEY for every key of every secret, attached nowhere yet (fsopen +
// fsmount): no path on the host shows it until attach_mount() puts it in an instance's bundle,
// and its values are never on a disk. Its folders are mode 0500 and its files 0400, owned by
// `owner` (uid and gid): the function's user as the host sees it. The mount is read-only, nosuid,
// nodev and noexec. Names must be safe file names (the secret store validates them). Errors:
// mount_failed (with errno); no message holds a value.
Result<UniqueFd> make_secrets_mount(const SecretFiles& secrets, uint32_t owner);

// Overwrites every value in `secrets` with zeros (after use: they were decrypted for this).
void wipe(SecretFiles& secrets);

}  // namespace fnd::runtime::internal
