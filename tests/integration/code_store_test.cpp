// Regression tests for code storage (issue 7, item 4): a full disk must fail an upload cleanly,
// store nothing partial, and still let a delete free space; unreferenced code is collected.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mount.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSpec = R"({"runtime":"python3","handler":"main.handle"})";
// Answers the SHA-256 of its blob as it reads it from /function: what the container really sees.
constexpr const char* kDigestSource =
    "import hashlib\n"
    "def handle(req):\n"
    "    with open('/function/blob.bin', 'rb') as f:\n"
    "        return hashlib.sha256(f.read()).hexdigest()\n";

std::string random_bytes(size_t size, uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(generator());
  return out;
}

std::string sha256_hex(const std::string& data) {
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), hash, &length, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < length; ++i) {
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02x", hash[i]);
    out += hex;
  }
  return out;
}

// A tmpfs of `size` mounted on a new directory; unmounted (lazily) and removed when destroyed.
class SmallDisk {
 public:
  explicit SmallDisk(const char* size) {
    char dir_template[] = "/tmp/fnd-test-disk-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    path_ = dir_template;
    char options[64];
    std::snprintf(options, sizeof options, "size=%s,mode=0755", size);
    int rc = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, options);
    INFO("mount tmpfs: " << std::strerror(errno));
    REQUIRE(rc == 0);
  }
  ~SmallDisk() {
    ::umount2(path_.c_str(), MNT_DETACH);
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }

  // Writes a file until the filesystem is full.
  void fill(const std::string& name) {
    int fd = ::open((path_ + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    std::string block(1 << 20, 'F');
    for (size_t size = block.size(); size > 0; size /= 2) {
      while (::write(fd, block.data(), size) == static_cast<ssize_t>(size)) {
      }
    }
    ::close(fd);
  }

 private:
  std::string path_;
};

size_t code_trees(const std::string& state_dir, bool count_hidden = false) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_dir + "/code", ec)) {
    bool hidden = entry.path().filename().string().starts_with(".");
    if (hidden == count_hidden) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("a full disk fails a code upload with 507, keeps nothing partial, and a delete still frees space",
          "[integration]") {
  SmallDisk disk("48m");
  Daemon fnd({.state_dir = disk.path()});
  fnd.deploy("hello", {{"main.py", "def handle(req):\n    return 'hello'\n"}}, kSpec);
  REQUIRE(fnd.invoke("hello").body == "hello");
  REQUIRE(code_trees(fnd.state_dir()) == 1);

  disk.fill("filler");
  const std::string blob = random_bytes(2 << 20, 7);  // incompressible: the upload is as large as the disk needs
  const std::string archive = make_code_archive({{"main.py", kDigestSource}, {"blob.bin", blob}});
  HttpAnswer full = fnd.http("PUT", "/api/v1/functions/digest/code", archive, {{"Content-Type", "application/gzip"}});
  INFO(full.body);
  CHECK(full.status == 507);
  CHECK(full.error_code() == "insufficient_storage");
  CHECK_THAT(full.error_message(), Catch::Contains("full") && Catch::Contains("Nothing was stored"));
  CHECK(code_trees(fnd.state_dir()) == 1);
  CHECK(code_trees(fnd.state_dir(), true) == 0);  // no half-written .tmp- tree left behind

  // The one operation that frees space works on a full disk, and takes its code with it.
  HttpAnswer deleted = fnd.http("DELETE", "/api/v1/functions/hello");
  INFO(deleted.body);
  CHECK(deleted.status == 200);
  CHECK(code_trees(fnd.state_dir()) == 0);

  // With room again, the same upload stores the code intact: never a reused bad copy.
  REQUIRE(::unlink((disk.path() + "/filler").c_str()) == 0);
  fnd.deploy("digest", {{"main.py", kDigestSource}, {"blob.bin", blob}}, kSpec);
  HttpAnswer answer = fnd.invoke("digest");
  INFO(answer.body);
  CHECK(answer.status == 200);
  CHECK(answer.body == sha256_hex(blob));
}

TEST_CASE("code no revision uses any more is collected, and code shared with another function is kept",
          "[integration]") {
  Daemon fnd;
  const std::map<std::string, std::string> shared{{"main.py", "def handle(req):\n    return 'shared'\n"}};
  fnd.deploy("one", shared, kSpec);
  fnd.deploy("two", shared, kSpec);
  fnd.deploy("own", {{"main.py", "def handle(req):\n    return 'own'\n"}}, kSpec);
  REQUIRE(code_trees(fnd.state_dir()) == 2);

  REQUIRE(fnd.http("DELETE", "/api/v1/functions/own").status == 200);
  CHECK(code_trees(fnd.state_dir()) == 1);
  REQUIRE(fnd.http("DELETE", "/api/v1/functions/one").status == 200);
  CHECK(code_trees(fnd.state_dir()) == 1);  // "two" still uses it
  CHECK(fnd.invoke("two").body == "shared");
}

}  // namespace fnd::test
