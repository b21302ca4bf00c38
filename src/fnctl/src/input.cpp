#include "fnctl/input.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

namespace fnd::fnctl {

Result<std::string> read_all(int fd, std::string_view what) {
  std::string out;
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_errno_error("read_failed", fmt::format("cannot read {}", what), errno);
    if (n == 0) return out;
    out.append(buffer, static_cast<size_t>(n));
  }
}

Result<std::string> read_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_errno_error("read_failed", fmt::format("cannot open {}", path.string()), errno);
  auto content = read_all(fd, path.string());
  ::close(fd);
  return content;
}

}  // namespace fnd::fnctl
