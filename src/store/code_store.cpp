#include "store/code_store.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <random>

namespace fnd::store {

namespace fs = std::filesystem;

namespace {

struct ArchiveReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ArchiveReadPtr = std::unique_ptr<archive, ArchiveReadDeleter>;
using ArchiveWritePtr = std::unique_ptr<archive, ArchiveWriteDeleter>;

Error unsafe(std::string_view entry, std::string_view why) {
  return make_error("unsafe_archive", fmt::format("code archive entry '{}' {}; fix the archive and upload again", entry, why), 400);
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
    if (target.is_absolute()) return unsafe(name, fmt::format("is a symbolic link to an absolute path ({})", target.string()));
    if (!normalize_inside(rel->parent_path() / target)) return unsafe(name, fmt::format("is a symbolic link leaving the tree ({})", target.string()));
    return *rel;
  }
  if (type != AE_IFREG && type != AE_IFDIR) return unsafe(name, "is a device, fifo or socket; only files, folders and links are allowed");
  return *rel;
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
  fs::permissions(root_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                             fs::perms::others_read | fs::perms::others_exec);
  // Unpacks cut off by a crash leave .tmp-* folders behind; they were never published.
  for (const auto& e : fs::directory_iterator(root_)) {
    if (e.path().filename().string().starts_with(".tmp-")) fs::remove_all(e.path());
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
  StoredCode stored{sha256_digest(data), data.size(), 0};
  if (contains(stored.digest)) {
    // Same content already unpacked: count its files for the answer and reuse it.
    for (const auto& e : fs::recursive_directory_iterator(directory(stored.digest))) stored.files += e.is_regular_file() ? 1 : 0;
    return stored;
  }

  ArchiveReadPtr reader(archive_read_new());
  archive_read_support_filter_gzip(reader.get());
  archive_read_support_filter_none(reader.get());
  archive_read_support_format_tar(reader.get());
  archive_read_support_format_gnutar(reader.get());
  if (archive_read_open_memory(reader.get(), data.data(), data.size()) != ARCHIVE_OK) {
    return make_error("invalid_archive", fmt::format("code is not a tar.gz archive: {}", archive_error_string(reader.get())), 400);
  }
  fs::path tmp = fs::path(root_) / (".tmp-" + random_suffix());
  fs::create_directories(tmp);
  struct TmpGuard {
    fs::path path;
    bool keep = false;
    ~TmpGuard() {
      std::error_code ec;
      if (!keep) fs::remove_all(path, ec);
    }
  } guard{tmp};

  ArchiveWritePtr writer(archive_write_disk_new());
  // Entries were checked above and get absolute destinations under `tmp`, so libarchive's own
  // absolute-path check cannot be used; its ".." check stays as a second line of defence.
  archive_write_disk_set_options(writer.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  uint64_t unpacked = 0;
  while (true) {
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(reader.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      return make_error("invalid_archive", fmt::format("cannot read code archive: {}", archive_error_string(reader.get())), 400);
    }
    auto rel = check_entry(entry);
    if (!rel) return rel.error();
    if (rel->empty()) continue;
    unpacked += static_cast<uint64_t>(std::max<la_int64_t>(0, archive_entry_size(entry)));
    if (unpacked > limits_.max_unpacked_bytes) {
      return make_error("archive_too_large", fmt::format("code unpacks to more than {} bytes (limits.max_code_unpacked)",
                                                         limits_.max_unpacked_bytes), 413);
    }
    // Absolute destination: the daemon is multi-threaded, so the cwd cannot be used.
    archive_entry_set_pathname(entry, (tmp / *rel).c_str());
    if (const char* hardlink = archive_entry_hardlink(entry)) {
      archive_entry_set_hardlink(entry, (tmp / *normalize_inside(hardlink)).c_str());
    }
    mode_t type = archive_entry_filetype(entry);
    bool executable = (archive_entry_perm(entry) & 0111) != 0;
    if (type == AE_IFDIR) archive_entry_set_perm(entry, 0755);
    else if (type == AE_IFREG) archive_entry_set_perm(entry, executable ? 0755 : 0644);
    archive_entry_set_uid(entry, 0);
    archive_entry_set_gid(entry, 0);
    if (archive_write_header(writer.get(), entry) < ARCHIVE_WARN) {
      return make_error("invalid_archive", fmt::format("cannot unpack '{}': {}", rel->string(), archive_error_string(writer.get())), 400);
    }
    if (type == AE_IFREG && archive_entry_size(entry) > 0) {
      const void* block = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      while ((rc = archive_read_data_block(reader.get(), &block, &size, &offset)) == ARCHIVE_OK) {
        if (archive_write_data_block(writer.get(), block, size, offset) < ARCHIVE_WARN) {
          return make_error("invalid_archive", fmt::format("cannot write '{}': {}", rel->string(), archive_error_string(writer.get())), 400);
        }
      }
      if (rc != ARCHIVE_EOF) {
        return make_error("invalid_archive", fmt::format("cannot read '{}' from the archive: {}", rel->string(), archive_error_string(reader.get())), 400);
      }
    }
    if (type == AE_IFREG) ++stored.files;
    archive_write_finish_entry(writer.get());
  }
  if (archive_write_close(writer.get()) < ARCHIVE_WARN) {
    return make_error("invalid_archive", fmt::format("cannot finish unpacking: {}", archive_error_string(writer.get())), 400);
  }
  fs::permissions(tmp, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  std::error_code ec;
  fs::rename(tmp, directory(stored.digest), ec);
  if (ec && !contains(stored.digest)) {
    return make_errno_error("store_error", fmt::format("publishing code {}", stored.digest), ec.value());
  }
  if (!ec) guard.keep = true;
  return stored;
}

}  // namespace fnd::store
