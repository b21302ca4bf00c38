// SQLite files that only their owner (root) may read: the databases hold env values, secrets'
// ciphertext and function state. Private to the store module.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace fnd::store::internal {

// Creates the database file `path` mode 0600 when it does not exist, before SQLite opens it
// (SQLite gives the -wal and -shm files it makes later the database file's mode), and takes
// group and others' access away from the database and the files SQLite keeps beside it.
inline void make_database_files_private(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) ::close(fd);
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::string file = path + suffix;
    struct stat info{};
    if (::lstat(file.c_str(), &info) == 0 && S_ISREG(info.st_mode) && (info.st_mode & 0077) != 0) {
      ::chmod(file.c_str(), info.st_mode & 0700);
    }
  }
}

}  // namespace fnd::store::internal
