#include "bundle.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <random>

#include "host_ids.hpp"

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

json::array id_mappings(uint32_t host_base) {
  return json::array{json::object{{"containerID", 0}, {"hostID", host_base}, {"size", kIdBlockSize}}};
}

// Calls no function needs and that attack the kernel or escape the sandbox, refused with EPERM,
// in the spirit of Docker's default profile: namespaces, mounts, tracing other processes,
// keyrings, BPF, perf, io_uring, kernel modules, clocks, swap, reboot.
constexpr const char* kDeniedSyscalls[] = {
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module", "finit_module",
    "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "init_module", "io_uring_enter",
    "io_uring_register", "io_uring_setup", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl",
    "lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at", "nfsservctl", "open_by_handle_at",
    "open_tree", "perf_event_open", "pidfd_getfd", "pivot_root", "process_madvise", "process_vm_readv",
    "process_vm_writev", "ptrace", "query_module", "quotactl", "quotactl_fd", "reboot", "request_key", "setns",
    "settimeofday", "stime", "swapoff", "swapon", "syslog", "_sysctl", "umount", "umount2", "unshare", "uselib",
    "userfaultfd", "ustat", "vm86", "vm86old", "adjtimex", "fanotify_init"};

// clone() flags that make new namespaces (CLONE_NEWNS ... CLONE_NEWNET, CLONE_NEWTIME).
constexpr uint64_t kNamespaceFlags[] = {0x00020000, 0x02000000, 0x04000000, 0x08000000,
                                        0x10000000, 0x20000000, 0x40000000, 0x00000080};

json::object seccomp_profile() {
  constexpr int kEperm = 1;
  constexpr int kEnosys = 38;
  json::array denied;
  for (const char* name : kDeniedSyscalls) denied.emplace_back(name);
  json::array syscalls{
      json::object{{"names", std::move(denied)}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", kEperm}},
      // clone3 passes its flags in memory, out of seccomp's reach: refuse it as unknown, so that
      // libc falls back to clone(), whose flags are checked below.
      json::object{{"names", json::array{"clone3"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", kEnosys}},
  };
  for (uint64_t flag : kNamespaceFlags) {
    syscalls.push_back(json::object{
        {"names", json::array{"clone"}},
        {"action", "SCMP_ACT_ERRNO"},
        {"errnoRet", kEperm},
        {"args", json::array{json::object{{"index", 0}, {"value", flag}, {"valueTwo", flag}, {"op", "SCMP_CMP_MASKED_EQ"}}}}});
  }
  return {{"defaultAction", "SCMP_ACT_ALLOW"},
          {"architectures", json::array{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}},
          {"syscalls", std::move(syscalls)}};
}

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
  if (!c.secrets_dir.empty()) {
    json::object secrets = bind_mount(c.secrets_dir, kSecretsMount, c.stem_cell);
    secrets["options"].as_array().push_back("noexec");
    mounts.push_back(std::move(secrets));
  }

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
           {"namespaces", json::array{json::object{{"type", "user"}}, json::object{{"type", "pid"}},
                                      json::object{{"type", "ipc"}}, json::object{{"type", "uts"}},
                                      json::object{{"type", "mount"}}, json::object{{"type", "cgroup"}},
                                      json::object{{"type", "network"}, {"path", c.netns_path}}}},
           // The instance's own block of host ids: no host user and no other instance has them.
           {"uidMappings", id_mappings(c.host_id_base)},
           {"gidMappings", id_mappings(c.host_id_base)},
           {"cgroupsPath", c.cgroups_path},
           {"resources", std::move(resources)},
           {"maskedPaths", json::array{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                                       "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                                       "/sys/firmware"}},
           {"readonlyPaths", json::array{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
       }},
  };
  if (c.seccomp) config["linux"].as_object()["seccomp"] = seccomp_profile();
  // crun makes the whole tree private by default, which would cut /function off from the host.
  if (c.stem_cell) config["linux"].as_object()["rootfsPropagation"] = "rslave";
  return config;
}

namespace {

Error rootfs_failed(std::string message) { return make_error("rootfs_failed", std::move(message)); }

// Makes `dir` and its missing parents mode 0755 whatever the umask, and checks that every
// parent can be searched by everyone.
Status make_reachable_dirs(const fs::path& dir) {
  fs::path at;
  for (const auto& part : fs::absolute(dir).lexically_normal()) {
    at /= part;
    if (::mkdir(at.c_str(), 0755) == 0) {
      ::chmod(at.c_str(), 0755);
    } else if (errno != EEXIST) {
      return rootfs_failed(fmt::format("cannot create {}: {}", at.string(), std::strerror(errno)));
    }
    struct stat info{};
    if (::stat(at.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
      return rootfs_failed(fmt::format("{} (on the way to runtime.rootfs_dir) is not a folder", at.string()));
    }
    if ((info.st_mode & S_IXOTH) == 0) {
      return rootfs_failed(fmt::format("runtime.rootfs_dir {} cannot be reached by instances: {} has mode {:04o}, and an "
                                       "instance's root (a subordinate uid) resolves the path from inside its user "
                                       "namespace; run chmod o+x {} or choose a rootfs_dir under world-searchable folders",
                                       dir.string(), at.string(), info.st_mode & 07777, at.string()));
    }
  }
  return {};
}

// Replaces `path` in one step (through a temporary name), so another daemon preparing the same
// template at the same time never sees it half written.
Status publish(const fs::path& path, const std::function<bool(const fs::path&)>& make) {
  fs::path temporary = path;
  temporary += fmt::format(".tmp-{}-{:x}", ::getpid(), std::random_device{}());
  std::error_code ec;
  fs::remove(temporary, ec);
  if (!make(temporary)) {
    fs::remove(temporary, ec);
    return rootfs_failed(fmt::format("cannot write {}", temporary.string()));
  }
  fs::rename(temporary, path, ec);
  if (ec) {
    fs::remove(temporary, ec);
    return rootfs_failed(fmt::format("cannot create {}: {}", path.string(), ec.message()));
  }
  return {};
}

}  // namespace

Status prepare_rootfs_template(const std::string& dir) {
  fs::path root(dir);
  if (Status st = make_reachable_dirs(root); !st) return st;
  std::error_code ec;
  for (const char* sub : {"usr", "etc", "tmp", "proc", "dev", "function", "fnd/runtime", "etc/ssl", "etc/alternatives",
                          "run/secrets"}) {
    fs::create_directories(root / sub, ec);
    if (ec) return rootfs_failed(fmt::format("cannot create {}: {}", (root / sub).string(), ec.message()));
    for (fs::path at = root / sub; at != root; at = at.parent_path()) ::chmod(at.c_str(), 0755);
  }
  for (const char* name : kUsrLinked) {
    fs::path host = fs::path("/") / name;
    fs::path inside = root / name;
    if (fs::is_symlink(host)) {
      fs::path target = fs::read_symlink(host, ec);
      if (ec) continue;
      if (fs::is_symlink(inside) && fs::read_symlink(inside, ec) == target) continue;
      if (fs::is_directory(inside) && !fs::is_symlink(inside)) fs::remove_all(inside, ec);
      if (Status st = publish(inside, [&](const fs::path& p) {
            std::error_code link_ec;
            fs::create_directory_symlink(target, p, link_ec);
            return !link_ec;
          }); !st) {
        return st;
      }
    } else if (fs::is_directory(host)) {
      fs::create_directories(inside, ec);
      ::chmod(inside.c_str(), 0755);
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
    std::string text = content;
    if (Status st = publish(p, [&](const fs::path& temporary) {
          std::ofstream out(temporary);
          out << text;
          out.close();
          return out && ::chmod(temporary.c_str(), 0644) == 0;
        }); !st) {
      return st;
    }
  }
  ::chmod(root.c_str(), 0755);
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
