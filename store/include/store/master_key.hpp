// The master key that encrypts secrets at rest (see secret_store.hpp): 32 random bytes kept in a
// file outside the database, so that a copy of fnd.db (a backup, a bug report) reveals no secret.
//
// Where the key comes from, first match wins:
//   1. a systemd credential: when CREDENTIALS_DIRECTORY is set and holds a file with the key
//      file's name (LoadCredential=secrets.key:/path or LoadCredentialEncrypted=, so the key can
//      itself be sealed with the host's TPM);
//   2. the key file (by default STATE_DIR/secrets.key), created on first use.
// Losing the key loses every secret: back the key file up, apart from the database.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fnd::store {

inline constexpr std::string_view kMasterKeyFileName = "secrets.key";

// The master key cannot be read or created: the message names the file and what to do.
inline constexpr std::string_view kMasterKeyUnavailable = "master_key_unavailable";
inline bool is_master_key_unavailable(const Error& e) { return e.code == kMasterKeyUnavailable; }

// Move-only; the key bytes are wiped from memory when a MasterKey is destroyed.
// Thread safety: const members may be called from any number of threads at once.
class MasterKey {
 public:
  static constexpr size_t kBytes = 32;

  // Loads the key as described above. `credentials_directory` is what CREDENTIALS_DIRECTORY
  // holds (nullopt or empty: not set). A missing key file is created: 32 bytes from the system's
  // CSPRNG, mode 0600, written to a temporary name, synced, then linked into place so that two
  // processes starting at once agree on one key and an existing key is never replaced.
  //
  // Errors: kMasterKeyUnavailable when the key file (or the credential) cannot be read or
  // written, is not a regular file, does not hold exactly 32 bytes, is readable or writable by
  // group or others (the message says chmod 600 FILE), or is owned by another user. A credential
  // is not checked for its mode: systemd restricts the credentials directory to the service.
  // Blocks on file I/O.
  static Result<MasterKey> load_or_create(const std::string& path,
                                          const std::optional<std::string>& credentials_directory);
  // The same, reading CREDENTIALS_DIRECTORY from the environment (for the composition root).
  static Result<MasterKey> load_or_create(const std::string& path);

  MasterKey(MasterKey&& other) noexcept;
  MasterKey& operator=(MasterKey&& other) noexcept;
  MasterKey(const MasterKey&) = delete;
  MasterKey& operator=(const MasterKey&) = delete;
  ~MasterKey();

  // The file the key was read from (for messages).
  const std::string& source() const { return source_; }
  // 16 hex digits naming this key without revealing it (a truncated SHA-256 over a label and the
  // key). Every sealed value records it, so a value sealed under another key is reported as such,
  // and a rotated-out key can be told from the current one.
  const std::string& id() const { return id_; }
  // The key itself, for SecretStore's sealing. Never log, copy or send it.
  const std::array<unsigned char, kBytes>& bytes() const { return bytes_; }

 private:
  MasterKey(const std::array<unsigned char, kBytes>& bytes, std::string source);

  std::array<unsigned char, kBytes> bytes_{};
  std::string id_;
  std::string source_;
};

}  // namespace fnd::store
