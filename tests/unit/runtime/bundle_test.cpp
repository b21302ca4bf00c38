#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <set>
#include <string>

#include "bundle.hpp"

namespace json = boost::json;

TEST_CASE("instance OCI config is locked down", "[unit]") {
  fnd::runtime::internal::ContainerConfig c;
  c.hostname = "hello";
  c.args = {"/usr/bin/python3", "bootstrap.py"};
  c.env = {"PORT=8080"};
  c.rootfs = "/var/lib/fnd/rootfs";
  c.code_dir = "/var/lib/fnd/code/abc";
  c.runtimes_dir = "/usr/share/fnd/runtimes";
  c.netns_path = "/proc/1/fd/7";
  c.cgroups_path = "/fnd/hello-1-abc";
  c.resources.memory_bytes = 64ULL << 20;
  c.resources.cpu = 0.5;
  c.resources.pids = 16;
  c.host_id_base = 0x70010000;
  json::object config = fnd::runtime::internal::build_oci_config(c);

  const auto& process = config.at("process").as_object();
  CHECK(process.at("terminal").as_bool() == false);
  CHECK(process.at("noNewPrivileges").as_bool());
  CHECK(process.at("user").at("uid").to_number<int>() == 65534);
  CHECK(process.at("capabilities").at("bounding").as_array().empty());
  CHECK(config.at("root").at("readonly").as_bool());

  const auto& linux_section = config.at("linux").as_object();
  CHECK(linux_section.at("resources").at("memory").at("limit").to_number<uint64_t>() == 64ULL << 20);
  CHECK(linux_section.at("resources").at("cpu").at("quota").to_number<int64_t>() == 50000);
  CHECK(linux_section.at("resources").at("pids").at("limit").to_number<int>() == 16);
  bool joins_netns = false;
  for (const auto& ns : linux_section.at("namespaces").as_array()) {
    if (ns.at("type") == "network") joins_netns = ns.as_object().at("path") == "/proc/1/fd/7";
  }
  CHECK(joins_netns);

  bool code_read_only = false, tmp_is_tmpfs = false;
  for (const auto& m : config.at("mounts").as_array()) {
    const auto& mount = m.as_object();
    if (mount.at("destination") == "/function") {
      const auto& options = mount.at("options").as_array();
      code_read_only = std::find(options.begin(), options.end(), json::value("ro")) != options.end();
    }
    if (mount.at("destination") == "/tmp") tmp_is_tmpfs = mount.at("type") == "tmpfs";
  }
  CHECK(code_read_only);
  CHECK(tmp_is_tmpfs);
}

namespace {

fnd::runtime::internal::ContainerConfig sample_config() {
  fnd::runtime::internal::ContainerConfig c;
  c.hostname = "hello";
  c.args = {"/usr/bin/true"};
  c.rootfs = "/run/fnd/rootfs";
  c.code_dir = "/var/lib/fnd/instances/x/function";
  c.runtimes_dir = "/usr/share/fnd/runtimes";
  c.netns_path = "/proc/1/fd/7";
  c.cgroups_path = "/fnd/x";
  c.host_id_base = 0x70020000;
  return c;
}

const json::object* mount_at(const json::object& config, const char* destination) {
  for (const auto& m : config.at("mounts").as_array()) {
    if (m.at("destination") == destination) return &m.as_object();
  }
  return nullptr;
}

bool has_option(const json::object& mount, const char* option) {
  const auto& options = mount.at("options").as_array();
  return std::find(options.begin(), options.end(), json::value(option)) != options.end();
}

}  // namespace

TEST_CASE("every instance has a user namespace mapping its 65536 ids onto its own host block", "[unit]") {
  json::object config = fnd::runtime::internal::build_oci_config(sample_config());
  const auto& linux_section = config.at("linux").as_object();
  bool user_namespace = false;
  for (const auto& ns : linux_section.at("namespaces").as_array()) {
    if (ns.at("type") == "user") user_namespace = !ns.as_object().contains("path");
  }
  CHECK(user_namespace);
  for (const char* key : {"uidMappings", "gidMappings"}) {
    INFO(key);
    const auto& mappings = linux_section.at(key).as_array();
    REQUIRE(mappings.size() == 1);
    CHECK(mappings[0].at("containerID").to_number<uint64_t>() == 0);
    CHECK(mappings[0].at("hostID").to_number<uint64_t>() == 0x70020000);
    CHECK(mappings[0].at("size").to_number<uint64_t>() == 65536);
  }
  // The function runs as nobody inside: host id 0x70020000 + 65534, no host user's.
  CHECK(config.at("process").at("user").at("uid").to_number<int>() == 65534);
}

TEST_CASE("seccomp is on unless the spec is unconfined", "[unit]") {
  auto c = sample_config();
  json::object confined = fnd::runtime::internal::build_oci_config(c);
  REQUIRE(confined.at("linux").as_object().contains("seccomp"));
  const auto& seccomp = confined.at("linux").at("seccomp").as_object();
  CHECK(seccomp.at("defaultAction") == "SCMP_ACT_ALLOW");
  std::set<std::string> denied;
  for (const auto& rule : seccomp.at("syscalls").as_array()) {
    if (rule.at("action") != "SCMP_ACT_ERRNO" || rule.as_object().contains("args")) continue;
    for (const auto& name : rule.at("names").as_array()) denied.insert(std::string(name.as_string()));
  }
  for (const char* call : {"unshare", "setns", "mount", "ptrace", "keyctl", "bpf", "perf_event_open", "io_uring_setup",
                           "io_uring_enter", "io_uring_register", "init_module", "finit_module", "clock_settime"}) {
    INFO(call);
    CHECK(denied.contains(call));
  }

  c.seccomp = false;
  json::object unconfined = fnd::runtime::internal::build_oci_config(c);
  CHECK_FALSE(unconfined.at("linux").as_object().contains("seccomp"));
}

TEST_CASE("secrets are bound read-only and noexec at /run/secrets only when there are some", "[unit]") {
  auto c = sample_config();
  CHECK(mount_at(fnd::runtime::internal::build_oci_config(c), "/run/secrets") == nullptr);

  c.secrets_dir = "/var/lib/fnd/instances/x/secrets";
  json::object config = fnd::runtime::internal::build_oci_config(c);
  const json::object* secrets = mount_at(config, "/run/secrets");
  REQUIRE(secrets != nullptr);
  CHECK(secrets->at("source") == "/var/lib/fnd/instances/x/secrets");
  CHECK(has_option(*secrets, "ro"));
  CHECK(has_option(*secrets, "noexec"));
  CHECK(has_option(*secrets, "nosuid"));
  CHECK_FALSE(has_option(*secrets, "rslave"));

  // A stem cell receives them later: the bind follows mounts made on the host side.
  c.stem_cell = true;
  json::object cell = fnd::runtime::internal::build_oci_config(c);
  CHECK(has_option(*mount_at(cell, "/run/secrets"), "rslave"));
  CHECK(has_option(*mount_at(cell, "/function"), "rslave"));
}
