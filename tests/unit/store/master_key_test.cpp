#include "store/master_key.hpp"

#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "unit/store/test_support.hpp"

namespace fs = std::filesystem;
using fnd::store::is_master_key_unavailable;
using fnd::store::MasterKey;
using fnd::store::test::read_file;
using fnd::store::test::TempDir;

namespace {

void write_file(const std::string& path, const std::string& content, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string key_text(const MasterKey& key) { return std::string(key.bytes().begin(), key.bytes().end()); }

}  // namespace

TEST_CASE("a missing master key file is created 0600 with 32 random bytes and reloads the same", "[unit]") {
  TempDir dir;
  const std::string path = dir.file("secrets.key");
  auto key = MasterKey::load_or_create(path, std::nullopt);
  REQUIRE(key.ok());
  CHECK(key->source() == path);
  CHECK(mode_of(path) == 0600);
  CHECK(read_file(path) == key_text(*key));
  CHECK(key->id().size() == 16);
  CHECK(key_text(*key) != std::string(32, '\0'));
  // The temporary file the key was written to is gone: the directory holds the key file only.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);

  auto again = MasterKey::load_or_create(path, std::nullopt);
  REQUIRE(again.ok());
  CHECK(again->id() == key->id());
  CHECK(key_text(*again) == key_text(*key));

  TempDir other;
  auto different = MasterKey::load_or_create(other.file("secrets.key"), std::nullopt);
  REQUIRE(different.ok());
  CHECK(different->id() != key->id());
  CHECK(key_text(*different) != key_text(*key));
}

TEST_CASE("a master key file readable by group or others is refused with chmod 600 in the message", "[unit]") {
  TempDir dir;
  const std::string path = dir.file("secrets.key");
  REQUIRE(MasterKey::load_or_create(path, std::nullopt).ok());
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    auto refused = MasterKey::load_or_create(path, std::nullopt);
    REQUIRE_FALSE(refused.ok());
    CHECK(is_master_key_unavailable(refused.error()));
    CHECK_THAT(refused.error().message, Catch::Contains(path) && Catch::Contains("chmod 600"));
  }
  REQUIRE(::chmod(path.c_str(), 0400) == 0);
  CHECK(MasterKey::load_or_create(path, std::nullopt).ok());
}

TEST_CASE("a master key file of the wrong size is refused and left as it is", "[unit]") {
  TempDir dir;
  const std::string path = dir.file("secrets.key");
  write_file(path, std::string(31, 'k'), 0600);
  auto short_key = MasterKey::load_or_create(path, std::nullopt);
  REQUIRE_FALSE(short_key.ok());
  CHECK(is_master_key_unavailable(short_key.error()));
  CHECK_THAT(short_key.error().message, Catch::Contains("31 bytes") && Catch::Contains(path));
  CHECK(read_file(path) == std::string(31, 'k'));

  write_file(path, std::string(33, 'k'), 0600);
  auto long_key = MasterKey::load_or_create(path, std::nullopt);
  REQUIRE_FALSE(long_key.ok());
  CHECK_THAT(long_key.error().message, Catch::Contains("more than 32 bytes"));

  write_file(path, "", 0600);
  CHECK_FALSE(MasterKey::load_or_create(path, std::nullopt).ok());
  CHECK(read_file(path).empty());
}

TEST_CASE("a directory in place of the master key file is refused", "[unit]") {
  TempDir dir;
  const std::string path = dir.file("secrets.key");
  fs::create_directory(path);
  auto key = MasterKey::load_or_create(path, std::nullopt);
  REQUIRE_FALSE(key.ok());
  CHECK(is_master_key_unavailable(key.error()));
}

TEST_CASE("a systemd credential named like the key file is used instead of the key file", "[unit]") {
  TempDir state;
  TempDir credentials;
  const std::string path = state.file("secrets.key");
  const std::string credential = credentials.file("secrets.key");
  const std::string bytes = "0123456789abcdef0123456789ABCDEF";
  // systemd may show group bits (an ACL mask) on a credential: its directory is what is private.
  write_file(credential, bytes, 0440);

  auto key = MasterKey::load_or_create(path, credentials.path.string());
  REQUIRE(key.ok());
  CHECK(key->source() == credential);
  CHECK(key_text(*key) == bytes);
  CHECK_FALSE(fs::exists(path));

  write_file(credential, "too short", 0400);
  auto wrong = MasterKey::load_or_create(path, credentials.path.string());
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(wrong.error().message, Catch::Contains(credential));
}

TEST_CASE("a credentials directory without the key falls back to the key file", "[unit]") {
  TempDir state;
  TempDir credentials;
  const std::string path = state.file("secrets.key");
  auto key = MasterKey::load_or_create(path, credentials.path.string());
  REQUIRE(key.ok());
  CHECK(key->source() == path);
  CHECK(fs::exists(path));
  CHECK_FALSE(fs::exists(credentials.file("secrets.key")));
  CHECK(MasterKey::load_or_create(path, std::string()).ok());  // set but empty: not set
}

TEST_CASE("CREDENTIALS_DIRECTORY is read from the environment", "[unit]") {
  TempDir state;
  TempDir credentials;
  const std::string bytes(32, 'c');
  write_file(credentials.file("secrets.key"), bytes, 0400);
  const char* before = std::getenv("CREDENTIALS_DIRECTORY");
  std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
  REQUIRE(::setenv("CREDENTIALS_DIRECTORY", credentials.path.c_str(), 1) == 0);
  auto key = MasterKey::load_or_create(state.file("secrets.key"));
  if (saved) {
    ::setenv("CREDENTIALS_DIRECTORY", saved->c_str(), 1);
  } else {
    ::unsetenv("CREDENTIALS_DIRECTORY");
  }
  REQUIRE(key.ok());
  CHECK(key->source() == credentials.file("secrets.key"));
  CHECK(key_text(*key) == bytes);
  CHECK_FALSE(fs::exists(state.file("secrets.key")));
}

TEST_CASE("a master key moved into another keeps its bytes and id", "[unit]") {
  TempDir dir;
  auto key = MasterKey::load_or_create(dir.file("secrets.key"), std::nullopt);
  REQUIRE(key.ok());
  const std::string id = key->id();
  const std::string bytes = key_text(*key);
  MasterKey moved = std::move(*key);
  CHECK(moved.id() == id);
  CHECK(key_text(moved) == bytes);
}
