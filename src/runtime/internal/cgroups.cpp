#include "runtime/internal/cgroups.hpp"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

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

}  // namespace

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
