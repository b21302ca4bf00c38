#include "secure_files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <utility>

#include "mesh/workload_identity.hpp"

namespace fnd::mesh::internal {

namespace {

constexpr std::size_t kReadBlock = 16 * 1024;
constexpr off_t kMaxFileSize = 1024 * 1024;  // a PEM key or certificate is a few kilobytes

// An fd closed exactly once; close() reports the error some filesystems only give there.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&&) = delete;
  int get() const { return fd_; }
  bool close() { return ::close(std::exchange(fd_, -1)) == 0; }

 private:
  int fd_;
};

Error os_error(std::string what, int errnum) {
  return make_errno_error(std::string(kIdentityUnavailable), std::move(what), errnum);
}

Status write_all(int fd, std::string_view content) {
  while (!content.empty()) {
    ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return os_error("write", errno);
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<std::string> read_all(int fd, const std::string& path) {
  std::string content;
  char block[kReadBlock];
  while (true) {
    ssize_t n = ::read(fd, block, sizeof block);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return os_error("read " + path, errno);
    if (n == 0) return content;
    content.append(block, static_cast<std::size_t>(n));
    if (content.size() > static_cast<std::size_t>(kMaxFileSize)) {
      return make_error(std::string(kIdentityUnavailable),
                        fmt::format("{} is larger than {} bytes, too large for a key or certificate; restore "
                                    "the right file",
                                    path, kMaxFileSize));
    }
  }
}

Result<Fd> open_regular(const std::string& path, struct stat& st) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return os_error("open " + path, errno);
  if (::fstat(fd.get(), &st) != 0) return os_error("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) {
    return make_error(std::string(kIdentityUnavailable),
                      fmt::format("{} is not a regular file; restore the right file", path));
  }
  return fd;
}

}  // namespace

Status write_file_atomically(const std::string& path, std::string_view content, mode_t mode) {
  std::string temporary = path + ".tmp-XXXXXX";
  // mkostemp creates the file 0600, so key material is never readable by others, even briefly.
  Fd fd(::mkostemp(temporary.data(), O_CLOEXEC));
  if (fd.get() < 0) return os_error("create " + temporary, errno);
  auto fail = [&](Error error) -> Status {
    ::unlink(temporary.c_str());
    return error;
  };
  if (::fchmod(fd.get(), mode) != 0) return fail(os_error("chmod " + temporary, errno));
  if (Status written = write_all(fd.get(), content); !written.ok()) {
    Error error = written.error();
    error.message = temporary + ": " + error.message;
    return fail(error);
  }
  if (::fsync(fd.get()) != 0) return fail(os_error("fsync " + temporary, errno));
  if (!fd.close()) return fail(os_error("close " + temporary, errno));
  if (::rename(temporary.c_str(), path.c_str()) != 0)
    return fail(os_error("rename " + temporary + " to " + path, errno));
  std::string dir = std::filesystem::path(path).parent_path().string();
  Fd dir_fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) return os_error("open " + dir, errno);
  if (::fsync(dir_fd.get()) != 0) return os_error("fsync " + dir, errno);
  return {};
}

Result<std::string> read_regular_file(const std::string& path) {
  struct stat st {};
  auto fd = open_regular(path, st);
  if (!fd.ok()) return fd.error();
  return read_all(fd->get(), path);
}

Result<std::string> read_private_file(const std::string& path) {
  struct stat st {};
  auto fd = open_regular(path, st);
  if (!fd.ok()) return fd.error();
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return make_error(std::string(kIdentityUnavailable),
                      fmt::format("{} has mode {:04o}: a private key must not be readable or writable by group or "
                                  "others; run chmod 600 {}",
                                  path, st.st_mode & 07777, path));
  }
  if (st.st_uid != ::geteuid()) {
    return make_error(std::string(kIdentityUnavailable),
                      fmt::format("{} is owned by uid {}, not by uid {} that fnd runs as; run chown {} {} and "
                                  "chmod 600 {}",
                                  path, st.st_uid, ::geteuid(), ::geteuid(), path, path));
  }
  return read_all(fd->get(), path);
}

}  // namespace fnd::mesh::internal
