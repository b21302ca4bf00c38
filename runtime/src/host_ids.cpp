#include "host_ids.hpp"

#include <cassert>
#include <charconv>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

namespace fnd::runtime::internal {

namespace {

constexpr uint64_t kLastValidId = 4294967294;  // (uid_t)-1 means "no change" to chown and setresuid

std::vector<std::string_view> split(std::string_view line, char separator) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    size_t end = line.find(separator, start);
    fields.push_back(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return fields;
    start = end + 1;
  }
}

std::optional<uint64_t> number(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// Calls `each(fields)` for every line that is not blank or a comment.
template <typename Each>
void for_each_entry(const std::string& text, Each each) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    each(split(line, ':'));
  }
}

struct SubordinateEntry {
  std::string owner;
  uint64_t start = 0;
  uint64_t count = 0;
};

std::vector<SubordinateEntry> subordinate_entries(const std::string& text) {
  std::vector<SubordinateEntry> out;
  for_each_entry(text, [&](const std::vector<std::string_view>& f) {
    if (f.size() != 3) return;
    auto start = number(f[1]);
    auto count = number(f[2]);
    if (start && count && *count > 0) out.push_back({std::string(f[0]), *start, *count});
  });
  return out;
}

std::string read_text(const char* path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Error bad_range(std::string message) { return make_error(std::string(kBadIdRange), std::move(message), 500); }

constexpr std::string_view kFix = "set runtime.subuid_base and runtime.subuid_count to a range no user has";

}  // namespace

HostAccounts read_host_accounts() {
  return {read_text("/etc/passwd"), read_text("/etc/group"), read_text("/etc/subuid"), read_text("/etc/subgid")};
}

Result<HostIdRange> choose_host_id_range(uint32_t configured_base, uint32_t configured_count,
                                         const HostAccounts& accounts) {
  HostIdRange range;
  if (configured_count > 0) {
    range = {configured_base, configured_count, "runtime.subuid_base/runtime.subuid_count"};
  } else {
    std::optional<SubordinateEntry> uids, gids;
    for (const auto& e : subordinate_entries(accounts.subuid)) {
      if (e.owner == kSubordinateIdUser && !uids) uids = e;
    }
    for (const auto& e : subordinate_entries(accounts.subgid)) {
      if (e.owner == kSubordinateIdUser && !gids) gids = e;
    }
    if (uids) {
      if (!gids || gids->start != uids->start) {
        return bad_range(fmt::format("/etc/subuid gives user {0} the ids from {1}, but /etc/subgid {2}: fnd uses the "
                                     "same numbers as uids and gids, so give {0} the same range in both files, or {3}",
                                     kSubordinateIdUser, uids->start,
                                     gids ? fmt::format("starts its range at {}", gids->start) : std::string("has none"),
                                     kFix));
      }
      uint64_t count = std::min(uids->count, gids->count);
      if (uids->start > kLastValidId || count > kLastValidId) {
        return bad_range(fmt::format("the /etc/subuid range of user {} is not a valid uid range; {}", kSubordinateIdUser, kFix));
      }
      range = {static_cast<uint32_t>(uids->start), static_cast<uint32_t>(count),
               fmt::format("/etc/subuid and /etc/subgid (user {})", kSubordinateIdUser)};
    } else {
      range = {kDefaultIdBase, kDefaultIdCount, "the default range"};
    }
  }

  const uint64_t first = range.base;
  const uint64_t end = first + range.count;  // one past the last
  if (range.count < kIdBlockSize) {
    return bad_range(fmt::format("the uid range from {} ({} ids from {}) is smaller than one instance's block of {}; {}",
                                 range.source, range.count, range.base, kIdBlockSize, kFix));
  }
  if (first < kIdBlockSize || end - 1 > kLastValidId) {
    return bad_range(fmt::format("the uid range from {} ({}..{}) must lie within {}..{}: ids below {} belong to the "
                                 "host's users; {}", range.source, first, end - 1, kIdBlockSize, kLastValidId,
                                 kIdBlockSize, kFix));
  }
  auto inside = [&](uint64_t id) { return id >= first && id < end; };
  std::optional<Error> conflict;
  for_each_entry(accounts.passwd, [&](const std::vector<std::string_view>& f) {
    if (conflict || f.size() < 3) return;
    if (auto uid = number(f[2]); uid && inside(*uid)) {
      conflict = bad_range(fmt::format("host user '{}' has uid {}, inside the range instances run in ({}..{}, from {}): "
                                       "it would share ids with functions; {}", f[0], *uid, first, end - 1, range.source, kFix));
    }
  });
  for_each_entry(accounts.group, [&](const std::vector<std::string_view>& f) {
    if (conflict || f.size() < 3) return;
    if (auto gid = number(f[2]); gid && inside(*gid)) {
      conflict = bad_range(fmt::format("host group '{}' has gid {}, inside the range instances run in ({}..{}, from {}); {}",
                                       f[0], *gid, first, end - 1, range.source, kFix));
    }
  });
  if (conflict) return *conflict;
  for (const auto* file : {&accounts.subuid, &accounts.subgid}) {
    for (const auto& e : subordinate_entries(*file)) {
      if (e.owner == kSubordinateIdUser) continue;
      if (e.start < end && first < e.start + e.count) {
        return bad_range(fmt::format("{} gives user '{}' the ids {}..{}, which overlap the range instances run in "
                                     "({}..{}, from {}): that user's containers would share ids with functions; {}",
                                     file == &accounts.subuid ? "/etc/subuid" : "/etc/subgid", e.owner, e.start,
                                     e.start + e.count - 1, first, end - 1, range.source, kFix));
      }
    }
  }
  return range;
}

std::optional<uint32_t> HostIdBlocks::acquire() {
  if (!released_.empty()) {
    uint32_t block = *released_.begin();
    released_.erase(released_.begin());
    return block;
  }
  if (next_ >= capacity()) return std::nullopt;
  return next_++;
}

void HostIdBlocks::release(uint32_t block) {
  assert(block < next_ && !released_.contains(block));
  // The highest block handed out goes back to the never-used end, so next_ shrinks again.
  released_.insert(block);
  while (next_ > 0 && released_.contains(next_ - 1)) released_.erase(--next_);
}

}  // namespace fnd::runtime::internal
