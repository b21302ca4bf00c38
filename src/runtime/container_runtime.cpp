#include "runtime/container_runtime.hpp"

#include <signal.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <random>
#include <sstream>

#include "core/units.hpp"
#include "runtime/internal/bundle.hpp"
#include "runtime/internal/cgroups.hpp"
#include "runtime/internal/netns.hpp"
#include "runtime/internal/process.hpp"

namespace fnd::runtime {

namespace asio = boost::asio;
namespace fs = std::filesystem;
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
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.state_dir + "/instances", ec)) {
    fs::remove_all(entry.path(), ec);
  }
  if (removed > 0 || cgroups > 0) {
    spdlog::info("removed {} containers and {} cgroups left by a previous run", removed, cgroups);
  }
  co_return removed;
}

asio::awaitable<Result<std::shared_ptr<Instance>>> ContainerRuntime::start(const store::Revision& revision) {
  const config::FunctionSpec& spec = revision.spec;
  if (!code_.contains(spec.code)) {
    co_return make_error("code_missing", fmt::format("code {} of function '{}' is not in the code store; deploy it again",
                                                     spec.code, revision.function), 500);
  }
  auto netns = internal::NetworkNamespace::create();
  if (!netns) co_return netns.error();
  std::string id = fmt::format("{}-{}-{}", revision.function, revision.number, random_hex(6));
  auto instance = std::make_shared<Instance>(id, revision.function, revision.number, spec.resources.memory_bytes,
                                             std::make_unique<internal::NetworkNamespace>(std::move(*netns)), options_.port);

  internal::ContainerConfig config;
  config.hostname = revision.function;
  std::string bootstrap = std::string(internal::kBootstrapMount) + "/bootstrap.py";
  switch (spec.runtime) {
    case config::RuntimeKind::python3: config.args = {options_.python, "-B", "-s", bootstrap, "python3"}; break;
    case config::RuntimeKind::shell: config.args = {options_.python, "-B", "-s", bootstrap, "shell"}; break;
    case config::RuntimeKind::node:
      if (access(options_.node.c_str(), X_OK) != 0) {
        co_return make_error("runtime_unavailable", fmt::format("function '{}' uses the node runtime but {} is not installed "
                                                                "on this host: apt-get install nodejs, or set runtime.node",
                                                                revision.function, options_.node), 502);
      }
      config.args = {options_.node, std::string(internal::kBootstrapMount) + "/bootstrap.js"};
      break;
    case config::RuntimeKind::binary: {
      auto path = fs::path(spec.handler).lexically_normal();
      if (path.is_absolute() || path.empty() || *path.begin() == "..") {
        co_return make_error("invalid_spec", fmt::format("spec field 'handler': '{}' must be a path inside the code, such as ./server", spec.handler), 422);
      }
      config.args = {(fs::path(internal::kCodeMount) / path).string()};
      break;
    }
  }
  for (const auto& [k, v] : spec.env) config.env.push_back(k + "=" + v);
  config.env.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
  config.env.push_back("HOME=/tmp");
  config.env.push_back("LANG=C.UTF-8");
  config.env.push_back(fmt::format("PORT={}", options_.port));
  config.env.push_back("FN_NAME=" + revision.function);
  config.env.push_back(fmt::format("FN_REVISION={}", revision.number));
  config.env.push_back("FN_HANDLER=" + spec.handler);
  config.rootfs = rootfs_;
  config.code_dir = code_.directory(spec.code);
  config.runtimes_dir = options_.runtimes_dir;
  config.netns_path = instance->netns_->path();
  config.cgroups_path = fmt::format("/{}/{}", internal::kCgroupParent, cgroup_name(id));
  config.resources = spec.resources;
  std::string bundle = bundle_dir(id);
  if (Status st = internal::write_bundle(bundle, internal::build_oci_config(config)); !st) co_return st.error();

  auto out = internal::make_pipe();
  auto err = internal::make_pipe();
  if (!out || !err) co_return (out ? err.error() : out.error());
  std::string pid_file = bundle + "/pid";
  auto crun = internal::spawn(oci_command({"--log", bundle + "/oci.log", "run", "--detach", "--bundle", bundle,
                                           "--pid-file", pid_file, id}),
                              out->write_end.get(), err->write_end.get());
  out->write_end = UniqueFd();
  err->write_end = UniqueFd();
  if (!crun) {
    fs::remove_all(bundle);
    co_return crun.error();
  }
  children_->track(crun->pid);
  live_[id] = instance;
  asio::co_spawn(executor_, read_output(instance, out->read_end.release(), LogStream::stdout_stream), asio::detached);
  asio::co_spawn(executor_, read_output(instance, err->read_end.release(), LogStream::stderr_stream), asio::detached);

  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
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
    fs::remove_all(bundle);
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
    fs::remove_all(bundle);
    live_.erase(id);
    co_return e;
  }
  asio::co_spawn(executor_, watch_exit(instance), asio::detached);

  if (Status ready = co_await wait_until_ready(instance, deadline); !ready) {
    co_await stop(instance, true);
    co_return ready.error();
  }
  instance->state_ = InstanceState::ready;
  logs_.append(instance->function(), id, LogStream::system, fmt::format("instance started (pid {})", pid));
  co_return instance;
}

asio::awaitable<Status> ContainerRuntime::wait_until_ready(const std::shared_ptr<Instance>& instance,
                                                           std::chrono::steady_clock::time_point deadline) {
  asio::steady_timer timer(executor_);
  auto delay = 500us;
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
    timer.expires_after(delay);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    delay = std::min<std::chrono::microseconds>(delay * 2, 5ms);
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
    logs_.append(instance->function(), instance->id(), stream, std::move(line));
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
  UniqueFd pidfd(::dup(instance->pidfd_));
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
  logs_.append(instance->function(), instance->id(), LogStream::system, "instance " + what);
  if (exit_listener_) exit_listener_(instance);
  co_await delete_container(instance->id());
  std::error_code ec;
  fs::remove_all(bundle_dir(instance->id()), ec);
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
    internal::pidfd_send_signal(instance->pidfd_, kill ? SIGKILL : SIGTERM);
    if (!co_await instance->wait_for_exit(kill ? 10s : options_.stop_timeout)) {
      internal::pidfd_send_signal(instance->pidfd_, SIGKILL);
      co_await instance->wait_for_exit(10s);
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
