#include "store/token_repository.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "crypto.hpp"
#include "store/database.hpp"
#include "unit/store/test_support.hpp"

using namespace std::chrono_literals;
using fnd::store::ApiToken;
using fnd::store::Database;
using fnd::store::matches_pattern;
using fnd::store::Role;
using fnd::store::TokenRepository;
using fnd::store::test::FakeClock;
using fnd::store::test::TempDir;
using fnd::store::test::test_epoch;

namespace {

struct Fixture {
  TempDir dir;
  FakeClock clock;
  std::string db_path = dir.file("fnd.db");
  std::unique_ptr<Database> db;
  std::optional<TokenRepository> tokens;

  Fixture() {
    auto opened = Database::open(db_path);
    REQUIRE(opened.ok());
    db = std::move(*opened);
    tokens.emplace(*db, clock, test_epoch());
  }

  fnd::store::CreatedToken create(const std::string& name, Role role = Role::deployer,
                                  std::vector<std::string> patterns = {},
                                  std::optional<fnd::SystemTime> expires_at = std::nullopt) {
    auto created = tokens->create(name, role, std::move(patterns), expires_at);
    REQUIRE(created.ok());
    return std::move(*created);
  }
};

bool is_base64url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

TEST_CASE("function patterns match with '*' as the only wildcard", "[unit]") {
  CHECK(matches_pattern("shop-*", "shop-cart"));
  CHECK(matches_pattern("shop-*", "shop-"));
  CHECK_FALSE(matches_pattern("shop-*", "shop"));
  CHECK_FALSE(matches_pattern("shop-*", "my-shop-cart"));
  CHECK(matches_pattern("*", "anything"));
  CHECK(matches_pattern("*", ""));
  CHECK(matches_pattern("**", "x"));
  CHECK(matches_pattern("hello", "hello"));
  CHECK_FALSE(matches_pattern("hello", "hello2"));
  CHECK_FALSE(matches_pattern("hello", "hell"));
  CHECK(matches_pattern("*-prod", "api-prod"));
  CHECK_FALSE(matches_pattern("*-prod", "api-prod-2"));
  CHECK(matches_pattern("a*b*c", "abc"));
  CHECK(matches_pattern("a*b*c", "a-x-b-y-c"));
  CHECK_FALSE(matches_pattern("a*b*c", "a-x-c-y-b"));
  // Needs the star to take back what it gave up: "a*ab" over "aaab".
  CHECK(matches_pattern("a*ab", "aaab"));
  CHECK(matches_pattern("*ab*ab", "xabyabab"));
  CHECK_FALSE(matches_pattern("*ab*ab", "xabyaba"));
  CHECK_FALSE(matches_pattern("", "a"));
  CHECK(matches_pattern("", ""));
  // Other glob characters are literal: only '*' is a wildcard.
  CHECK_FALSE(matches_pattern("shop-?", "shop-a"));
  CHECK(matches_pattern("shop-?", "shop-?"));
}

TEST_CASE("function patterns and roles are validated", "[unit]") {
  CHECK(fnd::store::validate_function_pattern("shop-*").ok());
  CHECK(fnd::store::validate_function_pattern("*").ok());
  for (const std::string& bad : {std::string(), std::string("Shop-*"), std::string("shop_*"), std::string("shop,cart"),
                                 std::string("shop-?"), std::string(64, 'a')}) {
    auto st = fnd::store::validate_function_pattern(bad);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == fnd::store::kInvalidFunctionPattern);
  }
  for (Role role : {Role::admin, Role::deployer, Role::invoker, Role::reader}) {
    auto parsed = fnd::store::parse_role(fnd::store::role_name(role));
    REQUIRE(parsed.ok());
    CHECK(*parsed == role);
  }
  auto bad = fnd::store::parse_role("root");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == fnd::store::kInvalidRole);
  CHECK(bad.error().http_status == 400);
}

TEST_CASE("a created token is shown once and authenticates as its record", "[unit]") {
  Fixture f;
  auto created = f.create("ci", Role::deployer, {"shop-*", "billing"});
  const std::string& plaintext = created.plaintext;
  CHECK(plaintext.size() == 47);
  CHECK(plaintext.starts_with("fnd_"));
  CHECK(std::all_of(plaintext.begin() + 4, plaintext.end(), is_base64url));
  CHECK(created.token.name == "ci");
  CHECK(created.token.created_at == test_epoch());
  CHECK_FALSE(created.token.expires_at);
  CHECK_FALSE(created.token.revoked_at);

  f.clock.advance(1h);
  auto token = f.tokens->authenticate(plaintext, test_epoch() + 1h);
  REQUIRE(token.ok());
  CHECK(token->id == created.token.id);
  CHECK(token->name == "ci");
  CHECK(token->role == Role::deployer);
  CHECK(token->function_patterns == std::vector<std::string>{"shop-*", "billing"});
  CHECK(token->created_at == test_epoch());
  CHECK(token->allows_function("shop-cart"));
  CHECK(token->allows_function("billing"));
  CHECK_FALSE(token->allows_function("billing-v2"));
  CHECK_FALSE(token->allows_function("admin-tools"));

  // Two tokens never share a plaintext.
  auto second = f.create("ci-2");
  CHECK(second.plaintext != plaintext);
  auto all = f.create("all", Role::admin);
  auto admin = f.tokens->authenticate(all.plaintext, test_epoch());
  REQUIRE(admin.ok());
  CHECK(admin->function_patterns.empty());
  CHECK(admin->allows_function("anything"));
}

TEST_CASE("only a token's hash reaches the database file", "[unit]") {
  Fixture f;
  auto created = f.create("ci");
  const std::string hash = fnd::store::internal::to_hex(fnd::store::internal::sha256(created.plaintext));
  std::string raw = fnd::store::test::raw_database_bytes(f.db_path);
  CHECK(raw.find(hash) != std::string::npos);  // the grep would find what is there
  CHECK(raw.find(created.plaintext) == std::string::npos);
  CHECK(raw.find(created.plaintext.substr(4)) == std::string::npos);
  CHECK(raw.find(created.plaintext.substr(4, 16)) == std::string::npos);
  f.tokens.reset();
  f.db.reset();
  raw = fnd::store::test::raw_database_bytes(f.db_path);
  CHECK(raw.find(hash) != std::string::npos);
  CHECK(raw.find(created.plaintext.substr(4, 16)) == std::string::npos);
}

TEST_CASE("unknown, expired and revoked tokens are refused with distinct codes", "[unit]") {
  Fixture f;
  auto expiring = f.create("short", Role::invoker, {}, test_epoch() + 1h);
  auto revoked = f.create("gone", Role::admin);

  SECTION("unknown") {
    std::string forged = expiring.plaintext;
    forged.back() = forged.back() == 'A' ? 'B' : 'A';
    for (const std::string& text :
         {forged, std::string(), std::string("fnd_"), std::string("Bearer ") + expiring.plaintext,
          expiring.plaintext + "x", expiring.plaintext.substr(4)}) {
      auto token = f.tokens->authenticate(text, test_epoch());
      REQUIRE_FALSE(token.ok());
      CHECK(fnd::store::is_token_unknown(token.error()));
      CHECK(token.error().http_status == 401);
      CHECK_THAT(token.error().message, !Catch::Contains(expiring.plaintext.substr(4, 10)));
    }
  }
  SECTION("expired") {
    CHECK(f.tokens->authenticate(expiring.plaintext, test_epoch() + 59min).ok());
    auto token = f.tokens->authenticate(expiring.plaintext, test_epoch() + 1h);
    REQUIRE_FALSE(token.ok());
    CHECK(fnd::store::is_token_expired(token.error()));
    CHECK(token.error().http_status == 401);
    CHECK_THAT(token.error().message, Catch::Contains("'short'"));
  }
  SECTION("revoked") {
    f.clock.advance(30s);
    auto done = f.tokens->revoke("gone");
    REQUIRE(done.ok());
    CHECK(*done);
    auto token = f.tokens->authenticate(revoked.plaintext, test_epoch() + 1min);
    REQUIRE_FALSE(token.ok());
    CHECK(fnd::store::is_token_revoked(token.error()));
    CHECK(fnd::store::is_authentication_failure(token.error()));
    CHECK(token.error().http_status == 401);
    auto again = f.tokens->revoke("gone");
    REQUIRE(again.ok());
    CHECK_FALSE(*again);
    auto nobody = f.tokens->revoke("nobody");
    REQUIRE(nobody.ok());
    CHECK_FALSE(*nobody);
  }
  SECTION("revoked wins over expired") {
    REQUIRE(f.tokens->revoke("short").ok());
    auto token = f.tokens->authenticate(expiring.plaintext, test_epoch() + 2h);
    REQUIRE_FALSE(token.ok());
    CHECK(fnd::store::is_token_revoked(token.error()));
  }
}

TEST_CASE("token names are unique among unrevoked tokens, revoking frees the name", "[unit]") {
  Fixture f;
  auto first = f.create("ci");
  auto taken = f.tokens->create("ci", Role::reader, {}, std::nullopt);
  REQUIRE_FALSE(taken.ok());
  CHECK(taken.error().code == fnd::store::kTokenExists);
  CHECK(taken.error().http_status == 409);

  f.clock.advance(1min);
  REQUIRE(f.tokens->revoke("ci").ok());
  auto second = f.create("ci", Role::reader);
  CHECK(second.token.id != first.token.id);
  // The old token stays revoked, the new one works.
  CHECK(fnd::store::is_token_revoked(f.tokens->authenticate(first.plaintext, test_epoch() + 2min).error()));
  CHECK(f.tokens->authenticate(second.plaintext, test_epoch() + 2min).ok());

  auto listed = f.tokens->list();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].id == first.token.id);
  REQUIRE((*listed)[0].revoked_at.has_value());
  CHECK(*(*listed)[0].revoked_at == test_epoch() + 1min);
  CHECK((*listed)[1].id == second.token.id);
  CHECK_FALSE((*listed)[1].revoked_at);
  CHECK((*listed)[1].role == Role::reader);
}

TEST_CASE("list shows every token by name with its role, patterns and times", "[unit]") {
  Fixture f;
  f.create("zeta", Role::reader);
  f.clock.advance(1s);
  f.create("alpha", Role::invoker, {"shop-*"}, test_epoch() + 24h);
  auto listed = f.tokens->list();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  const ApiToken& alpha = (*listed)[0];
  CHECK(alpha.name == "alpha");
  CHECK(alpha.role == Role::invoker);
  CHECK(alpha.function_patterns == std::vector<std::string>{"shop-*"});
  CHECK(alpha.created_at == test_epoch() + 1s);
  REQUIRE(alpha.expires_at.has_value());
  CHECK(*alpha.expires_at == test_epoch() + 24h);
  CHECK((*listed)[1].name == "zeta");
  CHECK_FALSE((*listed)[1].expires_at);
}

TEST_CASE("a token request with a bad name, pattern or expiry is refused", "[unit]") {
  Fixture f;
  auto bad_name = f.tokens->create("CI token", Role::admin, {}, std::nullopt);
  REQUIRE_FALSE(bad_name.ok());
  CHECK(bad_name.error().code == "invalid_name");
  auto bad_pattern = f.tokens->create("ci", Role::admin, {"shop-*", "Shop"}, std::nullopt);
  REQUIRE_FALSE(bad_pattern.ok());
  CHECK(bad_pattern.error().code == fnd::store::kInvalidFunctionPattern);
  auto too_many = f.tokens->create("ci", Role::admin, std::vector<std::string>(65, "a"), std::nullopt);
  REQUIRE_FALSE(too_many.ok());
  CHECK(too_many.error().code == fnd::store::kInvalidFunctionPattern);
  f.clock.advance(1h);
  for (auto when : {test_epoch(), test_epoch() + 1h}) {
    auto past = f.tokens->create("ci", Role::admin, {}, when);
    REQUIRE_FALSE(past.ok());
    CHECK(past.error().code == fnd::store::kInvalidTokenExpiry);
  }
  CHECK(f.tokens->create("ci", Role::admin, {}, test_epoch() + 1h + 1s).ok());
  auto listed = f.tokens->list();
  REQUIRE(listed.ok());
  CHECK(listed->size() == 1);
}
