// What fnctl reads from the local machine besides code folders: spec files and request bodies.
#pragma once

#include <filesystem>
#include <string>

#include "core/error.hpp"

namespace fnd::fnctl {

// The whole file, byte for byte; errors name the path and errno's reason. Blocks.
Result<std::string> read_file(const std::filesystem::path& path);
// Everything on file descriptor `fd` until end of file (binary-safe). Blocks.
Result<std::string> read_all(int fd, std::string_view what);

}  // namespace fnd::fnctl
