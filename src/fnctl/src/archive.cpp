#include "fnctl/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <memory>
#include <vector>

namespace fnd::fnctl {

namespace fs = std::filesystem;

namespace {

struct ArchiveWriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveEntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ArchiveWritePtr = std::unique_ptr<archive, ArchiveWriteDeleter>;
using ArchiveEntryPtr = std::unique_ptr<archive_entry, ArchiveEntryDeleter>;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

constexpr size_t kReadChunk = 64 * 1024;
constexpr mode_t kExecutableMode = 0755;
constexpr mode_t kPlainMode = 0644;
constexpr mode_t kSymlinkMode = 0777;

la_ssize_t append_to_string(archive*, void* out, const void* data, size_t size) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), size);
  return static_cast<la_ssize_t>(size);
}

Error archive_error(archive* a, std::string_view what) {
  const char* detail = archive_error_string(a);
  return make_error("archive_failed", fmt::format("{}: {}", what, detail ? detail : "unknown libarchive error"));
}

// One file system object to pack: where it is and the name it gets in the archive.
struct PackItem {
  fs::path source;
  std::string name;
  struct stat info{};
};

Status list_tree(const fs::path& dir, const std::string& prefix, std::vector<PackItem>& out) {
  std::error_code ec;
  std::vector<fs::path> children;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() != ".git") children.push_back(it->path());
  }
  if (ec) return make_error("archive_failed", fmt::format("cannot list {}: {}", dir.string(), ec.message()));
  std::sort(children.begin(), children.end());
  for (const auto& child : children) {
    PackItem item{child, prefix + child.filename().string()};
    if (::lstat(child.c_str(), &item.info) != 0) return make_errno_error("archive_failed", "stat " + child.string(), errno);
    mode_t type = item.info.st_mode & S_IFMT;
    if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK) {
      return make_error("archive_failed",
                        fmt::format("cannot pack {}: only regular files, directories and symlinks can be "
                                    "deployed; move it out of the function's folder",
                                    child.string()));
    }
    std::string name = item.name;
    out.push_back(std::move(item));
    if (type == S_IFDIR) {
      if (Status st = list_tree(child, name + "/", out); !st) return st;
    }
  }
  return {};
}

void describe_entry(archive_entry* entry, const PackItem& item) {
  archive_entry_set_pathname(entry, item.name.c_str());
  archive_entry_set_uid(entry, 0);
  archive_entry_set_gid(entry, 0);
  archive_entry_set_mtime(entry, 0, 0);
  switch (item.info.st_mode & S_IFMT) {
    case S_IFDIR:
      archive_entry_set_filetype(entry, AE_IFDIR);
      archive_entry_set_perm(entry, kExecutableMode);
      break;
    case S_IFLNK:
      archive_entry_set_filetype(entry, AE_IFLNK);
      archive_entry_set_perm(entry, kSymlinkMode);
      break;
    default:
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_perm(entry, (item.info.st_mode & S_IXUSR) != 0 ? kExecutableMode : kPlainMode);
      archive_entry_set_size(entry, item.info.st_size);
      break;
  }
}

Result<std::string> read_link_target(const fs::path& link) {
  std::error_code ec;
  fs::path target = fs::read_symlink(link, ec);
  if (ec) return make_error("archive_failed", fmt::format("cannot read link {}: {}", link.string(), ec.message()));
  return target.string();
}

Status copy_file_data(archive* a, const PackItem& item) {
  FileDescriptor fd(::open(item.source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return make_errno_error("archive_failed", "open " + item.source.string(), errno);
  std::vector<char> buffer(kReadChunk);
  // Write at most the size the header announced: a file growing while we read must not
  // corrupt the archive (libarchive pads a file that shrank).
  auto remaining = static_cast<uint64_t>(item.info.st_size);
  while (remaining > 0) {
    ssize_t n = ::read(fd.get(), buffer.data(), std::min<uint64_t>(buffer.size(), remaining));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_errno_error("archive_failed", "read " + item.source.string(), errno);
    if (n == 0) break;
    if (archive_write_data(a, buffer.data(), static_cast<size_t>(n)) < 0) {
      return archive_error(a, "cannot pack " + item.source.string());
    }
    remaining -= static_cast<uint64_t>(n);
  }
  return {};
}

Status write_item(archive* a, const PackItem& item) {
  ArchiveEntryPtr entry(archive_entry_new());
  describe_entry(entry.get(), item);
  bool is_link = (item.info.st_mode & S_IFMT) == S_IFLNK;
  if (is_link) {
    auto target = read_link_target(item.source);
    if (!target) return target.error();
    archive_entry_set_symlink(entry.get(), target->c_str());
  }
  // ARCHIVE_WARN only means a name could not be converted to the archive's charset; it is
  // still written, byte for byte.
  if (archive_write_header(a, entry.get()) < ARCHIVE_WARN) return archive_error(a, "cannot pack " + item.source.string());
  if ((item.info.st_mode & S_IFMT) == S_IFREG) return copy_file_data(a, item);
  return {};
}

Result<ArchiveWritePtr> open_tar_gz_writer(std::string& out) {
  ArchiveWritePtr a(archive_write_new());
  if (!a) return make_error("archive_failed", "cannot create an archive: out of memory");
  bool ok = archive_write_set_format_pax_restricted(a.get()) == ARCHIVE_OK &&
            archive_write_add_filter_gzip(a.get()) == ARCHIVE_OK &&
            // The gzip header would otherwise carry the current time and break reproducibility.
            archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr) == ARCHIVE_OK &&
            archive_write_set_bytes_in_last_block(a.get(), 1) == ARCHIVE_OK &&
            archive_write_open(a.get(), &out, nullptr, append_to_string, nullptr) == ARCHIVE_OK;
  if (!ok) return archive_error(a.get(), "cannot create a tar.gz archive");
  return a;
}

}  // namespace

Result<CodeArchive> pack_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return make_error("archive_failed", fmt::format("cannot pack {}: not a directory", dir.string()));
  }
  std::vector<PackItem> items;
  if (Status st = list_tree(dir, "", items); !st) return st.error();

  CodeArchive result;
  auto writer = open_tar_gz_writer(result.bytes);
  if (!writer) return writer.error();
  archive* a = writer->get();
  for (const auto& item : items) {
    if (Status st = write_item(a, item); !st) return st.error();
    if ((item.info.st_mode & S_IFMT) != S_IFDIR) ++result.files;
  }
  if (archive_write_close(a) != ARCHIVE_OK) return archive_error(a, "cannot finish the archive");
  return result;
}

}  // namespace fnd::fnctl
