// Named secrets, each a map of keys to values (secret "stripe" holding keys "key" and "ca"),
// encrypted at rest in the database.
//
// Every value is sealed on its own with AES-256-GCM under the MasterKey and a fresh random 96-bit
// nonce. The secret's name and the key's name are authenticated with it: a value moved to another
// secret or key fails to decrypt, as does a value with any byte altered. A stored value is
//     base64( format 0x01 | master key id (8 bytes) | nonce (12) | ciphertext | tag (16) )
// The key id (MasterKey::id) versions the key: after a rotation, values still sealed under the
// old key are told apart from values sealed under the new one, and a wrong key file is reported
// as such instead of as damage.
//
// Plaintext values reach neither the database nor error messages. get() is the one call that
// returns them: only the runtime that delivers secrets to instances calls it; the REST API lists.
//
// Validation: secret names are DNS labels (validate_name); key names are 1-253 characters of
// [A-Za-z0-9._-], not "." or ".." (they may become file names under a mount); a value is at most
// kMaxSecretValueBytes, a secret's values together at most kMaxSecretBytes.
//
// Thread safety: safe from any thread. Calls block on SQLite (and seal or open up to 4 MiB):
// control plane only. The Database and the Clock must outlive the SecretStore.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "store/master_key.hpp"

namespace fnd::store {

class Database;

inline constexpr size_t kMaxSecretValueBytes = size_t{1} << 20;
inline constexpr size_t kMaxSecretBytes = size_t{4} << 20;

// Error codes of the secret store (secret names that are not DNS labels: core's invalid_name).
inline constexpr std::string_view kSecretNotFound = "secret_not_found";      // 404
inline constexpr std::string_view kInvalidSecretKey = "invalid_secret_key";  // 400: a key name
inline constexpr std::string_view kSecretTooLarge = "secret_too_large";      // 413
inline constexpr std::string_view kSecretUndecryptable =
    "secret_undecryptable";  // 500: wrong key, altered or moved row
inline bool is_secret_not_found(const Error& e) { return e.code == kSecretNotFound; }
inline bool is_secret_undecryptable(const Error& e) { return e.code == kSecretUndecryptable; }

// Key name -> value. Values are bytes (PEM, binary keys), not necessarily text.
using SecretValues = std::map<std::string, std::string>;

struct Secret {
  std::string name;
  uint64_t version = 0;
  SecretValues values;
  SystemTime updated_at;
};

// What list() shows: never a value.
struct SecretInfo {
  std::string name;
  std::vector<std::string> keys;  // sorted
  uint64_t version = 0;
  SystemTime created_at;
  SystemTime updated_at;
};

class SecretStore {
 public:
  // `wall_at_start` is the wall time clock.now() stands for at this call: stored times are
  // wall_at_start + the time `clock` says has passed since.
  SecretStore(Database& db, MasterKey key, const Clock& clock,
              SystemTime wall_at_start = std::chrono::system_clock::now());

  // Replaces all keys of secret `name` (creating it) and returns its version. Versions come from
  // one sequence for all secrets: every change gets a higher one than any before it, even when a
  // secret is removed and created again, so a holder of version N knows it is stale. Putting
  // exactly the values already stored writes nothing and returns the current version.
  // Errors: invalid_name, kInvalidSecretKey, kSecretTooLarge (nothing is stored); store_error.
  Result<uint64_t> put(const std::string& name, const SecretValues& values);
  // The decrypted values. Errors: kSecretNotFound; kSecretUndecryptable when a value was sealed
  // under another master key or was altered or moved in the database (the message names the
  // secret, the key and the key file; it never holds a value); store_error.
  Result<Secret> get(const std::string& name);
  // Every secret with its key names, sorted by name.
  Result<std::vector<SecretInfo>> list();
  // Removes the secret and its values; false when there was none.
  Result<bool> remove(const std::string& name);

  const MasterKey& master_key() const { return key_; }

 private:
  Database& db_;
  MasterKey key_;
  const Clock& clock_;
  SteadyTime steady_at_start_;
  SystemTime wall_at_start_;
};

}  // namespace fnd::store
