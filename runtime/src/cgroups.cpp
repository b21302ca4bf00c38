#include "cgroups.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <vector>

namespace fnd::runtime::internal {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

uint64_t read_counter(const fs::path& file, const std::string& key) {
  std::ifstream in(file);
  std::string name;
  uint64_t value = 0;
  while (in >> name >> value) {
    if (name == key) return value;
  }
  return 0;
}

// Every directory that may hold fnd's parent cgroup: the v2 root, the v2 "unified" mount of a
// hybrid host, and each v1 controller mount.
std::vector<fs::path> hierarchy_roots() {
  std::vector<fs::path> roots;
  std::error_code ec;
  if (fs::exists(fs::path(kCgroupRoot) / "cgroup.controllers", ec)) roots.emplace_back(kCgroupRoot);
  for (const auto& entry : fs::directory_iterator(kCgroupRoot, ec)) {
    if (entry.is_directory(ec) && !entry.is_symlink(ec)) roots.push_back(entry.path());
  }
  return roots;
}

// Writes `value` to the first of `files` that exists; false when none does. Plain syscalls:
// this runs on a cold start's critical path.
Result<bool> write_first_existing(std::initializer_list<fs::path> files, const std::string& value) {
  for (const auto& file : files) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      return make_errno_error("cgroup_update_failed", fmt::format("cannot open {}", file.string()), errno);
    }
    ssize_t written = ::write(fd, value.data(), value.size());
    int err = errno;
    ::close(fd);
    if (written != static_cast<ssize_t>(value.size())) {
      return make_errno_error("cgroup_update_failed", fmt::format("cannot write '{}' to {}", value, file.string()), err);
    }
    return true;
  }
  return false;
}

}  // namespace

Status set_limits(const std::string& name, const config::ResourceLimits& limits) {
  const fs::path root(kCgroupRoot);
  auto v1 = [&](const char* controller, const char* file) { return root / controller / kCgroupParent / name / file; };
  auto v2 = [&](const char* file) { return root / kCgroupParent / name / file; };
  auto hybrid = [&](const char* file) { return root / "unified" / kCgroupParent / name / file; };

  auto memory = write_first_existing({v1("memory", "memory.limit_in_bytes"), v2("memory.max")}, std::to_string(limits.memory_bytes));
  if (!memory) return memory.error();
  if (!*memory) return make_error("cgroup_update_failed", fmt::format("no memory cgroup for {}", name), 500);
  auto pids = write_first_existing({v1("pids", "pids.max"), v2("pids.max"), hybrid("pids.max")}, std::to_string(limits.pids));
  if (!pids) return pids.error();
  constexpr int64_t kPeriod = 100000;
  int64_t quota = limits.cpu > 0 ? static_cast<int64_t>(limits.cpu * kPeriod) : -1;
  auto period = write_first_existing({v1("cpu", "cpu.cfs_period_us")}, std::to_string(kPeriod));
  if (!period) return period.error();
  if (*period) {
    auto cpu = write_first_existing({v1("cpu", "cpu.cfs_quota_us")}, std::to_string(quota));
    if (!cpu) return cpu.error();
  } else {
    std::string max = quota > 0 ? fmt::format("{} {}", quota, kPeriod) : fmt::format("max {}", kPeriod);
    auto cpu = write_first_existing({v2("cpu.max"), hybrid("cpu.max")}, max);
    if (!cpu) return cpu.error();
  }
  return {};
}

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::string text;
  std::getline(in, text);
  return text;
}

bool write_text(const fs::path& file, std::string_view value) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  ::close(fd);
  return ok;
}

}  // namespace

int kill_cgroup(const std::string& name) {
  const fs::path root(kCgroupRoot);
  for (const fs::path& v2 : {root / kCgroupParent / name, root / "unified" / kCgroupParent / name}) {
    if (write_text(v2 / "cgroup.kill", "1")) return 1;
  }
  // cgroup v1: freezing first stops forks racing the kills, and a frozen process cannot act on
  // anything; SIGKILL is delivered once it is thawed.
  const fs::path freezer = root / "freezer" / kCgroupParent / name;
  bool frozen = write_text(freezer / "freezer.state", "FROZEN");
  for (int i = 0; frozen && i < 100 && read_text(freezer / "freezer.state") != "FROZEN"; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  int signalled = 0;
  for (const char* controller : {"freezer", "pids", "memory", "cpu"}) {
    std::ifstream procs(root / controller / kCgroupParent / name / "cgroup.procs");
    if (!procs) continue;
    pid_t pid = 0;
    while (procs >> pid) {
      if (::kill(pid, SIGKILL) == 0) ++signalled;
    }
    break;
  }
  if (frozen) write_text(freezer / "freezer.state", "THAWED");
  return signalled;
}

uint64_t oom_kill_count(const std::string& name) {
  fs::path v1 = fs::path(kCgroupRoot) / "memory" / kCgroupParent / name / "memory.oom_control";
  if (fs::exists(v1)) return read_counter(v1, "oom_kill");
  for (const char* base : {"", "unified"}) {
    fs::path v2 = fs::path(kCgroupRoot) / base / kCgroupParent / name / "memory.events";
    if (fs::exists(v2)) return read_counter(v2, "oom_kill");
  }
  return 0;
}

int sweep_cgroups(const std::string& prefix) {
  int removed = 0;
  for (const auto& root : hierarchy_roots()) {
    fs::path parent = root / kCgroupParent;
    std::error_code ec;
    if (!fs::is_directory(parent, ec)) continue;
    for (const auto& child : fs::directory_iterator(parent, ec)) {
      if (!child.is_directory(ec) || !child.path().filename().string().starts_with(prefix)) continue;
      for (int attempt = 0; attempt < 50; ++attempt) {
        std::ifstream procs(child.path() / "cgroup.procs");
        pid_t pid = 0;
        bool any = false;
        while (procs >> pid) {
          ::kill(pid, SIGKILL);
          any = true;
        }
        if (::rmdir(child.path().c_str()) == 0) {
          ++removed;
          break;
        }
        if (!any && errno != EBUSY) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // startup only: wait for the kills to land
      }
    }
  }
  return removed;
}

}  // namespace fnd::runtime::internal
