#include "store/master_key.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <utility>

#include "crypto.hpp"

namespace fnd::store {

namespace {

using KeyBytes = std::array<unsigned char, MasterKey::kBytes>;

Error unavailable(std::string message) { return make_error(std::string(kMasterKeyUnavailable), std::move(message)); }

Error os_error(const std::string& what, int errnum) {
  return make_errno_error(std::string(kMasterKeyUnavailable), what, errnum);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // close(2)'s result matters after a write: it can report a deferred write error.
  bool close() {
    int fd = std::exchange(fd_, -1);
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

// Key material read from disk is wiped when it goes out of scope, whatever path is taken.
struct WipedBuffer {
  std::array<unsigned char, MasterKey::kBytes + 1> bytes{};
  ~WipedBuffer() { internal::cleanse(bytes.data(), bytes.size()); }
};

// `kind` is "master key file" or "credential", for messages.
Result<KeyBytes> read_key(const std::string& path, std::string_view kind, bool must_be_private) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return os_error(fmt::format("open the {} {}", kind, path), errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return os_error(fmt::format("stat the {} {}", kind, path), errno);
  if (!S_ISREG(st.st_mode))
    return unavailable(fmt::format("the {} {} is not a regular file: move it away", kind, path));
  if (must_be_private && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return unavailable(
        fmt::format("the {0} {1} has mode {2:04o}: it must not be readable or writable by group or "
                    "others; run chmod 600 {1}",
                    kind, path, st.st_mode & 07777));
  }
  if (must_be_private && st.st_uid != ::geteuid()) {
    return unavailable(
        fmt::format("the {0} {1} is owned by uid {2}, not by uid {3} that fnd runs as; run chown {3} {1} "
                    "and chmod 600 {1}",
                    kind, path, st.st_uid, ::geteuid()));
  }
  // One byte more than a key is read, so a longer file is told from a key.
  WipedBuffer buffer;
  size_t got = 0;
  while (got < buffer.bytes.size()) {
    ssize_t n = ::read(fd.get(), buffer.bytes.data() + got, buffer.bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return os_error(fmt::format("read the {} {}", kind, path), errno);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got != MasterKey::kBytes) {
    return unavailable(
        fmt::format("the {} {} holds {}{} bytes, not {}: it is not an fnd master key. Restore it from your "
                    "backup; without it the stored secrets cannot be decrypted",
                    kind, path, got > MasterKey::kBytes ? "more than " : "",
                    got > MasterKey::kBytes ? MasterKey::kBytes : got, MasterKey::kBytes));
  }
  KeyBytes key{};
  std::copy(buffer.bytes.begin(), buffer.bytes.begin() + MasterKey::kBytes, key.begin());
  return key;
}

Status write_all(int fd, std::span<const unsigned char> bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return os_error("write " + path, errno);
    done += static_cast<size_t>(n);
  }
  return {};
}

// Writes a fresh key to a temporary file and links it to `path`. link(2), unlike rename(2), never
// replaces an existing file: when another process created the key meanwhile, its key is loaded
// instead, so both processes encrypt with the same key.
Result<KeyBytes> create_key(const std::string& path) {
  KeyBytes key{};
  if (Status st = internal::random_bytes(key); !st)
    return unavailable("cannot create the master key " + path + ": " + st.error().message);
  std::string temporary = path + ".tmp-XXXXXX";
  // mkostemp creates the file with mode 0600: the key is never readable by others, even briefly.
  Fd fd(::mkostemp(temporary.data(), O_CLOEXEC));
  if (fd.get() < 0) return os_error("create the master key file " + temporary, errno);
  auto fail = [&](Error error) -> Result<KeyBytes> {
    ::unlink(temporary.c_str());
    internal::cleanse(key.data(), key.size());
    return error;
  };
  if (::fchmod(fd.get(), 0600) != 0) return fail(os_error("chmod " + temporary, errno));
  if (Status st = write_all(fd.get(), key, temporary); !st) return fail(st.error());
  if (::fsync(fd.get()) != 0) return fail(os_error("fsync " + temporary, errno));
  if (!fd.close()) return fail(os_error("close " + temporary, errno));
  if (::link(temporary.c_str(), path.c_str()) != 0) {
    const int errnum = errno;
    Result<KeyBytes> failed = fail(os_error(fmt::format("link {} to {}", temporary, path), errnum));
    if (errnum != EEXIST) return failed;
    return read_key(path, "master key file", true);
  }
  ::unlink(temporary.c_str());
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) return os_error("fsync the directory " + dir, errno);
  return key;
}

}  // namespace

MasterKey::MasterKey(const std::array<unsigned char, kBytes>& bytes, std::string source)
    : bytes_(bytes), source_(std::move(source)) {
  std::string labelled("fnd master key id");
  labelled.push_back('\0');
  labelled.append(reinterpret_cast<const char*>(bytes_.data()), bytes_.size());
  auto digest = internal::sha256(labelled);
  internal::cleanse(labelled.data(), labelled.size());
  id_ = internal::to_hex(std::span<const unsigned char>(digest.data(), 8));
}

MasterKey::MasterKey(MasterKey&& other) noexcept
    : bytes_(other.bytes_), id_(std::move(other.id_)), source_(std::move(other.source_)) {
  internal::cleanse(other.bytes_.data(), other.bytes_.size());
}

MasterKey& MasterKey::operator=(MasterKey&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    id_ = std::move(other.id_);
    source_ = std::move(other.source_);
    internal::cleanse(other.bytes_.data(), other.bytes_.size());
  }
  return *this;
}

MasterKey::~MasterKey() { internal::cleanse(bytes_.data(), bytes_.size()); }

Result<MasterKey> MasterKey::load_or_create(const std::string& path,
                                            const std::optional<std::string>& credentials_directory) {
  if (credentials_directory && !credentials_directory->empty()) {
    std::string credential =
        (std::filesystem::path(*credentials_directory) / std::filesystem::path(path).filename()).string();
    struct stat st {};
    if (::stat(credential.c_str(), &st) == 0) {
      auto key = read_key(credential, "credential", false);
      if (!key) return key.error();
      MasterKey loaded(*key, credential);
      internal::cleanse(key->data(), key->size());
      return loaded;
    }
    if (errno != ENOENT) return os_error("stat the credential " + credential, errno);
  }
  struct stat st {};
  Result<KeyBytes> key =
      ::stat(path.c_str(), &st) == 0 || errno != ENOENT ? read_key(path, "master key file", true) : create_key(path);
  if (!key) return key.error();
  MasterKey loaded(*key, path);
  internal::cleanse(key->data(), key->size());
  return loaded;
}

Result<MasterKey> MasterKey::load_or_create(const std::string& path) {
  const char* directory = std::getenv("CREDENTIALS_DIRECTORY");
  return load_or_create(path, directory ? std::optional<std::string>(directory) : std::nullopt);
}

}  // namespace fnd::store
