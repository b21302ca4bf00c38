// Function code, content-addressed on disk: <root>/<hex digest>/ holds the unpacked archive whose
// SHA-256 is the digest. Unpacked trees are immutable and world-readable (containers read them
// as an unprivileged uid).
//
// Thread safety: safe from any thread; store_archive blocks on disk I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fnd::store {

struct CodeLimits {
  uint64_t max_archive_bytes = 64ULL << 20;
  uint64_t max_unpacked_bytes = 256ULL << 20;
};

struct StoredCode {
  std::string digest;  // "sha256:<hex>"
  uint64_t archive_bytes = 0;
  uint64_t files = 0;
};

class CodeStore {
 public:
  CodeStore(std::string root, CodeLimits limits);

  // Unpacks a tar.gz (or plain tar). Unsafe entries (absolute paths, "..", links leaving the tree,
  // devices, fifos, sockets) are 400 unsafe_archive; over the limits, 413 archive_too_large.
  Result<StoredCode> store_archive(std::string_view archive);
  bool contains(std::string_view digest) const;
  // The directory holding the unpacked code of `digest`.
  std::string directory(std::string_view digest) const;
  const CodeLimits& limits() const { return limits_; }

 private:
  std::string root_;
  CodeLimits limits_;
};

// "sha256:<hex>" of `data`.
std::string sha256_digest(std::string_view data);

}  // namespace fnd::store
