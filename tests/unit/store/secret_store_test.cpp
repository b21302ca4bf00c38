#include "store/secret_store.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "connection.hpp"
#include "core/base64.hpp"
#include "crypto.hpp"
#include "store/database.hpp"
#include "store/master_key.hpp"
#include "unit/store/test_support.hpp"

using namespace std::chrono_literals;
using fnd::store::Database;
using fnd::store::MasterKey;
using fnd::store::SecretStore;
using fnd::store::SecretValues;
using fnd::store::test::FakeClock;
using fnd::store::test::TempDir;
using fnd::store::test::test_epoch;

namespace {

// A database and a secret store over it in a temporary state dir.
struct Fixture {
  TempDir dir;
  FakeClock clock;
  std::string db_path = dir.file("fnd.db");
  std::string key_path = dir.file("secrets.key");
  std::unique_ptr<Database> db;
  std::optional<SecretStore> store;

  Fixture() {
    auto opened = Database::open(db_path);
    REQUIRE(opened.ok());
    db = std::move(*opened);
    store.emplace(*db, load_key(key_path), clock, test_epoch());
  }

  static MasterKey load_key(const std::string& path) {
    auto key = MasterKey::load_or_create(path, std::nullopt);
    REQUIRE(key.ok());
    return std::move(*key);
  }

  std::string sealed(const std::string& secret, const std::string& key) {
    auto& conn = db->connection();
    auto stmt = conn.prepare("SELECT sealed FROM secret_values WHERE secret = ? AND key = ?;");
    REQUIRE(stmt.ok());
    stmt->bind(1, secret).bind(2, key);
    auto row = stmt->step();
    REQUIRE(row.ok());
    REQUIRE(*row);
    return stmt->column_text(0);
  }

  void set_sealed(const std::string& secret, const std::string& key, const std::string& value) {
    auto& conn = db->connection();
    auto stmt = conn.prepare(
        "INSERT INTO secret_values (secret, key, sealed) VALUES (?, ?, ?) "
        "ON CONFLICT(secret, key) DO UPDATE SET sealed = excluded.sealed;");
    REQUIRE(stmt.ok());
    stmt->bind(1, secret).bind(2, key).bind(3, value);
    REQUIRE(stmt->run().ok());
  }
};

const SecretValues kStripe = {{"key", "sk_live_51HxQ7example"}, {"ca", "-----BEGIN CERTIFICATE-----\nMIIB\n"}};

// The sealed value with one byte of its raw form changed (offset counted from the end).
std::string flip_byte(const std::string& sealed, size_t from_end) {
  auto raw = fnd::base64_decode(sealed);
  REQUIRE(raw.has_value());
  REQUIRE(raw->size() > from_end);
  (*raw)[raw->size() - 1 - from_end] ^= 0x01;
  return fnd::base64_encode(*raw);
}

}  // namespace

TEST_CASE("a secret round-trips through put and get", "[unit]") {
  Fixture f;
  auto version = f.store->put("stripe", kStripe);
  REQUIRE(version.ok());
  CHECK(*version >= 1);
  auto secret = f.store->get("stripe");
  REQUIRE(secret.ok());
  CHECK(secret->name == "stripe");
  CHECK(secret->values == kStripe);
  CHECK(secret->version == *version);
  CHECK(secret->updated_at == test_epoch());

  // Binary values and an empty value come back byte for byte.
  SecretValues binary = {{"blob", std::string("\0\x01\xff\x80 zero", 9)}, {"empty", ""}};
  REQUIRE(f.store->put("binary", binary).ok());
  auto read = f.store->get("binary");
  REQUIRE(read.ok());
  CHECK(read->values == binary);
}

TEST_CASE("every change of a secret gets a higher version, an identical put keeps it", "[unit]") {
  Fixture f;
  auto v1 = f.store->put("stripe", kStripe);
  REQUIRE(v1.ok());
  f.clock.advance(5s);
  auto same = f.store->put("stripe", kStripe);
  REQUIRE(same.ok());
  CHECK(*same == *v1);

  SecretValues changed = kStripe;
  changed["key"] = "sk_live_rotated";
  auto v2 = f.store->put("stripe", changed);
  REQUIRE(v2.ok());
  CHECK(*v2 > *v1);
  REQUIRE(f.store->put("other", {{"a", "b"}}).ok());

  // Fewer keys is a change too: put replaces all keys.
  auto v3 = f.store->put("stripe", {{"key", "sk_live_rotated"}});
  REQUIRE(v3.ok());
  CHECK(*v3 > *v2);
  auto secret = f.store->get("stripe");
  REQUIRE(secret.ok());
  CHECK(secret->values == SecretValues{{"key", "sk_live_rotated"}});

  // Removed and created again: still higher than any version before.
  REQUIRE(f.store->remove("stripe").ok());
  auto v4 = f.store->put("stripe", kStripe);
  REQUIRE(v4.ok());
  CHECK(*v4 > *v3);
}

TEST_CASE("list shows names, key names, versions and times but never values", "[unit]") {
  Fixture f;
  auto v1 = f.store->put("stripe", kStripe);
  REQUIRE(v1.ok());
  f.clock.advance(10s);
  auto v2 = f.store->put("db", {{"password", "hunter2"}});
  REQUIRE(v2.ok());
  f.clock.advance(10s);
  auto v3 = f.store->put("stripe", {{"key", "new"}, {"ca", "ca"}, {"webhook", "whsec"}});
  REQUIRE(v3.ok());
  REQUIRE(f.store->put("empty", {}).ok());

  auto listed = f.store->list();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 3);
  CHECK((*listed)[0].name == "db");
  CHECK((*listed)[0].keys == std::vector<std::string>{"password"});
  CHECK((*listed)[0].version == *v2);
  CHECK((*listed)[1].name == "empty");
  CHECK((*listed)[1].keys.empty());
  CHECK((*listed)[2].name == "stripe");
  CHECK((*listed)[2].keys == std::vector<std::string>{"ca", "key", "webhook"});
  CHECK((*listed)[2].version == *v3);
  CHECK((*listed)[2].created_at == test_epoch());
  CHECK((*listed)[2].updated_at == test_epoch() + 20s);
}

TEST_CASE("removing a secret removes its values, get then says not found", "[unit]") {
  Fixture f;
  REQUIRE(f.store->put("stripe", kStripe).ok());
  auto removed = f.store->remove("stripe");
  REQUIRE(removed.ok());
  CHECK(*removed);
  auto again = f.store->remove("stripe");
  REQUIRE(again.ok());
  CHECK_FALSE(*again);
  auto missing = f.store->get("stripe");
  REQUIRE_FALSE(missing.ok());
  CHECK(fnd::store::is_secret_not_found(missing.error()));
  CHECK(missing.error().http_status == 404);
  auto& conn = f.db->connection();
  auto count = conn.prepare("SELECT COUNT(*) FROM secret_values;");
  REQUIRE(count.ok());
  REQUIRE(count->step().ok());
  CHECK(count->column_int(0) == 0);
}

TEST_CASE("secret names, key names and sizes are validated", "[unit]") {
  Fixture f;
  for (const char* name : {"", "Stripe", "-stripe", "stripe_key", "a.b"}) {
    auto put = f.store->put(name, {{"key", "v"}});
    REQUIRE_FALSE(put.ok());
    CHECK(put.error().code == "invalid_name");
  }
  for (const std::string& key : {std::string(), std::string("."), std::string(".."), std::string("a/b"),
                                 std::string("a b"), std::string(254, 'k'), std::string("caf\xc3\xa9")}) {
    auto put = f.store->put("stripe", {{key, "v"}});
    REQUIRE_FALSE(put.ok());
    CHECK(put.error().code == fnd::store::kInvalidSecretKey);
    CHECK(put.error().http_status == 400);
  }
  CHECK(f.store->put("stripe", {{"A.b_c-9", "v"}, {std::string(253, 'k'), "v"}, {"..a", "v"}}).ok());

  const std::string mib(fnd::store::kMaxSecretValueBytes, 'x');
  CHECK(f.store->put("big", {{"one", mib}}).ok());
  auto too_big = f.store->put("big", {{"one", mib + "x"}});
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.error().code == fnd::store::kSecretTooLarge);
  CHECK(too_big.error().http_status == 413);
  CHECK(f.store->put("big", {{"a", mib}, {"b", mib}, {"c", mib}, {"d", mib}}).ok());
  auto too_much = f.store->put("big", {{"a", mib}, {"b", mib}, {"c", mib}, {"d", mib}, {"e", "x"}});
  REQUIRE_FALSE(too_much.ok());
  CHECK(too_much.error().code == fnd::store::kSecretTooLarge);
  // A refused put changed nothing.
  auto kept = f.store->get("big");
  REQUIRE(kept.ok());
  CHECK(kept->values.size() == 4);
}

TEST_CASE("a value's plaintext never reaches the database file", "[unit]") {
  Fixture f;
  const std::string value = "PLAINTEXT-MARKER-7f3a9c";
  REQUIRE(f.store->put("stripe", {{"key", value}}).ok());
  REQUIRE(f.store->put("stripe", {{"key", value + "-2"}, {"ca", value + "-ca"}}).ok());
  // The database file with its WAL, both while open and after close (checkpointed).
  std::string raw = fnd::store::test::raw_database_bytes(f.db_path);
  CHECK(raw.find("stripe") != std::string::npos);  // the grep would find what is there
  CHECK(raw.find("PLAINTEXT-MARKER") == std::string::npos);
  const auto& key = f.store->master_key().bytes();
  CHECK(raw.find(std::string(key.begin(), key.end())) == std::string::npos);
  f.store.reset();
  f.db.reset();
  raw = fnd::store::test::raw_database_bytes(f.db_path);
  CHECK(raw.find("stripe") != std::string::npos);
  CHECK(raw.find("PLAINTEXT-MARKER") == std::string::npos);
}

TEST_CASE("equal values are sealed with fresh nonces", "[unit]") {
  Fixture f;
  REQUIRE(f.store->put("one", {{"a", "same"}, {"b", "same"}}).ok());
  REQUIRE(f.store->put("two", {{"a", "same"}}).ok());
  CHECK(f.sealed("one", "a") != f.sealed("one", "b"));
  CHECK(f.sealed("one", "a") != f.sealed("two", "a"));
}

TEST_CASE("another master key cannot decrypt, and says so", "[unit]") {
  Fixture f;
  REQUIRE(f.store->put("stripe", kStripe).ok());
  TempDir other;
  SecretStore wrong(*f.db, Fixture::load_key(other.file("secrets.key")), f.clock, test_epoch());
  auto secret = wrong.get("stripe");
  REQUIRE_FALSE(secret.ok());
  CHECK(fnd::store::is_secret_undecryptable(secret.error()));
  CHECK_THAT(secret.error().message,
             Catch::Contains("another master key") && Catch::Contains(other.file("secrets.key")));
  CHECK_THAT(secret.error().message, !Catch::Contains("sk_live"));

  // Even when the stored key id is rewritten to name the wrong key, GCM refuses: no garbage out.
  std::string sealed = f.sealed("stripe", "key");
  auto raw = fnd::base64_decode(sealed);
  REQUIRE(raw.has_value());
  auto wrong_id = fnd::store::internal::from_hex(wrong.master_key().id());
  REQUIRE(wrong_id.has_value());
  raw->replace(1, 8, *wrong_id);
  f.set_sealed("stripe", "key", fnd::base64_encode(*raw));
  f.set_sealed("stripe", "ca", fnd::base64_encode(*raw));
  auto forged = wrong.get("stripe");
  REQUIRE_FALSE(forged.ok());
  CHECK(fnd::store::is_secret_undecryptable(forged.error()));
  CHECK_THAT(forged.error().message, Catch::Contains("does not decrypt"));
}

TEST_CASE("an altered sealed value is refused, whichever part was altered", "[unit]") {
  for (size_t from_end : {size_t{0}, size_t{10}, size_t{16}, size_t{20}}) {  // tag, tag, ciphertext, ciphertext
    Fixture f;
    REQUIRE(f.store->put("stripe", kStripe).ok());
    f.set_sealed("stripe", "key", flip_byte(f.sealed("stripe", "key"), from_end));
    auto secret = f.store->get("stripe");
    REQUIRE_FALSE(secret.ok());
    CHECK(fnd::store::is_secret_undecryptable(secret.error()));
    CHECK_THAT(secret.error().message, Catch::Contains("'stripe'") && Catch::Contains("'key'"));
  }
  Fixture f;
  REQUIRE(f.store->put("stripe", kStripe).ok());
  const std::string sealed = f.sealed("stripe", "key");
  auto raw = fnd::base64_decode(sealed);
  REQUIRE(raw.has_value());
  (*raw)[9] ^= 0x01;  // the nonce's first byte
  f.set_sealed("stripe", "key", fnd::base64_encode(*raw));
  CHECK_FALSE(f.store->get("stripe").ok());
  for (const std::string& damaged : {std::string("not base64!"), std::string("AAAA"), std::string()}) {
    f.set_sealed("stripe", "key", damaged);
    auto secret = f.store->get("stripe");
    REQUIRE_FALSE(secret.ok());
    CHECK(fnd::store::is_secret_undecryptable(secret.error()));
    CHECK_THAT(secret.error().message, Catch::Contains("damaged"));
  }
}

TEST_CASE("a value moved to another key or another secret is refused", "[unit]") {
  Fixture f;
  REQUIRE(f.store->put("stripe", kStripe).ok());
  REQUIRE(f.store->put("other", {{"key", "other value"}}).ok());
  const std::string stripe_key = f.sealed("stripe", "key");
  const std::string stripe_ca = f.sealed("stripe", "ca");

  SECTION("swapped between two keys of one secret") {
    f.set_sealed("stripe", "key", stripe_ca);
    f.set_sealed("stripe", "ca", stripe_key);
    auto secret = f.store->get("stripe");
    REQUIRE_FALSE(secret.ok());
    CHECK(fnd::store::is_secret_undecryptable(secret.error()));
  }
  SECTION("copied to the same key of another secret") {
    f.set_sealed("other", "key", stripe_key);
    auto secret = f.store->get("other");
    REQUIRE_FALSE(secret.ok());
    CHECK(fnd::store::is_secret_undecryptable(secret.error()));
    CHECK(f.store->get("stripe").ok());
  }
  SECTION("copied to a new key of the same secret") {
    f.set_sealed("stripe", "key2", stripe_key);
    CHECK_FALSE(f.store->get("stripe").ok());
  }
}

TEST_CASE("a put over values that no longer decrypt replaces them", "[unit]") {
  Fixture f;
  auto v1 = f.store->put("stripe", kStripe);
  REQUIRE(v1.ok());
  f.set_sealed("stripe", "key", flip_byte(f.sealed("stripe", "key"), 0));
  auto v2 = f.store->put("stripe", kStripe);
  REQUIRE(v2.ok());
  CHECK(*v2 > *v1);
  auto secret = f.store->get("stripe");
  REQUIRE(secret.ok());
  CHECK(secret->values == kStripe);
}

TEST_CASE("secrets survive closing and reopening the database with the same key file", "[unit]") {
  Fixture f;
  auto version = f.store->put("stripe", kStripe);
  REQUIRE(version.ok());
  f.store.reset();
  f.db.reset();
  auto db = Database::open(f.db_path);
  REQUIRE(db.ok());
  SecretStore reopened(**db, Fixture::load_key(f.key_path), f.clock, test_epoch());
  auto secret = reopened.get("stripe");
  REQUIRE(secret.ok());
  CHECK(secret->values == kStripe);
  CHECK(secret->version == *version);
}
