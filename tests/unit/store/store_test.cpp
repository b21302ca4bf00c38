#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "config/function_spec.hpp"
#include "store/code_store.hpp"
#include "store/database.hpp"
#include "store/function_repository.hpp"

namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "fnd-store-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { fs::remove_all(path); }
};

struct Entry {
  std::string name;
  mode_t type = AE_IFREG;
  std::string content;
  std::string link;  // symlink target or hardlink source
  bool hardlink = false;
};

std::string make_tar_gz(const std::vector<Entry>& entries) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  archive_write_open(a, &out, nullptr,
                     [](archive*, void* sink, const void* buf, size_t n) -> la_ssize_t {
                       static_cast<std::string*>(sink)->append(static_cast<const char*>(buf), n);
                       return static_cast<la_ssize_t>(n);
                     },
                     nullptr);
  for (const auto& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    archive_entry_set_filetype(entry, e.type);
    archive_entry_set_perm(entry, 0644);
    if (e.type == AE_IFLNK) archive_entry_set_symlink(entry, e.link.c_str());
    if (e.hardlink) archive_entry_set_hardlink(entry, e.link.c_str());
    if (e.type == AE_IFREG && !e.hardlink) archive_entry_set_size(entry, static_cast<la_int64_t>(e.content.size()));
    archive_write_header(a, entry);
    if (e.type == AE_IFREG && !e.content.empty()) archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

fnd::config::FunctionSpec spec_with(std::string name, std::string code, std::string handler = "main.handle") {
  fnd::config::FunctionSpec spec;
  spec.name = std::move(name);
  spec.code = std::move(code);
  spec.handler = std::move(handler);
  return spec;
}

}  // namespace

TEST_CASE("database migrates to the newest schema and reopens", "[unit]") {
  TempDir dir;
  std::string path = (dir.path / "fnd.db").string();
  {
    auto db = fnd::store::Database::open(path);
    REQUIRE(db.ok());
    CHECK((*db)->schema_version() == 6);
  }
  auto again = fnd::store::Database::open(path);
  REQUIRE(again.ok());
  CHECK((*again)->schema_version() == 6);
}

TEST_CASE("revisions are immutable and identical specs make no new revision", "[unit]") {
  TempDir dir;
  auto db = fnd::store::Database::open((dir.path / "fnd.db").string());
  REQUIRE(db.ok());
  fnd::store::FunctionRepository repo(**db);
  std::string code(71, 'a');
  code.replace(0, 7, "sha256:");

  auto first = repo.put_revision(spec_with("hello", code));
  REQUIRE(first.ok());
  CHECK(first->created);
  CHECK(first->revision.number == 1);
  auto same = repo.put_revision(spec_with("hello", code));
  REQUIRE(same.ok());
  CHECK_FALSE(same->created);
  CHECK(same->revision.number == 1);
  auto changed = repo.put_revision(spec_with("hello", code, "main.other"));
  REQUIRE(changed.ok());
  CHECK(changed->revision.number == 2);

  auto revisions = repo.revisions("hello");
  REQUIRE(revisions.ok());
  REQUIRE(revisions->size() == 2);
  CHECK((*revisions)[0].spec.handler == "main.handle");
  CHECK((*revisions)[1].spec.handler == "main.other");
  CHECK((*repo.find("hello"))->latest_revision == 2);

  CHECK(*repo.remove("hello"));
  CHECK_FALSE(repo.find("hello")->has_value());
  CHECK_FALSE(*repo.remove("hello"));
}

TEST_CASE("code is stored content-addressed and readable by its owner only", "[unit]") {
  TempDir dir;
  fnd::store::CodeStore store((dir.path / "code").string(), {});
  std::string archive = make_tar_gz({{"main.py", AE_IFREG, "def handle(req): return 'hi'\n"},
                                     {"lib", AE_IFDIR},
                                     {"lib/util.py", AE_IFREG, "X = 1\n"},
                                     {"link.py", AE_IFLNK, "", "lib/util.py"}});
  auto stored = store.store_archive(archive);
  REQUIRE(stored.ok());
  CHECK(stored->digest == fnd::store::sha256_digest(archive));
  CHECK(stored->files == 2);
  fs::path root = store.directory(stored->digest);
  CHECK(fs::exists(root / "lib/util.py"));
  // Instances read it through idmapped mounts that show root's files as theirs; host users not at all.
  CHECK(fs::status(root / "main.py").permissions() == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(fs::status(root / "lib").permissions() == fs::perms::owner_all);
  CHECK(fs::status(root).permissions() == fs::perms::owner_all);
  CHECK(fs::status(dir.path / "code").permissions() == fs::perms::owner_all);
  auto again = store.store_archive(archive);
  REQUIRE(again.ok());
  CHECK(again->digest == stored->digest);
}

TEST_CASE("hostile archives are rejected before anything is published", "[unit]") {
  TempDir dir;
  fnd::store::CodeStore store((dir.path / "code").string(), {1 << 20, 1 << 20});
  auto reject = [&](const std::vector<Entry>& entries, int status) {
    auto result = store.store_archive(make_tar_gz(entries));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().http_status == status);
    return result.error().message;
  };
  CHECK_THAT(reject({{"/etc/cron.d/x", AE_IFREG, "boom"}}, 400), Catch::Contains("absolute"));
  CHECK_THAT(reject({{"../escape", AE_IFREG, "boom"}}, 400), Catch::Contains(".."));
  CHECK_THAT(reject({{"passwd", AE_IFLNK, "", "/etc/passwd"}}, 400), Catch::Contains("symbolic link"));
  CHECK_THAT(reject({{"a/up", AE_IFLNK, "", "../../etc"}}, 400), Catch::Contains("leaving the tree"));
  CHECK_THAT(reject({{"fifo", AE_IFIFO}}, 400), Catch::Contains("device"));
  CHECK_THAT(reject({{"big", AE_IFREG, std::string(2 << 20, 'x')}}, 413), Catch::Contains("max_code_unpacked"));
  CHECK_THAT(reject({{"x", AE_IFREG, "y"}, {"h", AE_IFREG, "", "/etc/shadow", true}}, 400), Catch::Contains("hard link"));
  // Nothing but the (empty) store root remains.
  CHECK(fs::is_empty(dir.path / "code"));
  auto garbage = store.store_archive("this is not a tarball");
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.error().http_status == 400);
}

// Found by tests/fuzz/fuzz_code_archive: a damaged gzip stream for which libarchive gives no error
// text; formatting the null pointer threw out of the upload (a 500 and a dropped connection).
TEST_CASE("a damaged archive without an error text from libarchive is a 400", "[unit]") {
  TempDir dir;
  fnd::store::CodeStore store((dir.path / "code").string(), {1 << 20, 1 << 20});
  const unsigned char damaged[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0xed, 0xc8, 0x49, 0x0a, 0x83, 0x40, 0x14, 0x04, 0xd0, 0x7f, 0x94, 0x3e, 0x81, 0x43, 0x68, 0xf4, 0x3c, 0x2e, 0xb2, 0x10, 0xb2, 0x8a, 0x03, 0x1e, 0xdf, 0xd6, 0x55, 0x70, 0x6f, 0x20, 0xe4, 0x3d, 0x0a, 0xaa, 0xa8, 0xa1, 0xae, 0xaa, 0x23, 0xcf, 0x75, 0x7c, 0xc5, 0x4d, 0x9a, 0xa2, 0xcb, 0xf9, 0xf9, 0xec, 0xe2, 0xda, 0x45, 0xfb, 0xb1, 0x8f, 0xbf, 0xcf, 0x8f, 0x1c, 0xa9, 0x89, 0x2f, 0x58, 0xa6, 0x79, 0x78, 0xa7, 0x14, 0x7f, 0x6a, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7e, 0xd1, 0x0e, 0x6f, 0x98, 0x81, 0x87, 0x00, 0x28, 0x00};
  auto result = store.store_archive(std::string_view(reinterpret_cast<const char*>(damaged), sizeof damaged));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().http_status == 400);
  CHECK(fs::is_empty(dir.path / "code"));
}

// Found by tests/fuzz/fuzz_code_archive (seed escape_through_symlink.tar.gz): a link whose target
// is lexically inside the tree ("x" -> "up/..") but that the file system resolves after another
// link ("up" -> ".") let later entries be written outside the unpack folder.
TEST_CASE("an archive cannot write through its own symbolic links out of its tree", "[unit]") {
  TempDir dir;
  fnd::store::CodeStore store((dir.path / "code").string(), {1 << 20, 1 << 20});
  auto reject = [&](const std::vector<Entry>& entries) {
    auto result = store.store_archive(make_tar_gz(entries));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == "unsafe_archive");
    CHECK(result.error().http_status == 400);
    return result.error().message;
  };
  const Entry up{"up", AE_IFLNK, "", "."};
  const Entry x{"x", AE_IFLNK, "", "up/.."};
  CHECK_THAT(reject({up, x, {"x/evil", AE_IFREG, "outside"}}), Catch::Contains("symbolic link"));
  CHECK_THAT(reject({up, x, {"x/newdir", AE_IFDIR}}), Catch::Contains("symbolic link"));
  CHECK_THAT(reject({up, x, {"x/sub/evil", AE_IFREG, "outside"}}), Catch::Contains("symbolic link"));
  // Bad archives are the uploader's to fix (400), not fnd's failures (500).
  CHECK_THAT(reject({{"a", AE_IFREG, "1"}, {"a/b", AE_IFREG, "2"}}), Catch::Contains("a/b"));
  CHECK_THAT(reject({{"d", AE_IFDIR}, {"d", AE_IFLNK, "", "e"}}), Catch::Contains("twice"));
  CHECK_THAT(reject({{"d", AE_IFDIR}, {"h", AE_IFREG, "", "d", true}}), Catch::Contains("folder"));
  CHECK_THAT(reject({{"empty", AE_IFLNK, "", ""}}), Catch::Contains("nothing"));
  for (const char* name : {"evil", "newdir", "sub"}) {
    INFO(name);
    CHECK_FALSE(fs::exists(dir.path / "code" / name));
  }
  CHECK(fs::is_empty(dir.path / "code"));

  // Links that only point (node_modules/.bin) stay allowed, ".." and all.
  auto stored = store.store_archive(make_tar_gz({{"node_modules/pkg/cli.js", AE_IFREG, "1"},
                                                 {"node_modules/.bin/cli", AE_IFLNK, "", "../pkg/cli.js"},
                                                 {"lib", AE_IFLNK, "", "node_modules/pkg"}}));
  REQUIRE(stored.ok());
  CHECK(fs::read_symlink(fs::path(store.directory(stored->digest)) / "node_modules/.bin/cli") == "../pkg/cli.js");
}

TEST_CASE("a function's traffic is stored with it and goes when it is deleted", "[unit]") {
  TempDir dir;
  auto db = fnd::store::Database::open((dir.path / "fnd.db").string());
  REQUIRE(db.ok());
  fnd::store::FunctionRepository repo(**db);
  std::string code(71, 'a');
  code.replace(0, 7, "sha256:");
  REQUIRE(repo.put_revision(spec_with("hello", code)).ok());
  auto missing = repo.set_traffic("nosuch", R"({"split":{"1":100}})");
  REQUIRE(missing.ok());
  CHECK_FALSE(*missing);
  auto set = repo.set_traffic("hello", R"({"split":{"1":100}})");
  REQUIRE(set.ok());
  CHECK(*set);
  auto found = repo.find("hello");
  REQUIRE(found.ok());
  REQUIRE(*found);
  CHECK((*found)->traffic == R"({"split":{"1":100}})");
  auto listed = repo.list();
  REQUIRE(listed.ok());
  CHECK(listed->at(0).traffic == R"({"split":{"1":100}})");
  REQUIRE(repo.remove("hello").ok());
  REQUIRE(repo.put_revision(spec_with("hello", code)).ok());
  CHECK((*repo.find("hello"))->traffic.empty());
}
