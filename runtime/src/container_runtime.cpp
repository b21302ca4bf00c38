#include "runtime/container_runtime.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <random>
#include <sstream>

#include "core/units.hpp"
#include "bundle.hpp"
#include "cgroups.hpp"
#include "code_mount.hpp"
#include "netns.hpp"
#include "process.hpp"

namespace fnd::runtime {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using internal::UniqueFd;

namespace {

constexpr size_t kStderrHeadLines = 20;
constexpr size_t kStderrHeadBytes = 4096;
constexpr size_t kMaxLogLine = 16 * 1024;
constexpr std::string_view kGenericHostHint =
    "check that the host supports containers (cgroups, namespaces) and that fnd runs as root";
constexpr std::string_view kHybridCgroupHint =
    "this host mounts cgroups in hybrid mode, which crun 1.8 refuses; mount a v1 hugetlb hierarchy "
    "(mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb; "
    "scripts/setup.sh does this) or set runtime.oci_runtime: runc";
constexpr std::string_view kNotRootMessage =
    "fnd must run as root to create containers, network namespaces and cgroups (run it with sudo or as the systemd service)";

std::string read_file_tail(const fs::path& path, size_t max_bytes) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  path += ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string random_hex(size_t digits) {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  return fmt::format("{:016x}", generator()).substr(0, digits);
}

Error host_error(std::string message) { return make_error("runtime_unavailable", std::move(message), 500); }

}  // namespace

ContainerRuntime::ContainerRuntime(asio::any_io_executor executor, RuntimeOptions options, store::CodeStore& code,
                                   LogStore& logs)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      code_(code),
      logs_(logs),
      oci_root_(options_.state_dir + "/oci"),
      rootfs_(options_.state_dir + "/rootfs"),
      children_(std::make_unique<internal::ChildTracker>()) {
  fs::create_directories(oci_root_);
  // Several daemons (tests, or one per state dir) may share the host's cgroup tree: each sweeps
  // only cgroups carrying the tag of its own state dir, which survives restarts.
  std::error_code ec;
  auto canonical = fs::weakly_canonical(options_.state_dir, ec);
  cgroup_prefix_ = store::sha256_digest(canonical.string()).substr(7, 8) + "-";
  asio::co_spawn(executor_, reap_orphans(), asio::detached);
  fs::create_directories(options_.state_dir + "/instances");
}

ContainerRuntime::~ContainerRuntime() = default;

std::vector<std::string> ContainerRuntime::oci_command(std::initializer_list<std::string> args) const {
  std::vector<std::string> argv{oci_path_, "--root", oci_root_};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string ContainerRuntime::bundle_dir(const std::string& id) const {
  return options_.state_dir + "/instances/" + id;
}

asio::awaitable<Status> ContainerRuntime::check() {
  oci_path_ = find_executable(options_.oci_runtime);
  if (oci_path_.empty()) {
    co_return host_error(fmt::format("OCI runtime '{}' not found: install it (apt-get install crun) or set "
                                     "runtime.oci_runtime to crun, runc or a path", options_.oci_runtime));
  }
  if (geteuid() != 0) {
    co_return host_error(std::string(kNotRootMessage));
  }
  {
    auto version_argv = std::vector<std::string>{oci_path_, "--version"};
    auto version = co_await internal::run_to_completion(std::move(version_argv), *children_);
    crun_ = version && version->output.starts_with("crun");
  }
  if (Status st = internal::prepare_rootfs_template(rootfs_); !st) co_return st;
  if (access(options_.python.c_str(), X_OK) != 0) {
    co_return host_error(fmt::format("runtime.python '{}' is not an executable: install python3 (apt-get install python3) "
                                     "or point runtime.python at the interpreter under /usr", options_.python));
  }
  if (!fs::exists(options_.runtimes_dir + "/bootstrap.py")) {
    co_return host_error(fmt::format("runtime bootstrap files not found in '{}': set runtime.runtimes_dir to the folder "
                                     "holding bootstrap.py (installed under share/fnd/runtimes)", options_.runtimes_dir));
  }

  // Run a trivial container exactly as instances run: the surest check of the host.
  std::string id = fmt::format("fnd-check-{}", getpid());
  auto netns = internal::NetworkNamespace::create();
  if (!netns) co_return host_error(fmt::format("cannot create a network namespace: {}", netns.error().message));
  internal::ContainerConfig config;
  config.hostname = id;
  config.args = {"/usr/bin/true"};
  config.env = {"PATH=/usr/bin:/bin"};
  config.rootfs = rootfs_;
  config.code_dir = options_.runtimes_dir;
  config.runtimes_dir = options_.runtimes_dir;
  config.netns_path = netns->path();
  config.cgroups_path = fmt::format("/{}/{}", internal::kCgroupParent, cgroup_name(id));
  if (Status st = internal::write_bundle(bundle_dir(id), internal::build_oci_config(config)); !st) co_return st;
  // argv is built before co_await: GCC 12 cannot keep an initializer_list alive across a suspension.
  auto argv = oci_command({"run", "--bundle", bundle_dir(id), id});
  auto run = co_await internal::run_to_completion(std::move(argv), *children_);
  co_await delete_container(id);
  fs::remove_all(bundle_dir(id));
  if (!run) co_return host_error(fmt::format("cannot run {}: {}", oci_path_, run.error().message));
  if (run->status.signaled || run->status.code != 0) {
    std::string output = run->output;
    while (!output.empty() && output.back() == '\n') output.pop_back();
    if (output.empty()) output = "it printed nothing";
    std::string hint(kGenericHostHint);
    if (output.find("cgroups in hybrid mode not supported") != std::string::npos) {
      hint = kHybridCgroupHint;
    }
    co_return host_error(fmt::format("the OCI runtime {} cannot run containers here ({}): {}. Fix: {}", oci_path_,
                                     run->status.describe(), output, hint));
  }
  co_return Status{};
}

asio::awaitable<void> ContainerRuntime::delete_container(const std::string& id) {
  auto argv = oci_command({"delete", "--force", id});
  auto result = co_await internal::run_to_completion(std::move(argv), *children_);
  if (result && result->status.code != 0 && !result->output.empty() &&
      result->output.find("not exist") == std::string::npos) {
    spdlog::warn("deleting container {}: {}", id, result->output);
  }
}

asio::awaitable<void> ContainerRuntime::reap_orphans() {
  asio::signal_set sigchld(executor_, SIGCHLD);
  while (true) {
    auto [ec, signal] = co_await sigchld.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    children_->reap_untracked();
  }
}

asio::awaitable<int> ContainerRuntime::sweep_previous_run() {
  int removed = 0;
  auto argv = oci_command({"list", "-q"});
  auto listing = co_await internal::run_to_completion(std::move(argv), *children_);
  if (listing && listing->status.code == 0) {
    std::stringstream ids(listing->output);
    std::string id;
    while (std::getline(ids, id)) {
      if (id.empty()) continue;
      co_await delete_container(id);
      ++removed;
    }
  }
  int cgroups = internal::sweep_cgroups(cgroup_prefix_);
  // Stem cells' code mounts, before their dirs go: removing files through them would delete code.
  internal::unmount_tree(options_.state_dir + "/instances");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.state_dir + "/instances", ec)) {
    fs::remove_all(entry.path(), ec);
  }
  if (removed > 0 || cgroups > 0) {
    spdlog::info("removed {} containers and {} cgroups left by a previous run", removed, cgroups);
  }
  co_return removed;
}

Result<std::vector<std::string>> ContainerRuntime::process_args(config::RuntimeKind kind, const std::string& handler,
                                                                bool stem_cell, const std::string& function) const {
  std::string bootstrap_py = std::string(internal::kBootstrapMount) + "/bootstrap.py";
  std::vector<std::string> args;
  switch (kind) {
    case config::RuntimeKind::python3:
    case config::RuntimeKind::shell:
      args = {options_.python, "-B", "-s", bootstrap_py};
      if (stem_cell) args.push_back("--stem");
      args.push_back(kind == config::RuntimeKind::python3 ? "python3" : "shell");
      return args;
    case config::RuntimeKind::node:
      if (access(options_.node.c_str(), X_OK) != 0) {
        return make_error("runtime_unavailable", fmt::format("function '{}' uses the node runtime but {} is not installed "
                                                             "on this host: apt-get install nodejs, or set runtime.node",
                                                             function, options_.node), 502);
      }
      args = {options_.node, std::string(internal::kBootstrapMount) + "/bootstrap.js"};
      if (stem_cell) args.push_back("--stem");
      return args;
    case config::RuntimeKind::binary: {
      auto path = fs::path(handler).lexically_normal();
      if (stem_cell || path.is_absolute() || path.empty() || *path.begin() == "..") {
        return make_error("invalid_spec", fmt::format("spec field 'handler': '{}' must be a path inside the code, such as ./server", handler), 422);
      }
      return std::vector<std::string>{(fs::path(internal::kCodeMount) / path).string()};
    }
  }
  return make_error("invalid_spec", "unknown runtime", 422);
}

static std::vector<std::string> base_environment(uint16_t port) {
  return {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8", fmt::format("PORT={}", port)};
}

Result<std::shared_ptr<Instance>> ContainerRuntime::prepare(const store::Revision& revision) {
  const config::FunctionSpec& spec = revision.spec;
  if (!code_.contains(spec.code)) {
    return make_error("code_missing", fmt::format("code {} of function '{}' is not in the code store; deploy it again",
                                                  spec.code, revision.function), 500);
  }
  auto args = process_args(spec.runtime, spec.handler, false, revision.function);
  if (!args) return args.error();
  auto netns = internal::NetworkNamespace::create();
  if (!netns) return netns.error();
  std::string id = fmt::format("{}-{}-{}", revision.function, revision.number, random_hex(6));
  auto instance = std::make_shared<Instance>(id, revision.function, revision.number, spec.resources.memory_bytes,
                                             std::make_unique<internal::NetworkNamespace>(std::move(*netns)), options_.port);

  internal::ContainerConfig config;
  config.hostname = revision.function;
  config.args = std::move(*args);
  for (const auto& [k, v] : spec.env) config.env.push_back(k + "=" + v);
  for (auto& e : base_environment(options_.port)) config.env.push_back(std::move(e));
  config.env.push_back("FN_NAME=" + revision.function);
  config.env.push_back(fmt::format("FN_REVISION={}", revision.number));
  config.env.push_back("FN_HANDLER=" + spec.handler);
  config.rootfs = rootfs_;
  config.code_dir = code_.directory(spec.code);
  config.runtimes_dir = options_.runtimes_dir;
  config.netns_path = instance->netns_->path();
  config.cgroups_path = fmt::format("/{}/{}", internal::kCgroupParent, cgroup_name(id));
  config.resources = spec.resources;
  if (Status st = internal::write_bundle(bundle_dir(id), internal::build_oci_config(config)); !st) return st.error();
  return instance;
}

asio::awaitable<Result<std::shared_ptr<Instance>>> ContainerRuntime::start(const store::Revision& revision) {
  auto prepared = prepare(revision);
  if (!prepared) co_return prepared.error();
  auto instance = std::move(*prepared);
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  if (Status launched = co_await launch(instance, -1, false); !launched) co_return launched.error();
  if (Status ready = co_await become_ready(instance, deadline, ""); !ready) co_return ready.error();
  co_return instance;
}

asio::awaitable<Result<std::shared_ptr<Instance>>> ContainerRuntime::create(const store::Revision& revision) {
  auto prepared = prepare(revision);
  if (!prepared) co_return prepared.error();
  auto instance = std::move(*prepared);
  instance->origin_ = InstanceOrigin::precreated;
  instance->created_only_ = true;
  if (Status launched = co_await launch(instance, -1, true); !launched) co_return launched.error();
  co_return instance;
}

asio::awaitable<Status> ContainerRuntime::start_created(const std::shared_ptr<Instance>& instance) {
  auto unusable = [&](std::string_view why) {
    return make_error("precreated_unusable", fmt::format("pre-created container {} cannot start: {}", instance->id(), why), 500);
  };
  if (!instance->created_only_) co_return unusable("it was started already");
  if (instance->exit_) co_return unusable("it has ended");
  instance->created_only_ = false;
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  if (crun_) {
    // What `crun start` does, without paying ~5 ms for crun's own start: the container's init
    // blocks reading exec.fifo; one byte lets it exec the function. O_NONBLOCK: when the init
    // is gone, open fails (ENXIO) instead of waiting forever for a reader.
    std::string fifo = fmt::format("{}/{}/exec.fifo", oci_root_, instance->id());
    UniqueFd fd(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) co_return unusable(fmt::format("cannot open {}: {}", fifo, std::strerror(errno)));
    ::unlink(fifo.c_str());  // crun reports the container running once the fifo is gone
    if (::write(fd.get(), "", 1) != 1) co_return unusable(fmt::format("cannot signal {}: {}", fifo, std::strerror(errno)));
  } else {
    auto argv = oci_command({"start", instance->id()});
    auto started = co_await internal::run_to_completion(std::move(argv), *children_);
    if (!started || started->status.signaled || started->status.code != 0) {
      co_return unusable(started ? started->output : started.error().message);
    }
  }
  co_return co_await become_ready(instance, deadline, " from a pre-created container");
}

asio::awaitable<Status> ContainerRuntime::become_ready(const std::shared_ptr<Instance>& instance,
                                                       std::chrono::steady_clock::time_point deadline, const char* how) {
  if (Status ready = co_await wait_until_ready(instance, deadline); !ready) {
    co_await stop(instance, true);
    co_return ready;
  }
  instance->state_ = InstanceState::ready;
  logs_.append(instance->function(), instance->id(), LogStream::system,
               fmt::format("instance started{} (pid {})", how, instance->pid_));
  co_return Status{};
}

asio::awaitable<Result<std::shared_ptr<Instance>>> ContainerRuntime::start_stem_cell(config::RuntimeKind kind,
                                                                                    const config::ResourceLimits& limits) {
  auto args = process_args(kind, "", true, "(stem cell)");
  if (!args) co_return args.error();
  auto netns = internal::NetworkNamespace::create();
  if (!netns) co_return netns.error();
  std::string id = fmt::format("cell-{}-{}", config::to_string(kind), random_hex(8));
  auto instance = std::make_shared<Instance>(id, "", 0, limits.memory_bytes,
                                             std::make_unique<internal::NetworkNamespace>(std::move(*netns)), options_.port);
  instance->origin_ = InstanceOrigin::stem_cell;

  std::string bundle = bundle_dir(id);
  std::string code_point = bundle + "/function";
  std::error_code ec;
  fs::create_directories(code_point, ec);
  if (ec) co_return host_error(fmt::format("cannot create {}: {}", code_point, ec.message()));
  if (Status st = internal::make_shared_mount_point(code_point); !st) {
    fs::remove_all(bundle, ec);
    co_return st.error();
  }
  internal::ContainerConfig config;
  config.hostname = "fnd-cell";
  config.args = std::move(*args);
  config.env = base_environment(options_.port);
  config.rootfs = rootfs_;
  config.code_dir = code_point;
  config.runtimes_dir = options_.runtimes_dir;
  config.netns_path = instance->netns_->path();
  config.cgroups_path = fmt::format("/{}/{}", internal::kCgroupParent, cgroup_name(id));
  config.resources = limits;
  config.stem_cell = true;
  if (Status st = internal::write_bundle(bundle, internal::build_oci_config(config)); !st) {
    remove_bundle(*instance);
    co_return st.error();
  }

  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    remove_bundle(*instance);
    co_return make_errno_error("socketpair_failed", "socketpair", errno);
  }
  instance->control_fd_ = ends[0];
  UniqueFd cell_end(ends[1]);
  // The order message carries the function's env: let it be as large as a spec allows.
  int buffer = 1 << 20;
  ::setsockopt(ends[0], SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof buffer);

  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  Status launched = co_await launch(instance, cell_end.get(), false);
  cell_end = UniqueFd();  // only the container holds it now: its end closing means the cell died
  if (!launched) co_return launched.error();
  auto hello = co_await read_control(instance, deadline);
  if (!hello || *hello != "ready") {
    Error failure = start_failure(*instance, "its bootstrap did not report ready within runtime.start_timeout");
    if (hello) {
      // It closed the control socket: it is exiting, and its exit and stderr say why.
      co_await instance->wait_for_exit(std::chrono::seconds(1));
      Status exited = co_await wait_until_ready(instance, std::chrono::steady_clock::now());
      failure = exited ? start_failure(*instance, "its bootstrap closed its control socket") : exited.error();
    }
    co_await stop(instance, true);
    co_return failure;
  }
  instance->state_ = InstanceState::ready;
  spdlog::debug("stem cell {} ready (pid {})", id, instance->pid_);
  co_return instance;
}

asio::awaitable<Status> ContainerRuntime::specialize(const std::shared_ptr<Instance>& cell, const store::Revision& revision) {
  const config::FunctionSpec& spec = revision.spec;
  auto unusable = [&](std::string_view why) {
    return make_error("stem_cell_unusable", fmt::format("stem cell {} cannot take function '{}': {}", cell->id(),
                                                        revision.function, why), 500);
  };
  if (cell->origin_ != InstanceOrigin::stem_cell || !cell->function_.empty()) co_return unusable("a function has taken it already");
  if (cell->exit_ || cell->state_ != InstanceState::ready) co_return unusable("it is not running");
  if (!code_.contains(spec.code)) {
    co_return make_error("code_missing", fmt::format("code {} of function '{}' is not in the code store; deploy it again",
                                                     spec.code, revision.function), 500);
  }
  if (Status st = internal::bind_read_only(code_.directory(spec.code), bundle_dir(cell->id()) + "/function"); !st) {
    co_return unusable(st.error().message);
  }
  if (Status st = internal::set_limits(cgroup_name(cell->id()), spec.resources); !st) co_return unusable(st.error().message);

  json::object env;
  for (const auto& [k, v] : spec.env) env[k] = v;
  env["FN_NAME"] = revision.function;
  env["FN_REVISION"] = std::to_string(revision.number);
  env["FN_HANDLER"] = spec.handler;
  std::string order = json::serialize(json::object{{"handler", spec.handler}, {"env", std::move(env)}});
  // From here on what the bootstrap logs is the function's.
  cell->function_ = revision.function;
  cell->revision_ = revision.number;
  cell->memory_limit_ = spec.resources.memory_bytes;
  cell->state_ = InstanceState::starting;
  if (::send(cell->control_fd_, order.data(), order.size(), MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(order.size())) {
    co_return unusable(fmt::format("cannot send it the function: {}", std::strerror(errno)));
  }

  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  auto answer = co_await read_control(cell, deadline);
  if (!answer) {
    co_await stop(cell, true);
    co_return start_failure(*cell, fmt::format("it did not load its handler within {} (runtime.start_timeout)",
                                               format_duration(options_.start_timeout)));
  }
  if (*answer != "ok") {
    // The bootstrap closed the socket: it could not load the handler and is exiting.
    co_await cell->wait_for_exit(std::chrono::seconds(2));
  }
  co_return co_await become_ready(cell, deadline, " from a stem cell");
}

bool ContainerRuntime::stem_cell_can_serve(const config::FunctionSpec& spec) {
  if (spec.runtime == config::RuntimeKind::binary) return false;
  constexpr std::string_view kReadAtStartup[] = {"PYTHON", "NODE_", "UV_", "LD_", "GLIBC_TUNABLES", "MALLOC_", "LANG",
                                                  "LC_", "TZ"};
  for (const auto& [name, value] : spec.env) {
    for (auto prefix : kReadAtStartup) {
      if (std::string_view(name).starts_with(prefix)) return false;
    }
  }
  return true;
}

asio::awaitable<Result<std::string>> ContainerRuntime::read_control(const std::shared_ptr<Instance>& instance,
                                                                    std::chrono::steady_clock::time_point deadline) {
  // Shared with the timer's handler: when the read and the deadline finish together, the handler
  // may run after this coroutine has returned.
  struct Watch {
    asio::posix::stream_descriptor control;
    bool timed_out = false;
  };
  auto watch = std::make_shared<Watch>(Watch{asio::posix::stream_descriptor(executor_, ::fcntl(instance->control_fd_, F_DUPFD_CLOEXEC, 0))});
  asio::steady_timer timer(executor_, deadline);
  timer.async_wait([watch](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the read finished first
    watch->timed_out = true;
    watch->control.cancel();
  });
  std::array<char, 256> message;
  auto [ec, n] = co_await watch->control.async_read_some(asio::buffer(message), asio::as_tuple(asio::use_awaitable));
  timer.cancel();
  if (watch->timed_out) co_return make_error("stem_cell_timeout", "no answer on the control socket", 504);
  if (ec) co_return std::string();
  co_return std::string(message.data(), n);
}

asio::awaitable<Status> ContainerRuntime::launch(const std::shared_ptr<Instance>& instance, int control_fd, bool create_only) {
  const std::string& id = instance->id();
  std::string bundle = bundle_dir(id);
  auto out = internal::make_pipe();
  auto err = internal::make_pipe();
  if (!out || !err) {
    remove_bundle(*instance);
    co_return (out ? err.error() : out.error());
  }
  std::string pid_file = bundle + "/pid";
  std::vector<std::string> argv = oci_command({"--log", bundle + "/oci.log"});
  if (create_only) {
    argv.push_back("create");
  } else {
    argv.push_back("run");
    argv.push_back("--detach");
  }
  for (const std::string& arg : {std::string("--bundle"), bundle, std::string("--pid-file"), pid_file}) argv.push_back(arg);
  if (control_fd >= 0) {
    argv.push_back("--preserve-fds");
    argv.push_back("1");
  }
  argv.push_back(id);
  auto crun = internal::spawn(argv, out->write_end.get(), err->write_end.get(), control_fd);
  out->write_end = UniqueFd();
  err->write_end = UniqueFd();
  if (!crun) {
    remove_bundle(*instance);
    co_return crun.error();
  }
  children_->track(crun->pid);
  live_[id] = instance;
  asio::co_spawn(executor_, read_output(instance, out->read_end.release(), LogStream::stdout_stream), asio::detached);
  asio::co_spawn(executor_, read_output(instance, err->read_end.release(), LogStream::stderr_stream), asio::detached);

  internal::ExitStatus crun_status = co_await internal::wait_for_exit(crun->pidfd);
  children_->untrack(crun->pid);
  int pid = 0;
  std::ifstream(pid_file) >> pid;
  if (crun_status.signaled || crun_status.code != 0 || pid <= 0) {
    co_await instance->output_closed_.wait_until(std::chrono::steady_clock::now() + 200ms);
    std::string oci_log = read_file_tail(bundle + "/oci.log", 2048);
    Error e = start_failure(*instance, fmt::format("{} could not start its container ({}): {}", fs::path(oci_path_).filename().string(),
                                                   crun_status.describe(), oci_log.empty() ? "no details" : oci_log));
    instance->state_ = InstanceState::stopped;
    instance->exit_ = InstanceExit{crun_status.code, crun_status.signal, crun_status.signaled, false, false};
    co_await delete_container(id);
    remove_bundle(*instance);
    live_.erase(id);
    instance->cleaned_up_ = true;
    co_return e;
  }
  instance->pid_ = pid;
  children_->track(pid);
  instance->pidfd_ = internal::pidfd_open(pid);
  if (instance->pidfd_ < 0) {
    // Already gone and reaped: treat as an exit we cannot describe.
    Error e = start_failure(*instance, "its process ended before fnd could watch it");
    co_await delete_container(id);
    remove_bundle(*instance);
    live_.erase(id);
    co_return e;
  }
  asio::co_spawn(executor_, watch_exit(instance), asio::detached);
  co_return Status{};
}

void ContainerRuntime::remove_bundle(const Instance& instance) {
  std::string bundle = bundle_dir(instance.id());
  // A stem cell's bundle holds mounts (its code): removing files through them would delete code.
  if (instance.origin_ == InstanceOrigin::stem_cell) internal::unmount_tree(bundle);
  std::error_code ec;
  fs::remove_all(bundle, ec);
  if (ec) spdlog::warn("cannot remove {}: {}", bundle, ec.message());
}

asio::awaitable<Status> ContainerRuntime::wait_until_ready(const std::shared_ptr<Instance>& instance,
                                                           std::chrono::steady_clock::time_point deadline) {
  asio::steady_timer timer(executor_);
  // Warm-pool starts and small binaries listen within ~2 ms: poll finely at first, then back
  // off. Each attempt costs two setns and a socket on the io thread, and on a small host the
  // function competes with us for the CPU: polling finely for long slows plain starts down.
  const auto fine_until = std::chrono::steady_clock::now() + 5ms;
  std::chrono::microseconds delay = 500us;
  while (true) {
    if (instance->exit_) {
      co_await instance->output_closed_.wait_until(std::chrono::steady_clock::now() + 300ms);
      if (instance->exit_->out_of_memory) {
        co_return start_failure(*instance, fmt::format("it ran out of memory while starting (limit {}): raise "
                                                       "resources.memory", format_bytes(instance->memory_limit())));
      }
      co_return start_failure(*instance, fmt::format("its process {} before accepting connections on $PORT",
                                                     instance->exit_->describe()));
    }
    auto socket = co_await instance->connect();
    if (socket) {
      instance->idle_connections_.push_back(std::move(*socket));
      co_return Status{};
    }
    if (!socket.error().retryable) co_return socket.error();
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return start_failure(*instance, fmt::format("it did not accept connections on $PORT ({}) within {} "
                                                     "(runtime.start_timeout)", options_.port,
                                                     format_duration(options_.start_timeout)));
    }
    if (std::chrono::steady_clock::now() < fine_until) {
      timer.expires_after(200us);
    } else {
      timer.expires_after(delay);
      delay = std::min<std::chrono::microseconds>(delay * 2, 5ms);
    }
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

Error ContainerRuntime::start_failure(const Instance& instance, std::string_view what) const {
  std::string head = instance.stderr_head();
  while (!head.empty() && head.back() == '\n') head.pop_back();
  std::string message = fmt::format("function '{}' failed to start: {}", instance.function(), what);
  if (!head.empty()) message += fmt::format(". First lines of its stderr:\n{}", head);
  else message += " (it wrote nothing to stderr)";
  return make_error("function_start_failed", std::move(message), 502);
}

asio::awaitable<void> ContainerRuntime::read_output(std::shared_ptr<Instance> instance, int fd, LogStream stream) {
  asio::readable_pipe pipe(executor_, fd);
  std::string pending;
  std::array<char, 8192> buffer;
  auto emit = [&instance, stream, this](std::string line) {
    if (stream == LogStream::stderr_stream && instance->stderr_head_.size() < kStderrHeadBytes &&
        static_cast<size_t>(std::count(instance->stderr_head_.begin(), instance->stderr_head_.end(), '\n')) < kStderrHeadLines) {
      instance->stderr_head_ += line.substr(0, kStderrHeadBytes - instance->stderr_head_.size()) + "\n";
    }
    // A stem cell that no function has taken yet speaks only for the runtime's bootstrap.
    if (instance->function().empty()) spdlog::warn("stem cell {}: {}", instance->id(), line);
    else logs_.append(instance->function(), instance->id(), stream, std::move(line));
  };
  while (true) {
    auto [ec, n] = co_await pipe.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
    pending.append(buffer.data(), n);
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      emit(pending.substr(start, nl - start));
    }
    pending.erase(0, start);
    if (pending.size() > kMaxLogLine) emit(std::exchange(pending, {}));
    if (ec) break;
  }
  if (!pending.empty()) emit(std::move(pending));
  --instance->open_output_streams_;
  instance->output_closed_.notify_all();
}

asio::awaitable<void> ContainerRuntime::watch_exit(std::shared_ptr<Instance> instance) {
  UniqueFd pidfd(::fcntl(instance->pidfd_, F_DUPFD_CLOEXEC, 0));
  internal::ExitStatus status = co_await internal::wait_for_exit(pidfd);
  children_->untrack(instance->pid_);
  InstanceExit exit{status.code, status.signal, status.signaled, false, instance->stop_requested_, status.known};
  // The OOM killer's verdict must be read before the container (and its cgroup) is deleted.
  exit.out_of_memory = internal::oom_kill_count(cgroup_name(instance->id())) > 0;
  instance->exit_ = exit;
  instance->state_ = InstanceState::stopped;
  instance->idle_connections_.clear();
  instance->exited_.notify_all();
  std::string what = exit.out_of_memory ? fmt::format("was killed for running out of memory (limit {})", format_bytes(instance->memory_limit()))
                     : exit.requested   ? std::string("stopped")
                                        : exit.describe();
  if (instance->function().empty()) spdlog::info("stem cell {} {}", instance->id(), what);
  else logs_.append(instance->function(), instance->id(), LogStream::system, "instance " + what);
  if (exit_listener_) exit_listener_(instance);
  co_await delete_container(instance->id());
  remove_bundle(*instance);
  instance->netns_.reset();
  live_.erase(instance->id());
  instance->cleaned_up_ = true;
  instance->cleanup_done_.notify_all();
}

asio::awaitable<void> ContainerRuntime::stop(std::shared_ptr<Instance> instance, bool kill) {
  if (!instance->exit_ && instance->pidfd_ >= 0) {
    spdlog::debug("stopping instance {}{}", instance->id(), kill ? " (SIGKILL)" : "");
    instance->stop_requested_ = true;
    instance->state_ = InstanceState::stopping;
    instance->idle_connections_.clear();
    if (!kill) {
      internal::pidfd_send_signal(instance->pidfd_, SIGTERM);
      co_await instance->wait_for_exit(options_.stop_timeout);
    }
    // Past the grace, nothing the function does can hold the stop: every process in its cgroup
    // is killed (children, a process ignoring SIGTERM, a stopped or traced one).
    internal::kill_cgroup(cgroup_name(instance->id()));
    internal::pidfd_send_signal(instance->pidfd_, SIGKILL);
    if (!co_await instance->wait_for_exit(2s)) {
      spdlog::warn("instance {} did not end 2 s after it was killed; deleting its container anyway", instance->id());
      co_await delete_container(instance->id());
      co_await instance->wait_for_exit(2s);
    }
  }
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!instance->cleaned_up_ && std::chrono::steady_clock::now() < deadline) {
    co_await instance->cleanup_done_.wait_until(deadline);
  }
}

asio::awaitable<void> ContainerRuntime::stop_all() {
  std::vector<std::shared_ptr<Instance>> instances;
  for (const auto& [id, instance] : live_) instances.push_back(instance);
  auto remaining = std::make_shared<size_t>(instances.size());
  auto done = std::make_shared<Notifier>();
  for (auto& instance : instances) {
    asio::co_spawn(executor_, [this, instance, remaining, done]() -> asio::awaitable<void> {
      co_await stop(instance);
      if (--*remaining == 0) done->notify_all();
    }, asio::detached);
  }
  auto deadline = std::chrono::steady_clock::now() + options_.stop_timeout + 15s;
  while (*remaining > 0 && std::chrono::steady_clock::now() < deadline) co_await done->wait_until(deadline);
}

}  // namespace fnd::runtime
