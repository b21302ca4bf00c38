// Regression tests for what a hostile function tried against fnd itself (issue 7, items 7 and 8):
// making fnd its tracer, holding its own stop hostage, and file descriptors of fnd reaching a
// container. Tagged [isolation] (issue 9, items 4-6): what holds instances apart from the host's
// users and from each other (user namespaces on host ids of their own, code no one else may
// read), the seccomp profile every instance runs under, secrets delivered as files, and a state
// dir for root alone.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

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
NR = {'keyctl': 250, 'bpf': 321, 'perf_event_open': 298, 'io_uring_setup': 425, 'init_module': 175,
      'clock_settime': 227}

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
        out['clock_settime'] = attempt(lambda: libc.syscall(NR['clock_settime'], 0, buf))
    return out
)";

// Who the function is inside, and what it sees of its code.
constexpr const char* kIdentitySource = R"(
import os

def handle(req):
    code = os.stat('/function/main.py')
    return {'uid': os.getuid(), 'gid': os.getgid(), 'code_uid': code.st_uid, 'code_mode': code.st_mode & 0o777,
            'uid_map': open('/proc/self/uid_map').read().split()}
)";

// unshare(CLONE_NEWUSER) in a child (a threaded process may not): the errno it got (0 = it worked).
constexpr const char* kUnshareSource = R"(
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)

def handle(req):
    pid = os.fork()
    if pid == 0:
        ctypes.set_errno(0)
        rc = libc.unshare(0x10000000)
        os._exit(0 if rc == 0 else ctypes.get_errno())
    return str(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
)";

// Reads every file under /run/secrets: "NAME/KEY uid mode value" per line.
constexpr const char* kSecretsSource = R"(
import os

def handle(req):
    lines = []
    for name in sorted(os.listdir('/run/secrets')):
        for key in sorted(os.listdir('/run/secrets/' + name)):
            path = '/run/secrets/%s/%s' % (name, key)
            info = os.stat(path)
            lines.append('%s/%s %d %o %s' % (name, key, info.st_uid, info.st_mode & 0o777, open(path).read()))
    top = os.stat('/run/secrets/' + sorted(os.listdir('/run/secrets'))[0])
    lines.append('dir %d %o' % (top.st_uid, top.st_mode & 0o777))
    return '\n'.join(lines)
)";

constexpr const char* kSecretValue = "sk_live_4f1d9c2e7b0a";
constexpr const char* kCaValue = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

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

// Runs `body` in a child process with uid and gid 65534, as a host user who has the number
// functions run as inside their namespace; returns its exit code.
int as_host_nobody(const std::function<int()>& body) {
  pid_t child = ::fork();
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(90);
    }
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The instance's process as describe lists it (REQUIREs exactly one instance).
pid_t instance_pid(const Daemon& fnd, const std::string& name) {
  auto described = fnd.describe(name);
  const auto& instances = described.at("instances").as_array();
  REQUIRE(instances.size() == 1);
  return static_cast<pid_t>(instances.at(0).at("pid").to_number<int64_t>());
}

std::string instance_origin(const Daemon& fnd, const std::string& name) {
  auto described = fnd.describe(name);
  const auto& instances = described.at("instances").as_array();
  REQUIRE(instances.size() == 1);
  return std::string(instances.at(0).at("origin").as_string());
}

// The real uid and gid of a process as the host sees them.
std::pair<uint64_t, uint64_t> host_ids_of(pid_t pid) {
  std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
  uint64_t uid = 0, gid = 0;
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("Uid:")) std::istringstream(line.substr(4)) >> uid;
    if (line.starts_with("Gid:")) std::istringstream(line.substr(4)) >> gid;
  }
  return {uid, gid};
}

unsigned mode_of(const std::string& path) {
  struct stat info{};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

std::string base64(std::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t n = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8) | uint8_t(data[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(n >> shift) & 63]);
  }
  if (i + 1 == data.size()) {
    uint32_t n = uint8_t(data[i]) << 16;
    out += {kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == data.size()) {
    uint32_t n = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8);
    out += {kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63], '='};
  }
  return out;
}

void create_secret(const Daemon& fnd, const std::string& name, const std::map<std::string, std::string>& values) {
  boost::json::object data;
  for (const auto& [key, value] : values) data[key] = base64(value);
  HttpAnswer answer = fnd.http("PUT", "/api/v1/secrets/" + name, boost::json::serialize(boost::json::object{{"data", data}}),
                               {{"Content-Type", "application/json"}});
  INFO(answer.body);
  REQUIRE(answer.status == 200);
}

// What the secrets function must answer: both keys, owned by the function (65534 inside), 0400
// files in a 0500 folder.
std::string expected_secret_files() {
  return std::string("stripe/ca 65534 400 ") + kCaValue + "\nstripe/key 65534 400 " + kSecretValue + "\ndir 65534 500";
}

// Every regular file under `dir` on the same file system as `dir` (so not the tmpfs mounts a
// stem cell's bundle holds) whose content holds `needle`.
std::vector<std::string> files_holding(const std::string& dir, const std::string& needle) {
  std::vector<std::string> found;
  struct stat top{};
  if (::stat(dir.c_str(), &top) != 0) return found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    struct stat info{};
    if (::lstat(it->path().c_str(), &info) != 0) continue;
    if (info.st_dev != top.st_dev) {
      if (S_ISDIR(info.st_mode)) it.disable_recursion_pending();
      continue;
    }
    if (S_ISREG(info.st_mode) && read_file(it->path()).find(needle) != std::string::npos) found.push_back(it->path().string());
  }
  return found;
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

TEST_CASE("the seccomp profile refuses namespaces, mounts, tracing, keyrings, bpf, perf, io_uring, modules and clocks",
          "[integration][isolation]") {
  Daemon fnd;
  fnd.deploy("escape", {{"main.py", kSyscallsSource}}, kPythonSpec);
  HttpAnswer answer = fnd.invoke("escape");
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  boost::json::value results = answer.json();
  CHECK(results.as_object().size() >= 6);
  for (const auto& [call, error] : results.as_object()) {
    INFO(std::string(call) << " got errno " << error);
    CHECK(error.to_number<int>() == 1);  // EPERM: refused by the profile, never 0 (done)
  }
}

TEST_CASE("python3, node, shell and binary functions work under the seccomp profile and the user namespace",
          "[integration][isolation]") {
  Daemon fnd;
  fnd.deploy("py", {{"main.py", "def handle(req):\n    return 'py ' + req.body.decode()\n"}}, kPythonSpec);
  fnd.deploy("js", {{"index.js", "exports.handle = async (req) => `js ${req.body}`;\n"}},
             R"({"runtime":"node","handler":"index.handle"})");
  fnd.deploy("sh", {{"run.sh", "printf 'sh '; cat\n"}}, R"({"runtime":"shell","handler":"sh run.sh"})");
  fnd.deploy("bin", {{"server", "#!/bin/sh\nexec /usr/bin/python3 -c 'import http.server, os\n"
                                "class H(http.server.BaseHTTPRequestHandler):\n"
                                "    def do_POST(self):\n"
                                "        n = int(self.headers.get(\"content-length\", 0)); body = self.rfile.read(n)\n"
                                "        self.send_response(200); self.end_headers(); self.wfile.write(b\"bin \" + body)\n"
                                "http.server.HTTPServer((\"127.0.0.1\", int(os.environ[\"PORT\"])), H).serve_forever()'\n"}},
             R"({"runtime":"binary","handler":"./server"})", {"server"});
  for (const char* name : {"py", "js", "sh", "bin"}) {
    HttpAnswer answer = fnd.invoke(name, "hi");
    INFO(name << ": " << answer.status << " " << answer.body << "\nfnd log:\n" << fnd.log());
    CHECK(answer.status == 200);
    CHECK(answer.body == std::string(name) + " hi");
  }
}

TEST_CASE("security.seccomp: unconfined, deployed by an admin, lets a function create a user namespace",
          "[integration][isolation]") {
  Daemon fnd;
  fnd.deploy("confined", {{"main.py", kUnshareSource}}, kPythonSpec);
  fnd.deploy("free", {{"main.py", kUnshareSource}},
             R"({"runtime":"python3","handler":"main.handle","security":{"seccomp":"unconfined"}})");
  HttpAnswer confined = fnd.invoke("confined");
  HttpAnswer free = fnd.invoke("free");
  INFO(confined.body << " / " << free.body);
  REQUIRE(confined.status == 200);
  REQUIRE(free.status == 200);
  CHECK(confined.body == "1");  // EPERM
  CHECK(free.body == "0");      // a nested user namespace: no seccomp in the way
}

TEST_CASE("a host user with the uid functions have inside cannot read, trace or signal an instance",
          "[integration][isolation]") {
  Daemon fnd;
  fnd.deploy("victim", {{"main.py", kIdentitySource}},
             R"({"runtime":"python3","handler":"main.handle","env":{"API_PASSWORD":"hunter2-in-env"}})");
  HttpAnswer answer = fnd.invoke("victim");
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  CHECK(answer.json().at("uid").to_number<int>() == 65534);  // nobody inside, as before
  const pid_t pid = instance_pid(fnd, "victim");
  const std::string environ = "/proc/" + std::to_string(pid) + "/environ";
  REQUIRE(read_file(environ).find("hunter2-in-env") != std::string::npos);  // root can: the probe is right

  // 0: it could read the env; 1: EACCES; else another failure.
  int read_env = as_host_nobody([&] {
    int fd = ::open(environ.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == EACCES ? 1 : 2;
    char buffer[4096];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    int error = errno;
    ::close(fd);
    if (n > 0) return 0;
    return n < 0 && error == EACCES ? 1 : 3;
  });
  CHECK(read_env == 1);
  int trace = as_host_nobody([&] {
    if (::ptrace(PTRACE_ATTACH, pid, nullptr, nullptr) == 0) return 0;  // detached when this process exits
    return errno == EPERM ? 1 : 2;
  });
  CHECK(trace == 1);
  int signal = as_host_nobody([&] {
    if (::kill(pid, 0) == 0) return 0;
    return errno == EPERM ? 1 : 2;
  });
  CHECK(signal == 1);
  // Still alive and well.
  CHECK(fnd.invoke("victim").status == 200);
}

TEST_CASE("two functions run as host uids of their own, outside the host's 0..65535, and code is for them alone",
          "[integration][isolation]") {
  Daemon fnd;
  fnd.deploy("first", {{"main.py", kIdentitySource}}, kPythonSpec);
  fnd.deploy("second", {{"main.py", kIdentitySource}}, kPythonSpec);
  HttpAnswer first = fnd.invoke("first");
  HttpAnswer second = fnd.invoke("second");
  INFO(first.body << "\n" << second.body);
  REQUIRE(first.status == 200);
  REQUIRE(second.status == 200);
  auto [first_uid, first_gid] = host_ids_of(instance_pid(fnd, "first"));
  auto [second_uid, second_gid] = host_ids_of(instance_pid(fnd, "second"));
  CHECK(first_uid >= 65536);
  CHECK(second_uid >= 65536);
  CHECK(first_gid >= 65536);
  CHECK(second_gid >= 65536);
  CHECK(first_uid != second_uid);
  CHECK(first_gid != second_gid);
  // 65536 ids each, and the blocks do not overlap.
  auto map_of = [](const HttpAnswer& answer) {
    const boost::json::value identity = answer.json();
    const auto& fields = identity.at("uid_map").as_array();
    REQUIRE(fields.size() == 3);
    return std::pair<uint64_t, uint64_t>(std::stoull(std::string(fields[1].as_string())),
                                         std::stoull(std::string(fields[2].as_string())));
  };
  auto [first_base, first_size] = map_of(first);
  auto [second_base, second_size] = map_of(second);
  CHECK(first_size == 65536);
  CHECK(second_size == 65536);
  CHECK((first_base + first_size <= second_base || second_base + second_size <= first_base));
  CHECK(first_uid == first_base + 65534);

  // Inside, the code is the function's own (an idmapped mount) and readable by its owner only;
  // on the host it is root's, and not readable by others.
  CHECK(first.json().at("code_uid").to_number<int>() == 65534);
  CHECK(first.json().at("code_mode").to_number<int>() == 0600);
  std::string digest(fnd.describe("first").at("spec").at("code").as_string());
  std::string tree = fnd.state_dir() + "/code/" + digest.substr(digest.find(':') + 1);
  CHECK((mode_of(tree + "/main.py") & 0077) == 0);
  CHECK((mode_of(tree) & 0077) == 0);
  CHECK(mode_of(fnd.state_dir() + "/code") == 0700);
}

TEST_CASE("a function's secrets are files under /run/secrets, and their values are nowhere else", "[integration][isolation]") {
  Daemon fnd;
  create_secret(fnd, "stripe", {{"key", kSecretValue}, {"ca", kCaValue}});
  fnd.deploy("shop", {{"main.py", kSecretsSource}}, R"({"runtime":"python3","handler":"main.handle","secrets":["stripe"]})");
  HttpAnswer answer = fnd.invoke("shop");
  INFO(answer.body << "\nfnd log:\n" << fnd.log());
  CHECK(answer.status == 200);
  CHECK(answer.body == expected_secret_files());
  CHECK(instance_origin(fnd, "shop") == "container");

  // Values reach neither the database nor any other file of the state dir (the log among them),
  // nor describe, list or fnctl.
  for (const char* value : {kSecretValue, "MIIBfake"}) {
    INFO(value);
    CHECK(files_holding(fnd.state_dir(), value).empty());
    CHECK(fnd.log().find(value) == std::string::npos);
    CHECK(fnd.http("GET", "/api/v1/functions/shop").body.find(value) == std::string::npos);
    CHECK(fnd.http("GET", "/api/v1/functions").body.find(value) == std::string::npos);
    CHECK(fnd.http("GET", "/api/v1/secrets").body.find(value) == std::string::npos);
    CommandResult described = fnd.run_fnctl({"describe", "shop"});
    CHECK(described.exit_code == 0);
    CHECK(described.out.find(value) == std::string::npos);
  }
  // The host keeps no mount of them once the container has its own.
  CHECK(read_file("/proc/self/mountinfo").find(fnd.state_dir() + "/instances/") == std::string::npos);
}

TEST_CASE("secrets reach instances started from a stem cell and from a container created ahead", "[integration][isolation]") {
  DaemonOptions options;
  options.warm_pools = true;
  options.config_yaml = "scheduler:\n  stem_cells: {python3: 1, shell: 0, node: 0}\n";
  Daemon fnd(options);
  create_secret(fnd, "stripe", {{"key", kSecretValue}, {"ca", kCaValue}});
  auto metric_is = [&](const std::string& line) {
    return wait_until([&] { return fnd.http("GET", "/metrics").body.find(line) != std::string::npos; }, 20s, 50ms);
  };

  // A stem cell, started before the function existed, gets the secrets with the code.
  REQUIRE(metric_is("fnd_stem_cells_ready{runtime=\"python3\"} 1"));
  fnd.deploy("cell", {{"main.py", kSecretsSource}}, R"({"runtime":"python3","handler":"main.handle","secrets":["stripe"]})");
  HttpAnswer from_cell = fnd.invoke("cell");
  INFO(from_cell.body << "\nfnd log:\n" << fnd.log());
  CHECK(from_cell.status == 200);
  CHECK(from_cell.body == expected_secret_files());
  CHECK(instance_origin(fnd, "cell") == "stem cell");

  // Env the interpreter reads at start keeps a function off stem cells: a container is created
  // ahead for it, secrets mounted, and started on the first request.
  fnd.deploy("ahead", {{"main.py", kSecretsSource}},
             R"({"runtime":"python3","handler":"main.handle","env":{"PYTHONHASHSEED":"1"},"secrets":["stripe"]})");
  REQUIRE(metric_is("fnd_precreated_containers 1"));
  HttpAnswer from_precreated = fnd.invoke("ahead");
  INFO(from_precreated.body);
  CHECK(from_precreated.status == 200);
  CHECK(from_precreated.body == expected_secret_files());
  CHECK(instance_origin(fnd, "ahead") == "pre-created");

  for (const char* value : {kSecretValue, "MIIBfake"}) {
    INFO(value);
    CHECK(files_holding(fnd.state_dir(), value).empty());
    CHECK(fnd.log().find(value) == std::string::npos);
  }
}

TEST_CASE("an instance whose secret is gone does not start, and the error names the secret", "[integration][isolation]") {
  Daemon fnd;
  create_secret(fnd, "db-password", {{"password", "s3cret-pw"}});
  fnd.deploy("needs", {{"main.py", kSecretsSource}}, R"({"runtime":"python3","handler":"main.handle","secrets":["db-password"]})");
  REQUIRE(fnd.invoke("needs").status == 200);
  REQUIRE(fnd.http("DELETE", "/api/v1/secrets/db-password").status == 200);  // rolls the function
  HttpAnswer answer;
  REQUIRE(wait_until([&] {
    answer = fnd.invoke("needs");
    return answer.status != 200;
  }, 20s, 100ms));
  INFO(answer.body);
  CHECK(answer.status == 502);
  CHECK(answer.error_code() == "secret_unavailable");
  CHECK_THAT(answer.error_message(), Catch::Contains("'db-password'") && Catch::Contains("needs") &&
                                         Catch::Contains("fnctl secret create"));
}

TEST_CASE("the state dir is root's alone: 0700, the databases and the secrets key 0600", "[integration][isolation]") {
  Daemon fnd;
  create_secret(fnd, "k", {{"v", "x"}});
  fnd.deploy("hello", {{"main.py", "def handle(req):\n    return 'hi'\n"}}, kPythonSpec);
  REQUIRE(fnd.invoke("hello").status == 200);
  CHECK(mode_of(fnd.state_dir()) == 0700);
  CHECK(mode_of(fnd.state_dir() + "/fnd.db") == 0600);
  CHECK(mode_of(fnd.state_dir() + "/secrets.key") == 0600);
  CHECK(mode_of(fnd.state_dir() + "/instances") == 0700);  // bundles: each instance's env
  CHECK(mode_of(fnd.state_dir() + "/code") == 0700);
  for (const char* file : {"/fnd.db-wal", "/fnd.db-shm", "/state.db", "/state.db-wal"}) {
    if (fs::exists(fnd.state_dir() + file)) CHECK((mode_of(fnd.state_dir() + file) & 0077) == 0);
  }
  // Not even a host user who could reach the files could open them.
  std::string db = fnd.state_dir() + "/fnd.db";
  CHECK(as_host_nobody([&] { return ::open(db.c_str(), O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES ? 1 : 0; }) == 1);
  std::string listing = fnd.state_dir();
  CHECK(as_host_nobody([&] { return ::opendir(listing.c_str()) == nullptr && errno == EACCES ? 1 : 0; }) == 1);
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
