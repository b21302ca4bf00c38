#include "code_mount.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <vector>

#include "process.hpp"

namespace fnd::runtime::internal {

namespace {

// /proc/self/mountinfo escapes space, tab, newline and backslash as octal.
std::string unescape_mount_path(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size()) {
      int value = 0;
      bool octal = true;
      for (size_t k = 1; k <= 3; ++k) {
        char c = text[i + k];
        if (c < '0' || c > '7') octal = false;
        value = value * 8 + (c - '0');
      }
      if (octal) {
        out.push_back(static_cast<char>(value));
        i += 3;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace

Status make_shared_mount_point(const std::string& dir) {
  if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return make_errno_error("mount_failed", fmt::format("cannot bind {} onto itself", dir), errno);
  }
  if (::mount(nullptr, dir.c_str(), nullptr, MS_SHARED, nullptr) != 0) {
    int err = errno;
    ::umount2(dir.c_str(), MNT_DETACH);
    return make_errno_error("mount_failed", fmt::format("cannot make {} a shared mount", dir), err);
  }
  return {};
}

Status bind_read_only(const std::string& source, const std::string& target, int idmap_userns) {
  UniqueFd tree(::open_tree(AT_FDCWD, source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
  if (!tree) return make_errno_error("mount_failed", fmt::format("cannot clone the mount of {}", source), errno);
  mount_attr attributes{};
  attributes.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (idmap_userns >= 0) {
    attributes.attr_set |= MOUNT_ATTR_IDMAP;
    attributes.userns_fd = static_cast<uint64_t>(idmap_userns);
  }
  if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attributes, sizeof attributes) != 0) {
    int err = errno;
    if (idmap_userns >= 0 && (err == EINVAL || err == EOPNOTSUPP)) {
      return make_errno_error("mount_failed", fmt::format("cannot make an idmapped mount of {}: its file system does not "
                                                          "support idmapped mounts (ext4, xfs and btrfs do from Linux "
                                                          "5.12, tmpfs from 6.3); put the state dir on one that does",
                                                          source), err);
    }
    return make_errno_error("mount_failed", fmt::format("cannot make the mount of {} read-only", source), err);
  }
  return attach_mount(tree.get(), target);
}

Status attach_mount(int mount_fd, const std::string& target) {
  if (::move_mount(mount_fd, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return make_errno_error("mount_failed", fmt::format("cannot mount on {}", target), errno);
  }
  return {};
}

void detach_mount(const std::string& point) { ::umount2(point.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW); }

int unmount_tree(const std::string& dir) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::vector<std::string> points;
  std::string line;
  while (std::getline(mountinfo, line)) {
    std::istringstream fields(line);
    std::string id, parent, device, root, point;
    fields >> id >> parent >> device >> root >> point;
    point = unescape_mount_path(point);
    if (point == dir || point.starts_with(dir + "/")) points.push_back(point);
  }
  // Deepest first, and a point mounted several times is detached as often as it appears.
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  int detached = 0;
  for (const auto& point : points) {
    if (::umount2(point.c_str(), MNT_DETACH) == 0) ++detached;
  }
  return detached;
}

}  // namespace fnd::runtime::internal
