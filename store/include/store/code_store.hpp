// Function code, content-addressed on disk: <root>/<hex digest>/ holds the unpacked archive whose
// SHA-256 is the digest. Unpacked trees are immutable and world-readable (containers read them
// as an unprivileged uid).
//
// A tree appears under its digest only once every file of it was written, synced, read back and
// found identical to the archive's: a full disk or a failing write leaves nothing behind (the
// upload fails with 507 insufficient_storage), never a tree that is silently short or NUL-filled.
//
// Thread safety: safe from any thread; store_archive and collect_garbage block on disk I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/time.hpp"
#include "store/options.hpp"

namespace fnd::store {


struct StoredCode {
  std::string digest;  // "sha256:<hex>"
  uint64_t archive_bytes = 0;
  uint64_t files = 0;
};

// Error codes of the code store.
inline constexpr std::string_view kInsufficientStorage = "insufficient_storage";  // 507: the disk is full

class CodeStore {
 public:
  CodeStore(std::string root, CodeLimits limits);

  // Unpacks a tar.gz (or plain tar). Unsafe entries (absolute paths, "..", links leaving the tree,
  // devices, fifos, sockets) are 400 unsafe_archive; over the limits, 413 archive_too_large; a
  // full disk 507 insufficient_storage. Storing code already present only marks it as used now.
  Result<StoredCode> store_archive(std::string_view archive);
  bool contains(std::string_view digest) const;
  // The directory holding the unpacked code of `digest`.
  std::string directory(std::string_view digest) const;
  // The directory holding every tree (mode 0700: code is readable by root only, and by
  // instances through their idmapped mounts).
  const std::string& root() const { return root_; }
  const CodeLimits& limits() const { return limits_; }
  // How many code trees are stored.
  size_t tree_count() const;

  // Removes code that `referenced` (every digest a revision names) does not hold and that was
  // last stored before `stored_before` (an upload may be waiting for the spec that names it).
  // With `only`, just those digests are candidates. Returns how many trees were removed.
  size_t collect_garbage(const std::set<std::string>& referenced, SystemTime stored_before,
                         const std::optional<std::set<std::string>>& only = std::nullopt);

 private:
  std::string root_;
  CodeLimits limits_;
};

// "sha256:<hex>" of `data`.
std::string sha256_digest(std::string_view data);

}  // namespace fnd::store
