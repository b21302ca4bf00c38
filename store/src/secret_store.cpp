#include "store/secret_store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <span>
#include <utility>

#include "connection.hpp"
#include "core/names.hpp"
#include "core/base64.hpp"
#include "crypto.hpp"
#include "store/database.hpp"
#include "transaction.hpp"
#include "wall_clock.hpp"

namespace fnd::store {

namespace {

constexpr unsigned char kSealFormat = 1;
constexpr size_t kKeyIdBytes = 8;
constexpr size_t kHeaderBytes = 1 + kKeyIdBytes;
constexpr size_t kMaxKeyNameBytes = 253;

Status validate_key_name(const std::string& secret, std::string_view key) {
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  };
  if (!key.empty() && key.size() <= kMaxKeyNameBytes && key != "." && key != ".." &&
      std::all_of(key.begin(), key.end(), allowed)) {
    return {};
  }
  return make_error(std::string(kInvalidSecretKey),
                    fmt::format("secret '{}': invalid key name '{}': use 1-253 letters, digits, '.', '_' and '-', "
                                "and not '.' or '..'",
                                secret, key),
                    400);
}

Status validate_sizes(const std::string& name, const SecretValues& values) {
  size_t total = 0;
  for (const auto& [key, value] : values) {
    if (value.size() > kMaxSecretValueBytes) {
      return make_error(std::string(kSecretTooLarge),
                        fmt::format("secret '{}': the value of key '{}' is {} bytes; a value may hold at most {} bytes "
                                    "(1 MiB): keep large files outside secrets and put only their keys here",
                                    name, key, value.size(), kMaxSecretValueBytes),
                        413);
    }
    total += value.size();
  }
  if (total > kMaxSecretBytes) {
    return make_error(std::string(kSecretTooLarge),
                      fmt::format("secret '{}': its values hold {} bytes together; a secret may hold at most {} bytes "
                                  "(4 MiB): split it into several secrets",
                                  name, total, kMaxSecretBytes),
                      413);
  }
  return {};
}

// The header (format and key id) is authenticated with the secret's and key's names: NUL cannot
// occur in either, so the encoding is unambiguous.
std::string additional_data(std::string_view header, std::string_view secret, std::string_view key) {
  std::string aad(header);
  aad += "fnd secret";
  aad.push_back('\0');
  aad += secret;
  aad.push_back('\0');
  aad += key;
  return aad;
}

std::string header_for(const MasterKey& master) {
  auto id = internal::from_hex(master.id());
  return std::string(1, static_cast<char>(kSealFormat)) + id.value_or(std::string());
}

Result<std::string> seal_value(const MasterKey& master, const std::string& secret, const std::string& key,
                               std::string_view value) {
  internal::GcmNonce nonce{};
  if (Status st = internal::random_bytes(nonce); !st) return st.error();
  std::string header = header_for(master);
  auto sealed = internal::gcm_seal(master.bytes(), nonce, additional_data(header, secret, key), value);
  if (!sealed) return sealed.error();
  std::string blob = header;
  blob.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  blob += *sealed;
  return base64_encode(blob);
}

Error undecryptable(std::string message) { return make_error(std::string(kSecretUndecryptable), std::move(message)); }

Result<std::string> open_sealed(const MasterKey& master, const std::string& secret, const std::string& key,
                                std::string_view stored) {
  auto blob = base64_decode(stored);
  if (!blob || blob->size() < kHeaderBytes + internal::kGcmNonceBytes + internal::kGcmTagBytes ||
      static_cast<unsigned char>((*blob)[0]) != kSealFormat) {
    return undecryptable(
        fmt::format("secret '{}': the stored value of key '{}' is damaged (it is not a value fnd "
                    "sealed); put the secret again",
                    secret, key));
  }
  std::string_view view(*blob);
  std::string_view header = view.substr(0, kHeaderBytes);
  std::string sealed_by = internal::to_hex(
      std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(header.data()) + 1, kKeyIdBytes));
  if (sealed_by != master.id()) {
    return undecryptable(
        fmt::format("secret '{}': the value of key '{}' was sealed with another master key (id {}) "
                    "than the one in {} (id {}); restore the key file that was in use, or put the "
                    "secret again",
                    secret, key, sealed_by, master.source(), master.id()));
  }
  internal::GcmNonce nonce{};
  std::copy_n(view.begin() + kHeaderBytes, nonce.size(), nonce.begin());
  auto plaintext = internal::gcm_open(master.bytes(), nonce, additional_data(header, secret, key),
                                      view.substr(kHeaderBytes + nonce.size()));
  if (!plaintext) {
    return undecryptable(
        fmt::format("secret '{}': the value of key '{}' does not decrypt with the master key in {} "
                    "(id {}): the stored value was altered, or moved from another secret or key; put "
                    "the secret again",
                    secret, key, master.source(), master.id()));
  }
  return std::move(*plaintext);
}

// The caller holds the connection's mutex.
Result<std::optional<uint64_t>> current_version(internal::Connection& conn, const std::string& name) {
  auto stmt = conn.prepare("SELECT version FROM secrets WHERE name = ?;");
  if (!stmt) return stmt.error();
  stmt->bind(1, name);
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) return std::optional<uint64_t>();
  return std::optional<uint64_t>(static_cast<uint64_t>(stmt->column_int(0)));
}

// One sequence for all secrets, never reset: a secret removed and created again never repeats a
// version. The caller holds the connection's mutex inside a write transaction.
Result<uint64_t> next_version(internal::Connection& conn) {
  if (Status st = conn.exec("UPDATE secret_versions SET last = last + 1;"); !st) return st.error();
  auto stmt = conn.prepare("SELECT last FROM secret_versions;");
  if (!stmt) return stmt.error();
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) {
    return make_error("store_error", fmt::format("the database {} lacks its secret version sequence: restore it from a "
                                                 "backup",
                                                 conn.path));
  }
  return static_cast<uint64_t>(stmt->column_int(0));
}

struct StoredRow {
  std::string key;
  std::string sealed;
};

// The caller holds the connection's mutex.
Result<std::vector<StoredRow>> read_rows(internal::Connection& conn, const std::string& name) {
  auto stmt = conn.prepare("SELECT key, sealed FROM secret_values WHERE secret = ? ORDER BY key;");
  if (!stmt) return stmt.error();
  stmt->bind(1, name);
  std::vector<StoredRow> rows;
  while (true) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    rows.push_back({stmt->column_text(0), stmt->column_text(1)});
  }
  return rows;
}

// Whether the stored rows hold exactly `values`; a row that does not open counts as a difference.
bool holds_exactly(const MasterKey& master, const std::string& name, const std::vector<StoredRow>& rows,
                   const SecretValues& values) {
  if (rows.size() != values.size()) return false;
  for (const auto& row : rows) {
    auto it = values.find(row.key);
    if (it == values.end()) return false;
    auto plaintext = open_sealed(master, name, row.key, row.sealed);
    if (!plaintext || *plaintext != it->second) return false;
  }
  return true;
}

}  // namespace

SecretStore::SecretStore(Database& db, MasterKey key, const Clock& clock, SystemTime wall_at_start)
    : db_(db), key_(std::move(key)), clock_(clock), steady_at_start_(clock.now()), wall_at_start_(wall_at_start) {}

Result<uint64_t> SecretStore::put(const std::string& name, const SecretValues& values) {
  if (Status st = validate_name("secret", name); !st) return st.error();
  for (const auto& entry : values) {
    if (Status st = validate_key_name(name, entry.first); !st) return st.error();
  }
  if (Status st = validate_sizes(name, values); !st) return st.error();
  // Sealing is CPU work: it happens before the database is locked.
  std::vector<StoredRow> sealed;
  for (const auto& [key, value] : values) {
    auto blob = seal_value(key_, name, key, value);
    if (!blob) return blob.error();
    sealed.push_back({key, std::move(*blob)});
  }

  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto tx = internal::Transaction::begin(conn);
  if (!tx) return tx.error();
  if (auto current = current_version(conn, name); !current) {
    return current.error();
  } else if (*current) {
    auto rows = read_rows(conn, name);
    if (!rows) return rows.error();
    if (holds_exactly(key_, name, *rows, values)) return **current;
  }
  auto version = next_version(conn);
  if (!version) return version.error();
  const int64_t now = internal::to_millis(internal::wall_now(clock_, steady_at_start_, wall_at_start_));

  auto upsert = conn.prepare(
      "INSERT INTO secrets (name, version, created_at, updated_at) VALUES (?, ?, ?, ?) "
      "ON CONFLICT(name) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at;");
  if (!upsert) return upsert.error();
  upsert->bind(1, name).bind(2, static_cast<int64_t>(*version)).bind(3, now).bind(4, now);
  if (Status st = upsert->run(); !st) return st.error();
  auto clear = conn.prepare("DELETE FROM secret_values WHERE secret = ?;");
  if (!clear) return clear.error();
  clear->bind(1, name);
  if (Status st = clear->run(); !st) return st.error();
  for (const auto& row : sealed) {
    auto insert = conn.prepare("INSERT INTO secret_values (secret, key, sealed) VALUES (?, ?, ?);");
    if (!insert) return insert.error();
    insert->bind(1, name).bind(2, row.key).bind(3, row.sealed);
    if (Status st = insert->run(); !st) return st.error();
  }
  if (Status st = tx->commit(); !st) return st.error();
  return *version;
}

Result<Secret> SecretStore::get(const std::string& name) {
  Secret secret;
  std::vector<StoredRow> rows;
  {
    auto& conn = db_.connection();
    std::lock_guard lock(conn.mutex);
    auto stmt = conn.prepare("SELECT version, updated_at FROM secrets WHERE name = ?;");
    if (!stmt) return stmt.error();
    stmt->bind(1, name);
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) {
      return make_error(
          std::string(kSecretNotFound),
          fmt::format("no secret named '{}': create it first, or check the name in the function's spec", name), 404);
    }
    secret.name = name;
    secret.version = static_cast<uint64_t>(stmt->column_int(0));
    secret.updated_at = internal::from_millis(stmt->column_int(1));
    auto stored = read_rows(conn, name);
    if (!stored) return stored.error();
    rows = std::move(*stored);
  }
  for (const auto& row : rows) {
    auto value = open_sealed(key_, name, row.key, row.sealed);
    if (!value) return value.error();
    secret.values.emplace(row.key, std::move(*value));
  }
  return secret;
}

Result<std::vector<SecretInfo>> SecretStore::list() {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare(
      "SELECT s.name, s.version, s.created_at, s.updated_at, v.key IS NOT NULL, v.key FROM secrets s "
      "LEFT JOIN secret_values v ON v.secret = s.name ORDER BY s.name, v.key;");
  if (!stmt) return stmt.error();
  std::vector<SecretInfo> out;
  while (true) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    std::string name = stmt->column_text(0);
    if (out.empty() || out.back().name != name) {
      out.push_back({name,
                     {},
                     static_cast<uint64_t>(stmt->column_int(1)),
                     internal::from_millis(stmt->column_int(2)),
                     internal::from_millis(stmt->column_int(3))});
    }
    if (stmt->column_int(4) != 0) out.back().keys.push_back(stmt->column_text(5));
  }
  return out;
}

Result<bool> SecretStore::remove(const std::string& name) {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto tx = internal::Transaction::begin(conn);
  if (!tx) return tx.error();
  auto values = conn.prepare("DELETE FROM secret_values WHERE secret = ?;");
  if (!values) return values.error();
  values->bind(1, name);
  if (Status st = values->run(); !st) return st.error();
  auto secret = conn.prepare("DELETE FROM secrets WHERE name = ?;");
  if (!secret) return secret.error();
  secret->bind(1, name);
  if (Status st = secret->run(); !st) return st.error();
  const bool existed = sqlite3_changes(conn.db.get()) > 0;
  if (Status st = tx->commit(); !st) return st.error();
  return existed;
}

}  // namespace fnd::store
