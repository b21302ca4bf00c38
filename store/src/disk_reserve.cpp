#include "store/disk_reserve.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <spdlog/spdlog.h>

namespace fnd::store {

DiskReserve::DiskReserve(std::string path, uint64_t bytes) : path_(std::move(path)), bytes_(bytes) {
  restore();
  if (!held_) spdlog::warn("no room for the {} byte disk reserve {}: deletes may fail once the disk is full", bytes_, path_);
}

bool DiskReserve::release() {
  if (!held_) return false;
  held_ = false;
  if (::unlink(path_.c_str()) != 0) return false;
  spdlog::warn("the disk is full: released the disk reserve {} so that space can be freed", path_);
  return true;
}

void DiskReserve::restore() {
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  // posix_fallocate makes the blocks real: a sparse file would reserve nothing.
  int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes_));
  if (rc == 0) rc = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  if (rc != 0) {
    ::unlink(path_.c_str());
    return;
  }
  held_ = true;
}

}  // namespace fnd::store
