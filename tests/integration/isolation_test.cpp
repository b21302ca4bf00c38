// Regression tests for what a hostile function tried against fnd itself (issue 7, items 7 and 8):
// making fnd its tracer, holding its own stop hostage, and file descriptors of fnd reaching a
// container. Also the seccomp profile every instance runs under.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "integration/daemon.hpp"

namespace fnd::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPythonSpec = R"({"runtime":"python3","handler":"main.handle"})";

// Tries PTRACE_TRACEME when it loads and reports the result and its tracer.
constexpr const char* kTraceMeSource = R"(
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
result = libc.ptrace(0, 0, 0, 0)
error = ctypes.get_errno()

def handle(req):
    tracer = [l.split()[1] for l in open('/proc/self/status') if l.startswith('TracerPid:')][0]
    return '%d %d %s' % (result, error, tracer)
)";

// Ignores SIGTERM and leaves a child that ignores it too.
constexpr const char* kStubbornSource = R"(
import signal, subprocess
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(['/usr/bin/sleep', '1000'])

def handle(req):
    return 'stubborn %d' % child.pid
)";

// Each call a sandbox escape needs, and the errno it got (0 = it worked).
constexpr const char* kSyscallsSource = R"(
import ctypes, json, platform
libc = ctypes.CDLL(None, use_errno=True)
NR = {'keyctl': 250, 'bpf': 321, 'perf_event_open': 298, 'io_uring_setup': 425, 'init_module': 175}

def attempt(call):
    ctypes.set_errno(0)
    rc = call()
    return 0 if rc >= 0 else ctypes.get_errno()

def handle(req):
    out = {
        'unshare_user': attempt(lambda: libc.unshare(0x10000000)),
        'unshare_mount': attempt(lambda: libc.unshare(0x00020000)),
        'mount': attempt(lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)),
        'ptrace': attempt(lambda: libc.ptrace(0, 0, 0, 0)),
        'setns': attempt(lambda: libc.setns(0, 0)),
    }
    if platform.machine() == 'x86_64':
        buf = ctypes.create_string_buffer(256)
        out['keyctl'] = attempt(lambda: libc.syscall(NR['keyctl'], 0, 0, 0, 0, 0))
        out['bpf'] = attempt(lambda: libc.syscall(NR['bpf'], 0, buf, 64))
        out['perf_event_open'] = attempt(lambda: libc.syscall(NR['perf_event_open'], buf, 0, -1, -1, 0))
        out['io_uring_setup'] = attempt(lambda: libc.syscall(NR['io_uring_setup'], 1, buf))
        out['init_module'] = attempt(lambda: libc.syscall(NR['init_module'], buf, 0, b''))
    return out
)";

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// What each fd of `pid` points to ("socket:[123]", "anon_inode:[pidfd]", "/dev/null", ...).
std::vector<std::string> fd_targets(pid_t pid) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    auto target = fs::read_symlink(fd.path(), ec);
    if (!ec) out.push_back(target.string());
  }
  return out;
}

std::vector<pid_t> processes() {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::string name = entry.path().filename().string();
    if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit)) out.push_back(std::stoi(name));
  }
  return out;
}

uint16_t port_of(const std::string& url) { return static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1))); }

bool connects(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

std::chrono::milliseconds timed(const std::function<void()>& action) {
  auto start = std::chrono::steady_clock::now();
  action();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

}  // namespace

TEST_CASE("a function calling ptrace(PTRACE_TRACEME) cannot make fnd its tracer, and its delete is quick and clean",
          "[integration]") {
  Daemon fnd({.config_yaml = "runtime:\n  stop_timeout: 1s\n"});
  fnd.deploy("traceme", {{"main.py", kTraceMeSource}}, kPythonSpec);
  HttpAnswer answer = fnd.invoke("traceme");
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  CHECK(answer.body == "-1 1 0");  // EPERM, and nobody traces it
  std::set<std::string> instances = fnd.instance_ids("traceme");
  CHECK_THAT(read_file("/proc/" + std::to_string(fnd.pid()) + "/status"), Catch::Contains("TracerPid:\t0"));

  std::chrono::milliseconds took = timed([&] { CHECK(fnd.http("DELETE", "/api/v1/functions/traceme").status == 200); });
  CHECK(took < 2500ms);
  Leftovers left = fnd.leftovers(instances);
  INFO(left.describe());
  CHECK(left.none());
}

TEST_CASE("an instance that ignores SIGTERM and leaves children is killed with its cgroup within stop_timeout",
          "[integration]") {
  Daemon fnd({.config_yaml = "runtime:\n  stop_timeout: 1s\n"});
  fnd.deploy("stubborn", {{"main.py", kStubbornSource}}, kPythonSpec);
  fnd.deploy("stubborn-too", {{"main.py", kStubbornSource}}, kPythonSpec);
  REQUIRE(fnd.invoke("stubborn").status == 200);
  REQUIRE(fnd.invoke("stubborn-too").status == 200);
  std::set<std::string> first = fnd.instance_ids("stubborn");
  std::set<std::string> second = fnd.instance_ids("stubborn-too");

  std::chrono::milliseconds took = timed([&] { CHECK(fnd.http("DELETE", "/api/v1/functions/stubborn").status == 200); });
  CHECK(took < 2500ms);
  Leftovers left = fnd.leftovers(first);
  INFO(left.describe());
  CHECK(left.cgroups == 0);
  CHECK(left.processes == 0);
  for (const auto& line : left.details) CHECK(line.find(*first.begin()) == std::string::npos);

  // The same on shutdown: SIGTERM of fnd ends well within systemd's TimeoutStopSec.
  took = timed([&] { CHECK(fnd.stop() == 0); });
  CHECK(took < 5s);
  Leftovers after_stop = fnd.leftovers(second);
  INFO(after_stop.describe());
  CHECK(after_stop.none());
}

TEST_CASE("the seccomp profile refuses namespaces, mounts, tracing, keyrings, bpf, perf, io_uring and modules",
          "[integration]") {
  Daemon fnd;
  fnd.deploy("escape", {{"main.py", kSyscallsSource}}, kPythonSpec);
  HttpAnswer answer = fnd.invoke("escape");
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  boost::json::value results = answer.json();
  for (const auto& [call, error] : results.as_object()) {
    INFO(std::string(call) << " got errno " << error);
    CHECK(error.to_number<int>() == 1);  // EPERM: refused by the profile, never 0 (done)
  }
}

TEST_CASE("file descriptors fnd holds never reach a container: after kill -9 its port is closed at once",
          "[integration]") {
  DaemonOptions options;
  options.warm_pools = true;
  options.config_yaml = "scheduler:\n  stem_cells: {python3: 1, shell: 0, node: 0}\n";
  Daemon fnd(options);
  fnd.deploy("native", {{"server", "#!/bin/sh\nexec /usr/bin/python3 -m http.server \"$PORT\"\n"}},
             R"({"runtime":"binary","handler":"./server"})", {"server"});
  fnd.deploy("hello", {{"main.py", "def handle(req):\n    return 'hi'\n"}}, kPythonSpec);
  REQUIRE(fnd.invoke("hello").status == 200);
  // A container created ahead (crun create: its init waits) and a stem cell exist now.
  REQUIRE(wait_until([&] { return fnd.http("GET", "/metrics").body.find("fnd_precreated_containers 1") != std::string::npos; }, 20s, 50ms));

  std::set<std::string> fnd_sockets;
  for (const auto& target : fd_targets(fnd.pid())) {
    if (target.starts_with("socket:")) fnd_sockets.insert(target);
  }
  REQUIRE_FALSE(fnd_sockets.empty());
  for (pid_t pid : processes()) {
    if (pid == fnd.pid() || pid == ::getpid()) continue;
    std::string cgroups = read_file("/proc/" + std::to_string(pid) + "/cgroup");
    bool in_instance = cgroups.find("/fnd/") != std::string::npos;
    for (const auto& target : fd_targets(pid)) {
      INFO("process " << pid << " (" << read_file("/proc/" + std::to_string(pid) + "/comm") << ") holds " << target);
      CHECK_FALSE(fnd_sockets.contains(target));
      if (in_instance) CHECK(target != "anon_inode:[pidfd]");
    }
  }

  uint16_t port = port_of(fnd.url());
  fnd.kill9();
  CHECK_FALSE(connects(port));
}

}  // namespace fnd::test
