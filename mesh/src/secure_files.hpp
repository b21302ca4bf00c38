// Files holding key material: written so that no reader ever sees half a file or a moment of
// looser permissions, and read only when nobody else could have read them.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fnd::mesh::internal {

// Writes `content` to a temporary file in the same directory created with `mode` (never wider,
// whatever the umask), syncs it, renames it over `path` and syncs the directory.
// Errors: kIdentityUnavailable with errno's text.
Status write_file_atomically(const std::string& path, std::string_view content, mode_t mode);

// Reads a regular file (a symlink is refused).
// Errors: kIdentityUnavailable.
Result<std::string> read_regular_file(const std::string& path);

// Reads a file that must be private: a regular file owned by this process's effective uid with
// no permission bits for group or others (checked on the open descriptor, so a chmod between
// the check and the read cannot slip through).
// Errors: kIdentityUnavailable naming the file and the chmod/chown that fixes it.
Result<std::string> read_private_file(const std::string& path);

}  // namespace fnd::mesh::internal
