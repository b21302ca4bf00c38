#include "store/code_store.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <random>
#include <spdlog/spdlog.h>
#include <vector>

namespace fnd::store {

namespace fs = std::filesystem;

namespace {

// libarchive leaves its error string null for some damaged inputs (fmt refuses a null pointer).
std::string_view archive_message(archive* a) {
  const char* message = archive_error_string(a);
  return message ? message : "the archive is damaged";
}

constexpr size_t kCopyBlock = 64 * 1024;

struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct DigestContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using ArchiveReadPtr = std::unique_ptr<archive, ArchiveReadDeleter>;
using DigestContextPtr = std::unique_ptr<EVP_MD_CTX, DigestContextDeleter>;
using FileDigest = std::array<unsigned char, 32>;

// An fd that is closed exactly once; close() reports the error some filesystems only give there.
class File {
 public:
  explicit File(int fd) : fd_(fd) {}
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int get() const { return fd_; }
  bool close() {
    int fd = std::exchange(fd_, -1);
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

Error unsafe(std::string_view entry, std::string_view why) {
  return make_error("unsafe_archive", fmt::format("code archive entry '{}' {}; fix the archive and upload again", entry, why), 400);
}

// A failed write or sync: a full disk is the caller's to fix (507), anything else is ours (500).
Error write_failure(const fs::path& root, const fs::path& file, std::string_view what, int err) {
  if (err == ENOSPC || err == EDQUOT) {
    return make_error(std::string(kInsufficientStorage),
                      fmt::format("the filesystem holding fnd's code ({}) is full: {} of {} failed. Nothing was stored; "
                                  "free space (fnctl delete unused functions, or grow the disk) and upload again",
                                  root.string(), what, file.filename().string()), 507);
  }
  return make_errno_error("store_error", fmt::format("{} {}", what, file.string()), err);
}

// Lexically normalizes a relative path; nullopt when it climbs above its root.
std::optional<fs::path> normalize_inside(const fs::path& relative) {
  fs::path out;
  for (const auto& part : relative) {
    if (part == "." || part.empty()) continue;
    if (part == "..") {
      if (out.empty()) return std::nullopt;
      out = out.parent_path();
      continue;
    }
    out /= part;
  }
  return out;
}

std::string random_suffix() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
}

// Checks one entry and returns its path relative to the tree root (empty = skip).
Result<fs::path> check_entry(archive_entry* entry) {
  std::string name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
  if (name.empty()) return fs::path();
  if (name.front() == '/') return unsafe(name, "has an absolute path");
  fs::path p(name);
  for (const auto& part : p) {
    if (part == "..") return unsafe(name, "contains '..'");
  }
  auto rel = normalize_inside(p);
  if (!rel) return unsafe(name, "leaves the archive's tree");
  mode_t type = archive_entry_filetype(entry);
  if (const char* hardlink = archive_entry_hardlink(entry)) {
    fs::path target(hardlink);
    if (target.is_absolute() || !normalize_inside(target)) return unsafe(name, "is a hard link to a file outside the tree");
    for (const auto& part : target) {
      if (part == "..") return unsafe(name, "is a hard link containing '..'");
    }
    return *rel;
  }
  if (type == AE_IFLNK) {
    fs::path target(archive_entry_symlink(entry) ? archive_entry_symlink(entry) : "");
    if (target.empty()) return unsafe(name, "is a symbolic link to nothing");
    if (target.is_absolute()) return unsafe(name, fmt::format("is a symbolic link to an absolute path ({})", target.string()));
    if (!normalize_inside(rel->parent_path() / target)) return unsafe(name, fmt::format("is a symbolic link leaving the tree ({})", target.string()));
    return *rel;
  }
  if (type != AE_IFREG && type != AE_IFDIR) return unsafe(name, "is a device, fifo or socket; only files, folders and links are allowed");
  return *rel;
}

FileDigest finish_digest(EVP_MD_CTX* context) {
  FileDigest out{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(context, out.data(), &length);
  return out;
}

struct WrittenFile {
  fs::path path;
  uint64_t size = 0;
  FileDigest digest{};
};

Status write_all(int fd, const char* data, size_t size, const fs::path& root, const fs::path& file) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return write_failure(root, file, "writing", errno);
    if (n == 0) return write_failure(root, file, "writing", ENOSPC);
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

// Reads the file back and compares it with what was written: the copy on disk is the one a
// container will run.
Status verify(const WrittenFile& file, const fs::path& root) {
  File fd(::open(file.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return make_errno_error("store_error", fmt::format("reopening {}", file.path.string()), errno);
  DigestContextPtr context(EVP_MD_CTX_new());
  EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr);
  std::vector<char> block(kCopyBlock);
  uint64_t size = 0;
  while (true) {
    ssize_t n = ::read(fd.get(), block.data(), block.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_errno_error("store_error", fmt::format("reading back {}", file.path.string()), errno);
    if (n == 0) break;
    EVP_DigestUpdate(context.get(), block.data(), static_cast<size_t>(n));
    size += static_cast<uint64_t>(n);
  }
  if (size != file.size || finish_digest(context.get()) != file.digest) {
    return make_error("code_corrupted", fmt::format("{} did not read back as written ({} of {} bytes); the disk under {} "
                                                    "may be failing. Nothing was stored", file.path.filename().string(),
                                                    size, file.size, root.string()), 500);
  }
  return {};
}

Status sync_directory(const fs::path& dir, const fs::path& root) {
  File fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return make_errno_error("store_error", fmt::format("opening {}", dir.string()), errno);
  if (::fsync(fd.get()) != 0) return write_failure(root, dir, "syncing", errno);
  return {};
}

}  // namespace

std::string sha256_digest(std::string_view data) {
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), hash, &length, EVP_sha256(), nullptr);
  std::string out = "sha256:";
  for (unsigned i = 0; i < length; ++i) out += fmt::format("{:02x}", hash[i]);
  return out;
}

CodeStore::CodeStore(std::string root, CodeLimits limits) : root_(std::move(root)), limits_(limits) {
  fs::create_directories(root_);
  // Code is for root and, through idmapped mounts, for the instances running it: never for the
  // host's other users (older trees, made 0755, are kept out by this folder alone).
  fs::permissions(root_, fs::perms::owner_all);
  // Unpacks cut off by a crash (.tmp-*) were never published; collected trees (.trash-*) were
  // already unpublished.
  for (const auto& e : fs::directory_iterator(root_)) {
    std::string name = e.path().filename().string();
    if (name.starts_with(".tmp-") || name.starts_with(".trash-")) fs::remove_all(e.path());
  }
}

bool CodeStore::contains(std::string_view digest) const {
  return digest.starts_with("sha256:") && fs::is_directory(directory(digest));
}

std::string CodeStore::directory(std::string_view digest) const {
  std::string_view hex = digest.starts_with("sha256:") ? digest.substr(7) : digest;
  return fmt::format("{}/{}", root_, hex);
}

Result<StoredCode> CodeStore::store_archive(std::string_view data) {
  if (data.size() > limits_.max_archive_bytes) {
    return make_error("archive_too_large", fmt::format("code archive is {} bytes, over the limit of {} (limits.max_code_archive)",
                                                       data.size(), limits_.max_archive_bytes), 413);
  }
  const fs::path root(root_);
  StoredCode stored{sha256_digest(data), data.size(), 0};
  if (contains(stored.digest)) {
    // Same content already unpacked: mark it as stored now (garbage collection spares recent
    // uploads), count its files for the answer and reuse it.
    ::utimensat(AT_FDCWD, directory(stored.digest).c_str(), nullptr, 0);
    for (const auto& e : fs::recursive_directory_iterator(directory(stored.digest))) stored.files += e.is_regular_file() ? 1 : 0;
    return stored;
  }

  ArchiveReadPtr reader(archive_read_new());
  archive_read_support_filter_gzip(reader.get());
  archive_read_support_filter_none(reader.get());
  archive_read_support_format_tar(reader.get());
  archive_read_support_format_gnutar(reader.get());
  if (archive_read_open_memory(reader.get(), data.data(), data.size()) != ARCHIVE_OK) {
    return make_error("invalid_archive", fmt::format("code is not a tar.gz archive: {}", archive_message(reader.get())), 400);
  }
  fs::path tmp = root / (".tmp-" + random_suffix());
  if (::mkdir(tmp.c_str(), 0700) != 0) return write_failure(root, tmp, "creating", errno);
  struct TmpGuard {
    fs::path path;
    bool keep = false;
    ~TmpGuard() {
      std::error_code ec;
      if (!keep) fs::remove_all(path, ec);
    }
  } guard{tmp};

  std::vector<WrittenFile> written;
  std::vector<fs::path> directories{tmp};
  // Entries are written only into real folders of the tree: a symbolic link of the archive is
  // checked lexically ("x" -> "up/.." stays inside), but the file system resolves ".." after the
  // link ("up" -> "."), so writing through one could land anywhere the daemon may write.
  auto make_directories = [&](const fs::path& rel, std::string_view name) -> Status {
    fs::path at = tmp;
    for (const auto& part : rel) {
      at /= part;
      if (::mkdir(at.c_str(), 0700) == 0) {
        directories.push_back(at);
      } else if (errno != EEXIST) {
        return write_failure(root, at, "creating", errno);
      } else if (struct stat info{}; ::lstat(at.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
        return unsafe(name, "goes through a symbolic link or a file; only folders of the archive may hold entries");
      }
    }
    return {};
  };
  auto inside_real_directories = [&](const fs::path& rel) {
    fs::path at = tmp;
    for (const auto& part : rel) {
      at /= part;
      struct stat info{};
      if (::lstat(at.c_str(), &info) == 0 && !S_ISDIR(info.st_mode)) return false;
    }
    return true;
  };
  std::vector<char> block(kCopyBlock);
  uint64_t unpacked = 0;
  while (true) {
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(reader.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      return make_error("invalid_archive", fmt::format("cannot read code archive: {}", archive_message(reader.get())), 400);
    }
    auto rel = check_entry(entry);
    if (!rel) return rel.error();
    if (rel->empty()) continue;
    const fs::path target = tmp / *rel;
    const mode_t type = archive_entry_filetype(entry);
    if (type == AE_IFDIR) {
      if (Status st = make_directories(*rel, rel->string()); !st) return st.error();
      continue;
    }
    if (Status st = make_directories(rel->parent_path(), rel->string()); !st) return st.error();
    if (const char* hardlink = archive_entry_hardlink(entry)) {
      const fs::path source_rel = *normalize_inside(hardlink);
      if (!inside_real_directories(source_rel.parent_path())) {
        return unsafe(rel->string(), "is a hard link through a symbolic link; link to the file itself");
      }
      fs::path source = tmp / source_rel;
      if (::link(source.c_str(), target.c_str()) != 0) {
        if (errno == ENOENT) return unsafe(rel->string(), "is a hard link to a file that comes later or not at all");
        if (errno == EEXIST) return unsafe(rel->string(), "appears twice in the archive");
        if (errno == EPERM) return unsafe(rel->string(), "is a hard link to a folder; only files can be hard-linked");
        return write_failure(root, target, "linking", errno);
      }
      continue;
    }
    if (type == AE_IFLNK) {
      if (::symlink(archive_entry_symlink(entry), target.c_str()) != 0) {
        if (errno == EEXIST) return unsafe(rel->string(), "appears twice in the archive");
        return write_failure(root, target, "linking", errno);
      }
      continue;
    }
    // A regular file: every write checked, synced, and its digest kept to verify it afterwards.
    const bool executable = (archive_entry_perm(entry) & 0111) != 0;
    File fd(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, executable ? 0700 : 0600));
    if (fd.get() < 0) {
      if (errno == EEXIST) return unsafe(rel->string(), "appears twice in the archive");
      return write_failure(root, target, "creating", errno);
    }
    // Owner only: instances read code through a mount that shows root's files as theirs.
    ::fchmod(fd.get(), executable ? 0700 : 0600);
    DigestContextPtr context(EVP_MD_CTX_new());
    EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr);
    WrittenFile file{target};
    while (true) {
      la_ssize_t n = archive_read_data(reader.get(), block.data(), block.size());
      if (n < 0) {
        return make_error("invalid_archive", fmt::format("cannot read '{}' from the archive: {}", rel->string(),
                                                         archive_message(reader.get())), 400);
      }
      if (n == 0) break;
      unpacked += static_cast<uint64_t>(n);
      if (unpacked > limits_.max_unpacked_bytes) {
        return make_error("archive_too_large", fmt::format("code unpacks to more than {} bytes (limits.max_code_unpacked)",
                                                           limits_.max_unpacked_bytes), 413);
      }
      if (Status st = write_all(fd.get(), block.data(), static_cast<size_t>(n), root, target); !st) return st.error();
      EVP_DigestUpdate(context.get(), block.data(), static_cast<size_t>(n));
      file.size += static_cast<uint64_t>(n);
    }
    if (::fsync(fd.get()) != 0) return write_failure(root, target, "syncing", errno);
    if (!fd.close()) return write_failure(root, target, "closing", errno);
    file.digest = finish_digest(context.get());
    written.push_back(std::move(file));
    ++stored.files;
  }
  for (const auto& file : written) {
    if (Status st = verify(file, root); !st) return st.error();
  }
  // Deepest first: a directory is synced after everything created in it.
  std::reverse(directories.begin(), directories.end());
  for (const auto& dir : directories) {
    if (Status st = sync_directory(dir, root); !st) return st.error();
  }
  ::chmod(tmp.c_str(), 0700);
  // Published in one step, complete: a crash before this leaves only a .tmp- folder.
  if (::rename(tmp.c_str(), directory(stored.digest).c_str()) != 0) {
    int err = errno;
    if (!contains(stored.digest)) return write_failure(root, tmp, "publishing", err);
    return stored;  // the same code was published meanwhile by another upload
  }
  guard.keep = true;
  if (Status st = sync_directory(root, root); !st) return st.error();
  return stored;
}

size_t CodeStore::tree_count() const {
  size_t n = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) n += entry.path().filename().string().size() == 64 ? 1 : 0;
  return n;
}

size_t CodeStore::collect_garbage(const std::set<std::string>& referenced, SystemTime stored_before,
                                  const std::optional<std::set<std::string>>& only) {
  size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    std::string hex = entry.path().filename().string();
    if (hex.size() != 64 || !entry.is_directory(ec)) continue;
    std::string digest = "sha256:" + hex;
    if (referenced.contains(digest) || (only && !only->contains(digest))) continue;
    struct stat info{};
    if (::stat(entry.path().c_str(), &info) != 0) continue;
    SystemTime stored_at = std::chrono::system_clock::from_time_t(info.st_mtim.tv_sec) +
                           std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(info.st_mtim.tv_nsec));
    if (stored_at >= stored_before) continue;
    // Unpublished in one step, then removed: a reader never sees half a tree under a digest.
    fs::path trash = fs::path(root_) / (".trash-" + hex);
    if (::rename(entry.path().c_str(), trash.c_str()) != 0) continue;
    fs::remove_all(trash, ec);
    ++removed;
  }
  if (removed > 0) spdlog::info("removed {} code trees no revision uses any more", removed);
  return removed;
}

}  // namespace fnd::store
