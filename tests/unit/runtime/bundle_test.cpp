#include <catch2/catch.hpp>

#include <boost/json.hpp>

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
