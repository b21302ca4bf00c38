// Packs a function's folder into the .tar.gz that `PUT /api/v1/functions/{name}/code` takes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/error.hpp"

namespace fnd::fnctl {

struct CodeArchive {
  std::string bytes;  // the whole .tar.gz
  uint64_t files = 0;  // regular files and symlinks packed
};

// Packs the tree under `dir` in memory. Entries carry paths relative to `dir` (no leading "./";
// directories end in '/'), parents before children, siblings sorted by name. Regular files, directories and symlinks
// (stored as links, never followed) are packed; anything named `.git` is skipped; any other kind
// of file (fifo, socket, device) is an error naming it, as fnd would reject it anyway.
//
// The archive is reproducible: modes are normalised to 0755 / 0644 (keeping whether the owner
// could execute), owners and times are zeroed. fnd stores code by digest, so deploying an
// unchanged folder again uploads the same bytes and makes no new revision.
//
// Reads the whole tree into memory; blocks on the file system.
Result<CodeArchive> pack_directory(const std::filesystem::path& dir);

}  // namespace fnd::fnctl
