#include "runtime/internal/bundle.hpp"

#include <sys/resource.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>

namespace fnd::runtime::internal {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// Top-level host dirs that may be plain dirs or merged-/usr symlinks.
constexpr const char* kUsrLinked[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
// Host files and dirs the function may read (bound read-only when present on the host).
constexpr const char* kHostReadOnly[] = {"/usr", "/etc/ssl", "/etc/alternatives", "/etc/ld.so.cache",
                                         "/etc/localtime", "/etc/mime.types"};

json::object bind_mount(const std::string& source, const std::string& destination, bool receives_mounts = false) {
  json::array options{"rbind", "ro", "nosuid", "nodev"};
  if (receives_mounts) options.push_back("rslave");
  return {{"destination", destination}, {"type", "bind"}, {"source", source}, {"options", std::move(options)}};
}

json::array capability_set() { return json::array{}; }

}  // namespace

// 4096 descriptors per instance, or fewer when fnd itself may not have that many: the OCI
// runtime cannot raise a limit above what it inherits without CAP_SYS_RESOURCE.
uint64_t instance_file_limit() {
  constexpr uint64_t kWanted = 4096;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_max == RLIM_INFINITY) return kWanted;
  return std::min<uint64_t>(kWanted, limit.rlim_max);
}

json::object build_oci_config(const ContainerConfig& c) {
  const uint64_t nofile = instance_file_limit();
  json::array mounts{
      json::object{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}, {"options", json::array{"nosuid", "noexec", "nodev"}}},
      json::object{{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"},
                   {"options", json::array{"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      json::object{{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"},
                   {"options", json::array{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
      json::object{{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"},
                   {"options", json::array{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      json::object{{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"},
                   {"options", json::array{"nosuid", "nodev", "mode=1777", "size=65536k"}}},
  };
  for (const char* host : kHostReadOnly) {
    if (fs::exists(host)) mounts.push_back(bind_mount(host, host));
  }
  for (const char* dir : kUsrLinked) {
    fs::path host = fs::path("/") / dir;
    if (fs::is_directory(host) && !fs::is_symlink(host)) mounts.push_back(bind_mount(host, host));
  }
  mounts.push_back(bind_mount(c.code_dir, kCodeMount, c.stem_cell));
  mounts.push_back(bind_mount(c.runtimes_dir, kBootstrapMount));

  json::array env;
  for (const auto& e : c.env) env.push_back(json::string(e));
  json::array args;
  for (const auto& a : c.args) args.push_back(json::string(a));

  json::object resources{{"pids", json::object{{"limit", c.resources.pids}}},
                         {"memory", json::object{{"limit", c.resources.memory_bytes}}}};
  if (c.resources.cpu > 0) {
    constexpr uint64_t kPeriod = 100000;
    resources["cpu"] = json::object{{"period", kPeriod}, {"quota", static_cast<int64_t>(c.resources.cpu * kPeriod)}};
  }

  json::object config{
      {"ociVersion", "1.0.2"},
      {"process",
       json::object{
           {"terminal", false},
           {"user", json::object{{"uid", kFunctionUid}, {"gid", kFunctionUid}}},
           {"args", std::move(args)},
           {"env", std::move(env)},
           {"cwd", kCodeMount},
           {"capabilities", json::object{{"bounding", capability_set()}, {"effective", capability_set()},
                                         {"permitted", capability_set()}, {"ambient", capability_set()}}},
           {"rlimits", json::array{json::object{{"type", "RLIMIT_NOFILE"}, {"hard", nofile}, {"soft", nofile}}}},
           {"noNewPrivileges", true},
       }},
      {"root", json::object{{"path", c.rootfs}, {"readonly", true}}},
      {"hostname", c.hostname},
      {"mounts", std::move(mounts)},
      {"linux",
       json::object{
           {"namespaces", json::array{json::object{{"type", "pid"}}, json::object{{"type", "ipc"}},
                                      json::object{{"type", "uts"}}, json::object{{"type", "mount"}},
                                      json::object{{"type", "cgroup"}},
                                      json::object{{"type", "network"}, {"path", c.netns_path}}}},
           {"cgroupsPath", c.cgroups_path},
           {"resources", std::move(resources)},
           {"maskedPaths", json::array{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                                       "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                                       "/sys/firmware"}},
           {"readonlyPaths", json::array{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
       }},
  };
  // crun makes the whole tree private by default, which would cut /function off from the host.
  if (c.stem_cell) config["linux"].as_object()["rootfsPropagation"] = "rslave";
  return config;
}

Status prepare_rootfs_template(const std::string& dir) {
  std::error_code ec;
  fs::path root(dir);
  for (const char* sub : {"usr", "etc", "tmp", "proc", "dev", "function", "fnd/runtime", "etc/ssl", "etc/alternatives"}) {
    fs::create_directories(root / sub, ec);
    if (ec) return make_error("rootfs_failed", fmt::format("cannot create {}: {}", (root / sub).string(), ec.message()));
  }
  for (const char* name : kUsrLinked) {
    fs::path host = fs::path("/") / name;
    fs::path inside = root / name;
    if (fs::is_symlink(host)) {
      if (!fs::is_symlink(inside)) {
        fs::remove_all(inside, ec);
        fs::create_directory_symlink(fs::read_symlink(host), inside, ec);
      }
    } else if (fs::is_directory(host)) {
      fs::create_directories(inside, ec);
    }
  }
  const std::pair<const char*, const char*> kFiles[] = {
      {"etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n"},
      {"etc/group", "root:x:0:\nnogroup:x:65534:\n"},
      {"etc/hosts", "127.0.0.1 localhost\n::1 localhost\n"},
      {"etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n"},
      {"etc/ld.so.cache", ""},  // mount points for the files bound from the host
      {"etc/localtime", ""},
      {"etc/mime.types", ""},
  };
  for (auto [name, content] : kFiles) {
    fs::path p = root / name;
    if (fs::exists(p)) continue;
    std::ofstream out(p);
    out << content;
    if (!out) return make_error("rootfs_failed", fmt::format("cannot write {}", p.string()));
  }
  fs::permissions(root, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                            fs::perms::others_exec, ec);
  return {};
}

Status write_bundle(const std::string& bundle_dir, const json::object& config) {
  std::error_code ec;
  fs::create_directories(bundle_dir, ec);
  if (ec) return make_error("bundle_failed", fmt::format("cannot create {}: {}", bundle_dir, ec.message()));
  std::ofstream out(fs::path(bundle_dir) / "config.json");
  out << json::serialize(config);
  out.close();
  if (!out) return make_error("bundle_failed", fmt::format("cannot write {}/config.json", bundle_dir));
  return {};
}

}  // namespace fnd::runtime::internal
