#include "fnctl/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using fnd::fnctl::pack_directory;

namespace {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "fnctl-archive-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& content, fs::perms perms) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
  fs::permissions(path, perms);
}

struct ReadEntry {
  std::string name;
  mode_t type = 0;
  mode_t perm = 0;
  std::string link_target;
  std::string content;
  int64_t mtime = -1;
  int64_t uid = -1;
};

struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

// The archive's entries in order, read back with libarchive as fnd's code store would.
std::vector<ReadEntry> read_entries(const std::string& bytes) {
  std::unique_ptr<archive, ArchiveReadDeleter> reader(archive_read_new());
  archive* a = reader.get();
  REQUIRE(archive_read_support_filter_gzip(a) == ARCHIVE_OK);
  REQUIRE(archive_read_support_format_tar(a) == ARCHIVE_OK);
  REQUIRE(archive_read_open_memory(a, bytes.data(), bytes.size()) == ARCHIVE_OK);
  REQUIRE(archive_filter_code(a, 0) == ARCHIVE_FILTER_GZIP);
  std::vector<ReadEntry> entries;
  archive_entry* entry = nullptr;
  while (archive_read_next_header(a, &entry) == ARCHIVE_OK) {
    ReadEntry e;
    e.name = archive_entry_pathname(entry);
    e.type = archive_entry_filetype(entry);
    e.perm = archive_entry_perm(entry);
    if (const char* target = archive_entry_symlink(entry)) e.link_target = target;
    e.mtime = archive_entry_mtime(entry);
    e.uid = archive_entry_uid(entry);
    char buffer[4096];
    la_ssize_t n = 0;
    while ((n = archive_read_data(a, buffer, sizeof buffer)) > 0) e.content.append(buffer, static_cast<size_t>(n));
    REQUIRE(n == 0);
    entries.push_back(std::move(e));
  }
  return entries;
}

std::map<std::string, ReadEntry> by_name(const std::vector<ReadEntry>& entries) {
  std::map<std::string, ReadEntry> out;
  for (const auto& e : entries) out[e.name] = e;
  return out;
}

// A small function folder: code, an executable script, a nested dir, a symlink and a .git.
void make_function_folder(const fs::path& dir) {
  constexpr auto kPlain = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read;
  constexpr auto kExec = kPlain | fs::perms::owner_exec;
  write_file(dir / "main.py", "def handle(req):\n    return 'hi'\n", kPlain);
  write_file(dir / "run.sh", "#!/bin/sh\necho hi\n", kExec);
  write_file(dir / "lib" / "util" / "data.bin", std::string("a\0b\xff", 4), kPlain);
  fs::create_directories(dir / "empty");
  fs::create_symlink("main.py", dir / "link.py");
  write_file(dir / ".git" / "HEAD", "ref: refs/heads/main\n", kPlain);
  write_file(dir / "lib" / ".git", "gitdir: ../.git/modules/lib\n", kPlain);
}

}  // namespace

TEST_CASE("pack_directory stores relative paths, parents first, sorted", "[unit]") {
  TempDir dir;
  make_function_folder(dir.path());

  auto packed = pack_directory(dir.path());
  REQUIRE(packed.ok());

  std::vector<std::string> names;
  for (const auto& e : read_entries(packed->bytes)) names.push_back(e.name);
  // libarchive's tar writer marks directories with a trailing '/', as GNU tar does.
  CHECK(names == std::vector<std::string>{"empty/", "lib/", "lib/util/", "lib/util/data.bin", "link.py", "main.py",
                                          "run.sh"});
  CHECK(packed->files == 4);  // regular files and symlinks
}

TEST_CASE("pack_directory keeps types, contents and the executable bit", "[unit]") {
  TempDir dir;
  make_function_folder(dir.path());

  auto packed = pack_directory(dir.path());
  REQUIRE(packed.ok());
  auto entries = by_name(read_entries(packed->bytes));

  CHECK(entries.at("main.py").type == AE_IFREG);
  CHECK(entries.at("main.py").perm == 0644);
  CHECK(entries.at("main.py").content == "def handle(req):\n    return 'hi'\n");
  CHECK(entries.at("run.sh").type == AE_IFREG);
  CHECK(entries.at("run.sh").perm == 0755);
  CHECK(entries.at("lib/util/data.bin").content == std::string("a\0b\xff", 4));
  CHECK(entries.at("lib/").type == AE_IFDIR);
  CHECK(entries.at("lib/").perm == 0755);
  CHECK(entries.at("empty/").type == AE_IFDIR);
  CHECK(entries.at("link.py").type == AE_IFLNK);
  CHECK(entries.at("link.py").link_target == "main.py");
  CHECK(entries.at("link.py").content.empty());
}

TEST_CASE("pack_directory skips .git directories and files", "[unit]") {
  TempDir dir;
  make_function_folder(dir.path());

  auto packed = pack_directory(dir.path());
  REQUIRE(packed.ok());
  for (const auto& e : read_entries(packed->bytes)) {
    INFO(e.name);
    CHECK(fs::path(e.name).filename() != ".git");
    CHECK(e.name.find(".git/") == std::string::npos);
  }
}

TEST_CASE("pack_directory gives the same bytes for the same tree", "[unit]") {
  TempDir dir;
  make_function_folder(dir.path());

  auto first = pack_directory(dir.path());
  REQUIRE(first.ok());
  // Touching files must not change the digest fnd computes: times and owners are not packed.
  fs::last_write_time(dir.path() / "main.py", fs::file_time_type::clock::now() - std::chrono::hours(24));
  auto second = pack_directory(dir.path());
  REQUIRE(second.ok());
  CHECK(first->bytes == second->bytes);
  for (const auto& e : read_entries(second->bytes)) {
    CHECK(e.mtime == 0);
    CHECK(e.uid == 0);
  }
}

TEST_CASE("pack_directory rejects what fnd cannot store and folders that do not exist", "[unit]") {
  TempDir dir;
  write_file(dir.path() / "main.py", "x", fs::perms::owner_read | fs::perms::owner_write);

  SECTION("a fifo is named in the error") {
    REQUIRE(::mkfifo((dir.path() / "pipe").c_str(), 0600) == 0);
    auto packed = pack_directory(dir.path());
    REQUIRE_FALSE(packed.ok());
    CHECK_THAT(packed.error().message, Catch::Contains("pipe") && Catch::Contains("only regular files"));
  }
  SECTION("a missing folder") {
    auto packed = pack_directory(dir.path() / "nope");
    REQUIRE_FALSE(packed.ok());
    CHECK_THAT(packed.error().message, Catch::Contains("not a directory"));
  }
}

TEST_CASE("pack_directory packs an empty folder into a valid empty archive", "[unit]") {
  TempDir dir;
  auto packed = pack_directory(dir.path());
  REQUIRE(packed.ok());
  CHECK(packed->files == 0);
  CHECK(read_entries(packed->bytes).empty());
}
