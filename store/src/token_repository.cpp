#include "store/token_repository.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
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

constexpr size_t kTokenRandomBytes = 32;
// "fnd_" + base64url of 32 bytes, unpadded.
constexpr size_t kTokenLength = kTokenPrefix.size() + (kTokenRandomBytes * 4 + 2) / 3;
constexpr size_t kMaxPatternLength = 63;
constexpr char kPatternSeparator = ',';  // never inside a valid pattern

constexpr std::array<std::pair<Role, std::string_view>, 4> kRoles = {{
    {Role::admin, "admin"},
    {Role::deployer, "deployer"},
    {Role::invoker, "invoker"},
    {Role::reader, "reader"},
}};

std::string join_patterns(const std::vector<std::string>& patterns) {
  std::string out;
  for (const auto& p : patterns) {
    if (!out.empty()) out += kPatternSeparator;
    out += p;
  }
  return out;
}

std::vector<std::string> split_patterns(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t end = text.find(kPatternSeparator);
    out.emplace_back(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }
  return out;
}

std::string hash_hex(std::string_view plaintext) { return internal::to_hex(internal::sha256(plaintext)); }

constexpr std::string_view kTokenColumns =
    "id, name, role, function_patterns, created_at, expires_at IS NOT NULL, expires_at, revoked_at IS NOT NULL, "
    "revoked_at";

// Reads a row whose first columns are kTokenColumns.
ApiToken read_token(const internal::Statement& row) {
  ApiToken token;
  token.id = static_cast<uint64_t>(row.column_int(0));
  token.name = row.column_text(1);
  // A role fnd does not know (written by a newer fnd) gets the least power.
  auto role = parse_role(row.column_text(2));
  token.role = role ? *role : Role::reader;
  token.function_patterns = split_patterns(row.column_text(3));
  token.created_at = internal::from_millis(row.column_int(4));
  if (row.column_int(5) != 0) token.expires_at = internal::from_millis(row.column_int(6));
  if (row.column_int(7) != 0) token.revoked_at = internal::from_millis(row.column_int(8));
  return token;
}

Error token_unknown() {
  return make_error(std::string(kTokenUnknown),
                    "the API token is not known to this fnd: check the token you sent (FNCTL_TOKEN or the "
                    "Authorization header), or ask an admin for one",
                    401);
}

}  // namespace

std::string_view role_name(Role role) {
  for (const auto& [r, name] : kRoles) {
    if (r == role) return name;
  }
  return "reader";
}

Result<Role> parse_role(std::string_view text) {
  for (const auto& [role, name] : kRoles) {
    if (name == text) return role;
  }
  return make_error(std::string(kInvalidRole),
                    fmt::format("unknown role '{}': use admin, deployer, invoker or reader", text), 400);
}

bool matches_pattern(std::string_view pattern, std::string_view name) {
  size_t p = 0;
  size_t n = 0;
  // Where the last '*' was and where in `name` its match ends for now: on a mismatch the star
  // swallows one more character and matching resumes after it.
  size_t star = std::string_view::npos;
  size_t star_end = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_end = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++star_end;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Status validate_function_pattern(std::string_view pattern) {
  auto allowed = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '*'; };
  if (!pattern.empty() && pattern.size() <= kMaxPatternLength && std::all_of(pattern.begin(), pattern.end(), allowed)) {
    return {};
  }
  return make_error(std::string(kInvalidFunctionPattern),
                    fmt::format("invalid function pattern '{}': use 1-63 lowercase letters, digits, '-' and '*' "
                                "(any run of characters), as in 'shop-*'",
                                pattern),
                    400);
}

bool ApiToken::allows_function(std::string_view function) const {
  return function_patterns.empty() ||
         std::any_of(function_patterns.begin(), function_patterns.end(),
                     [&](const std::string& pattern) { return matches_pattern(pattern, function); });
}

TokenRepository::TokenRepository(Database& db, const Clock& clock, SystemTime wall_at_start)
    : db_(db), clock_(clock), steady_at_start_(clock.now()), wall_at_start_(wall_at_start) {}

Result<CreatedToken> TokenRepository::create(const std::string& name, Role role,
                                             std::vector<std::string> function_patterns,
                                             std::optional<SystemTime> expires_at) {
  if (Status st = validate_name("token", name); !st) return st.error();
  if (function_patterns.size() > kMaxFunctionPatterns) {
    return make_error(std::string(kInvalidFunctionPattern),
                      fmt::format("token '{}' names {} function patterns; at most {} are allowed: use wildcards, as "
                                  "in 'shop-*'",
                                  name, function_patterns.size(), kMaxFunctionPatterns),
                      400);
  }
  for (const auto& pattern : function_patterns) {
    if (Status st = validate_function_pattern(pattern); !st) return st.error();
  }
  const SystemTime now = internal::wall_now(clock_, steady_at_start_, wall_at_start_);
  // Stored times have millisecond precision: the comparison is made on what will be stored.
  if (expires_at && internal::to_millis(*expires_at) <= internal::to_millis(now)) {
    return make_error(std::string(kInvalidTokenExpiry),
                      fmt::format("token '{}' would expire at {}, which is not in the future (now is {})", name,
                                  format_rfc3339(*expires_at), format_rfc3339(now)),
                      400);
  }

  std::array<unsigned char, kTokenRandomBytes> random{};
  if (Status st = internal::random_bytes(random); !st) return st.error();
  CreatedToken created;
  created.plaintext = std::string(kTokenPrefix) + base64url_encode(std::string_view(reinterpret_cast<const char*>(random.data()), random.size()));
  internal::cleanse(random.data(), random.size());
  created.token.name = name;
  created.token.role = role;
  created.token.function_patterns = std::move(function_patterns);
  created.token.created_at = internal::from_millis(internal::to_millis(now));
  if (expires_at) created.token.expires_at = internal::from_millis(internal::to_millis(*expires_at));

  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto tx = internal::Transaction::begin(conn);
  if (!tx) return tx.error();
  {
    auto taken = conn.prepare("SELECT 1 FROM api_tokens WHERE name = ? AND revoked_at IS NULL;");
    if (!taken) return taken.error();
    taken->bind(1, name);
    auto row = taken->step();
    if (!row) return row.error();
    if (*row) {
      return make_error(
          std::string(kTokenExists),
          fmt::format("an API token named '{}' exists already: revoke it first, or choose another name", name), 409);
    }
  }
  {
    auto insert = conn.prepare(
        "INSERT INTO api_tokens (name, hash, role, function_patterns, created_at, expires_at) VALUES (?, ?, ?, ?, ?, "
        "?);");
    if (!insert) return insert.error();
    insert->bind(1, name)
        .bind(2, hash_hex(created.plaintext))
        .bind(3, role_name(role))
        .bind(4, join_patterns(created.token.function_patterns))
        .bind(5, internal::to_millis(created.token.created_at));
    if (expires_at) insert->bind(6, internal::to_millis(*expires_at));  // unbound stays NULL: no expiry
    if (Status st = insert->run(); !st) return st.error();
  }
  created.token.id = static_cast<uint64_t>(sqlite3_last_insert_rowid(conn.db.get()));
  if (Status st = tx->commit(); !st) return st.error();
  return created;
}

Result<ApiToken> TokenRepository::authenticate(std::string_view plaintext, SystemTime now) {
  if (plaintext.size() != kTokenLength || !plaintext.starts_with(kTokenPrefix)) return token_unknown();
  const std::string hash = hash_hex(plaintext);
  ApiToken token;
  {
    auto& conn = db_.connection();
    std::lock_guard lock(conn.mutex);
    auto stmt = conn.prepare(fmt::format("SELECT {}, hash FROM api_tokens WHERE hash = ?;", kTokenColumns));
    if (!stmt) return stmt.error();
    stmt->bind(1, hash);
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) return token_unknown();
    // The index lookup already matched the hash; comparing it again in constant time keeps the
    // decision itself free of a timing signal, whatever the index does.
    if (!internal::equal_constant_time(stmt->column_text(9), hash)) return token_unknown();
    token = read_token(*stmt);
  }
  if (token.revoked_at) {
    return make_error(std::string(kTokenRevoked),
                      fmt::format("the API token '{}' was revoked at {}: ask an admin for a new one", token.name,
                                  format_rfc3339(*token.revoked_at)),
                      401);
  }
  if (token.expires_at && now >= *token.expires_at) {
    return make_error(std::string(kTokenExpired),
                      fmt::format("the API token '{}' expired at {}: ask an admin for a new one", token.name,
                                  format_rfc3339(*token.expires_at)),
                      401);
  }
  return token;
}

Result<std::vector<ApiToken>> TokenRepository::list() {
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare(fmt::format("SELECT {} FROM api_tokens ORDER BY name, id;", kTokenColumns));
  if (!stmt) return stmt.error();
  std::vector<ApiToken> out;
  while (true) {
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(read_token(*stmt));
  }
  return out;
}

Result<bool> TokenRepository::revoke(const std::string& name) {
  const int64_t now = internal::to_millis(internal::wall_now(clock_, steady_at_start_, wall_at_start_));
  auto& conn = db_.connection();
  std::lock_guard lock(conn.mutex);
  auto stmt = conn.prepare("UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL;");
  if (!stmt) return stmt.error();
  stmt->bind(1, now).bind(2, name);
  if (Status st = stmt->run(); !st) return st.error();
  return sqlite3_changes(conn.db.get()) > 0;
}

}  // namespace fnd::store
