#include "secret_mount.hpp"

#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace fnd::runtime::internal {

namespace {

Error failed(std::string what, int err) { return make_errno_error("mount_failed", std::move(what), err); }

Status write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return failed("cannot write a secret file", n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Result<UniqueFd> make_secrets_mount(const SecretFiles& secrets, uint32_t owner) {
  // Room for the values plus a page per file (tmpfs rounds each file up to one).
  uint64_t bytes = 0;
  uint64_t files = 1;
  for (const auto& [name, values] : secrets) {
    ++files;
    for (const auto& [key, value] : values) {
      bytes += value.size() + 4096;
      ++files;
    }
  }
  UniqueFd context(::fsopen("tmpfs", FSOPEN_CLOEXEC));
  if (!context) return failed("cannot open a tmpfs for secrets (fsopen)", errno);
  const std::pair<std::string, std::string> options[] = {
      {"size", std::to_string(bytes + 65536)}, {"nr_inodes", std::to_string(files + 16)}, {"mode", "0500"},
      {"uid", std::to_string(owner)},         {"gid", std::to_string(owner)},
  };
  for (const auto& [key, value] : options) {
    if (::fsconfig(context.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0) != 0) {
      return failed(fmt::format("cannot set {} on the secrets tmpfs", key), errno);
    }
  }
  if (::fsconfig(context.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    return failed("cannot create the secrets tmpfs", errno);
  }
  UniqueFd mount(::fsmount(context.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
  if (!mount) return failed("cannot mount the secrets tmpfs (fsmount)", errno);

  for (const auto& [name, values] : secrets) {
    if (::mkdirat(mount.get(), name.c_str(), 0500) != 0) return failed(fmt::format("cannot create /run/secrets/{}", name), errno);
    UniqueFd dir(::openat(mount.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) return failed(fmt::format("cannot open /run/secrets/{}", name), errno);
    // fchown/fchmod too: mkdirat and openat modes pass through fnd's umask.
    if (::fchown(dir.get(), owner, owner) != 0 || ::fchmod(dir.get(), 0500) != 0) {
      return failed(fmt::format("cannot give /run/secrets/{} to the function's user", name), errno);
    }
    for (const auto& [key, value] : values) {
      UniqueFd file(::openat(dir.get(), key.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400));
      if (!file) return failed(fmt::format("cannot create /run/secrets/{}/{}", name, key), errno);
      if (Status st = write_all(file.get(), value); !st) return st.error();
      if (::fchown(file.get(), owner, owner) != 0 || ::fchmod(file.get(), 0400) != 0) {
        return failed(fmt::format("cannot give /run/secrets/{}/{} to the function's user", name, key), errno);
      }
    }
  }
  mount_attr read_only{};
  read_only.attr_set = MOUNT_ATTR_RDONLY;
  if (::mount_setattr(mount.get(), "", AT_EMPTY_PATH, &read_only, sizeof read_only) != 0) {
    return failed("cannot make the secrets tmpfs read-only", errno);
  }
  return mount;
}

void wipe(SecretFiles& secrets) {
  for (auto& [name, values] : secrets) {
    for (auto& [key, value] : values) ::explicit_bzero(value.data(), value.size());
  }
}

}  // namespace fnd::runtime::internal
