#include "runtime/container_runtime.hpp"

#include <signal.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fmt/format.h>
#include <random>
#include <spdlog/spdlog.h>

#include "bundle.hpp"
#include "cgroups.hpp"
#include "code_mount.hpp"
#include "core/notifier.hpp"
#include "core/units.hpp"
#include "host_ids.hpp"
#include "instance_ids.hpp"
#include "instance_watch.hpp"
#include "netns.hpp"
#include "oci_runtime.hpp"
#include "process.hpp"
#include "secret_mount.hpp"
#include "stem_cell_control.hpp"

namespace fnd::runtime {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using internal::UniqueFd;

namespace {

constexpr std::string_view kGenericHostHint =
    "check that the host supports containers (cgroups, namespaces) and that fnd runs as root";
constexpr std::string_view kHybridCgroupHint =
    "this host mounts cgroups in hybrid mode, which crun 1.8 refuses; mount a v1 hugetlb hierarchy "
    "(mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb; "
    "scripts/setup.sh does this) or set runtime.oci_runtime: runc";
constexpr std::string_view kNotRootMessage =
    "fnd must run as root to create containers, network namespaces and cgroups (run it with sudo or as the systemd service)";

std::string random_hex(size_t digits) {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  return fmt::format("{:016x}", generator()).substr(0, digits);
}

Error host_error(std::string message) { return make_error("runtime_unavailable", std::move(message), 500); }

std::vector<std::string> base_environment(uint16_t port) {
  return {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8", fmt::format("PORT={}", port)};
}

// Where a function finds the mesh endpoint, and the proxy settings that send unmodified HTTP
// clients through it. Both spellings: curl reads only the lower-case http_proxy, others the
// upper-case one. The loopback exemption keeps calls to the function's own port (and to the
// endpoint's API) direct.
void add_mesh_environment(std::vector<std::string>& env, const MeshAttachment* mesh) {
  if (!mesh) return;
  std::string url = fmt::format("http://127.0.0.1:{}", mesh->port());
  env.push_back("FN_MESH_URL=" + url);
  env.push_back("HTTP_PROXY=" + url);
  env.push_back("http_proxy=" + url);
  env.push_back("NO_PROXY=127.0.0.1,localhost");
  env.push_back("no_proxy=127.0.0.1,localhost");
}

// The mesh endpoint's listener inside a new namespace, made before anything runs there.
Result<UniqueFd> open_mesh_listener(const internal::NetworkNamespace& netns, const MeshAttachment* mesh) {
  if (!mesh) return UniqueFd();
  auto listener = netns.open_loopback_listener(mesh->port());
  if (!listener) {
    return make_error("runtime_unavailable",
                      fmt::format("cannot open the mesh endpoint inside a new instance: {}", listener.error().message),
                      500);
  }
  return listener;
}

Error code_missing(const store::Revision& revision) {
  return make_error("code_missing", fmt::format("code {} of function '{}' is not in the code store; deploy it again",
                                                revision.spec.code, revision.function), 500);
}

}  // namespace

ContainerRuntime::ContainerRuntime(asio::any_io_executor executor, RuntimeOptions options, store::CodeStore& code,
                                   store::LogStore& logs, SecretSource* secrets)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      code_(code),
      logs_(logs),
      secrets_(secrets),
      children_(std::make_unique<internal::ChildTracker>()),
      oci_(std::make_unique<internal::OciRuntime>(options_.state_dir + "/oci", *children_)),
      rootfs_(options_.rootfs_dir) {
  fs::create_directories(options_.state_dir + "/oci");
  // Several daemons (tests, or one per state dir) may share the host's cgroup tree: each sweeps
  // only cgroups carrying the tag of its own state dir, which survives restarts.
  std::error_code ec;
  auto canonical = fs::weakly_canonical(options_.state_dir, ec);
  cgroup_prefix_ = store::sha256_digest(canonical.string()).substr(7, 8) + "-";
  asio::co_spawn(executor_, reap_orphans(), asio::detached);
  fs::create_directories(options_.state_dir + "/instances");
  // Bundles hold each instance's env (config.json) and, for a moment, its secrets' mount.
  for (const char* dir : {"/oci", "/instances"}) fs::permissions(options_.state_dir + dir, fs::perms::owner_all, ec);
}

ContainerRuntime::~ContainerRuntime() = default;

const std::string& ContainerRuntime::oci_runtime_path() const { return oci_->path(); }

std::string ContainerRuntime::bundle_dir(const std::string& id) const {
  return options_.state_dir + "/instances/" + id;
}

asio::awaitable<Status> ContainerRuntime::check() {
  if (Status found = co_await oci_->locate(options_.oci_runtime); !found) co_return found;
  if (::geteuid() != 0) co_return host_error(std::string(kNotRootMessage));
  if (!ids_) {
    auto range = internal::choose_host_id_range(options_.subuid_base, options_.subuid_count,
                                                internal::read_host_accounts());
    if (!range) co_return range.error();
    ids_ = std::make_unique<internal::InstanceIds>(std::move(*range));
  }
  if (Status st = internal::prepare_rootfs_template(rootfs_); !st) co_return st;
  if (::access(options_.python.c_str(), X_OK) != 0) {
    co_return host_error(fmt::format("runtime.python '{}' is not an executable: install python3 (apt-get install python3) "
                                     "or point runtime.python at the interpreter under /usr", options_.python));
  }
  if (!fs::exists(options_.runtimes_dir + "/bootstrap.py")) {
    co_return host_error(fmt::format("runtime bootstrap files not found in '{}': set runtime.runtimes_dir to the folder "
                                     "holding bootstrap.py (installed under share/fnd/runtimes)", options_.runtimes_dir));
  }

  // Run a trivial container exactly as instances run: the surest check of the host. Its
  // /function is the code store, idmapped as instances' code is.
  std::string id = fmt::format("fnd-check-{}", ::getpid());
  auto netns = internal::NetworkNamespace::create();
  if (!netns) co_return host_error(fmt::format("cannot create a network namespace: {}", netns.error().message));
  auto first_id = ids_->acquire(id);
  if (!first_id) co_return first_id.error();
  internal::ContainerConfig config;
  config.hostname = id;
  config.args = {"/usr/bin/true"};
  config.env = {"PATH=/usr/bin:/bin"};
  config.rootfs = rootfs_;
  config.code_dir = bundle_dir(id) + "/function";
  config.runtimes_dir = options_.runtimes_dir;
  config.netns_path = netns->path();
  config.cgroups_path = fmt::format("/{}/{}", internal::kCgroupParent, cgroup_name(id));
  config.host_id_base = *first_id;
  std::error_code ec;
  fs::create_directories(config.code_dir, ec);
  if (ec) co_return host_error(fmt::format("cannot create {}: {}", config.code_dir, ec.message()));
  if (Status st = mount_code(id, code_.root(), config.code_dir); !st) {
    remove_bundle(id);
    co_return host_error(fmt::format("cannot give instances their code: {}", st.error().message));
  }
  if (Status st = internal::write_bundle(bundle_dir(id), internal::build_oci_config(config)); !st) {
    remove_bundle(id);
    co_return st;
  }
  auto run = co_await oci_->run(bundle_dir(id), id);
  co_await oci_->remove(id);
  remove_bundle(id);
  if (!run) co_return host_error(fmt::format("cannot run {}: {}", oci_->path(), run.error().message));
  if (run->status.signaled || run->status.code != 0) {
    std::string output = run->output;
    while (!output.empty() && output.back() == '\n') output.pop_back();
    if (output.empty()) output = "it printed nothing";
    std::string hint(kGenericHostHint);
    if (output.find("cgroups in hybrid mode not supported") != std::string::npos) hint = kHybridCgroupHint;
    co_return host_error(fmt::format("the OCI runtime {} cannot run containers here ({}): {}. Fix: {}", oci_->path(),
                                     run->status.describe(), output, hint));
  }
  const auto& range = ids_->range();
  spdlog::info("instances run as host uids and gids {}..{} ({}), {} ids each", range.base,
               uint64_t{range.base} + range.count - 1, range.source, internal::kIdBlockSize);
  co_return Status{};
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
  for (const auto& id : co_await oci_->list()) {
    co_await oci_->remove(id);
    ++removed;
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
      if (::access(options_.node.c_str(), X_OK) != 0) {
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

Result<std::shared_ptr<Instance>> ContainerRuntime::prepare(const store::Revision& revision, InstanceOrigin origin) {
  const config::FunctionSpec& spec = revision.spec;
  if (!ids_) return host_error("the container runtime was not checked before an instance started");
  if (!code_.contains(spec.code)) return code_missing(revision);
  auto args = process_args(spec.runtime, spec.handler, false, revision.function);
  if (!args) return args.error();
  auto secrets = read_secrets(revision);
  if (!secrets) return secrets.error();
  struct Wipe {
    internal::SecretFiles& files;
    ~Wipe() { internal::wipe(files); }
  } wipe{*secrets};
  auto netns = internal::NetworkNamespace::create();
  if (!netns) return netns.error();
  auto mesh_listener = open_mesh_listener(*netns, mesh_);
  if (!mesh_listener) return mesh_listener.error();
  std::string id = fmt::format("{}-{}-{}", revision.function, revision.number, random_hex(6));
  auto instance = std::make_shared<Instance>(id, revision.function, revision.number, spec.resources.memory_bytes,
                                             std::make_unique<internal::NetworkNamespace>(std::move(*netns)),
                                             options_.port, origin);
  instance->pool_idle_connections_for(spec.scale.concurrency);
  auto first_id = ids_->acquire(id);
  if (!first_id) return first_id.error();
  // From here on remove_bundle() undoes what is done: mounts, the bundle, the mesh listener and
  // the id block.
  if (mesh_) mesh_->attach(id, revision.function, mesh_listener->release());
  const std::string bundle = bundle_dir(id);
  auto undo = [&](Error e) {
    remove_bundle(id);
    return e;
  };
  std::error_code ec;
  fs::create_directories(bundle + "/function", ec);
  if (!ec && !secrets->empty()) fs::create_directories(bundle + "/secrets", ec);
  if (ec) return undo(host_error(fmt::format("cannot create {}: {}", bundle, ec.message())));
  if (Status st = mount_code(id, code_.directory(spec.code), bundle + "/function"); !st) return undo(st.error());
  if (!secrets->empty()) {
    if (Status st = mount_secrets(id, *secrets, bundle + "/secrets"); !st) return undo(st.error());
  }

  internal::ContainerConfig config;
  config.hostname = revision.function;
  config.args = std::move(*args);
  for (const auto& [k, v] : spec.env) config.env.push_back(fmt::format("{}={}", k, v));
  for (auto& e : base_environment(options_.port)) config.env.push_back(std::move(e));
  config.env.push_back("FN_NAME=" + revision.function);
  config.env.push_back(fmt::format("FN_REVISION={}", revision.number));
  config.env.push_back("FN_HANDLER=" + spec.handler);
  add_mesh_environment(config.env, mesh_);
  config.rootfs = rootfs_;
  config.code_dir = bundle + "/function";
  config.runtimes_dir = options_.runtimes_dir;
  config.secrets_dir = secrets->empty() ? std::string() : bundle + "/secrets";
  config.host_id_base = *first_id;
  config.seccomp = spec.seccomp != config::SeccompProfile::unconfined;
  config.netns_path = instance->netns_path();
  config.cgroups_path = fmt::format("/{}/{}", internal::kCgroupParent, cgroup_name(id));
  config.resources = spec.resources;
  if (Status st = internal::write_bundle(bundle, internal::build_oci_config(config)); !st) return undo(st.error());
  return instance;
}

Result<internal::SecretFiles> ContainerRuntime::read_secrets(const store::Revision& revision) const {
  internal::SecretFiles files;
  for (const auto& name : revision.spec.secrets) {
    auto values = secrets_ ? secrets_->read(name)
                           : Result<std::map<std::string, std::string>>(make_error("no_secret_store", "fnd has no secret store"));
    if (!values) {
      internal::wipe(files);
      return make_error(std::string(kSecretUnavailable),
                        fmt::format("function '{}' cannot start without its secret '{}': {}", revision.function, name,
                                    values.error().message), 502);
    }
    files[name] = std::move(*values);
  }
  return files;
}

Status ContainerRuntime::mount_code(const std::string& id, const std::string& code_dir, const std::string& target) {
  auto idmap = ids_->code_idmap(id);
  if (!idmap) return idmap.error();
  return internal::bind_read_only(code_dir, target, *idmap);
}

Status ContainerRuntime::mount_secrets(const std::string& id, const internal::SecretFiles& secrets, const std::string& target) {
  auto first_id = ids_->first_id(id);
  if (!first_id) return host_error(fmt::format("instance {} holds no uid block", id));
  auto mount = internal::make_secrets_mount(secrets, *first_id + internal::kFunctionUid);
  if (!mount) return mount.error();
  return internal::attach_mount(mount->get(), target);
}

asio::awaitable<Result<std::shared_ptr<Instance>>> ContainerRuntime::start(const store::Revision& revision) {
  auto prepared = prepare(revision, InstanceOrigin::container);
  if (!prepared) co_return prepared.error();
  auto instance = std::move(*prepared);
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  if (Status launched = co_await launch(instance, -1, false); !launched) co_return launched.error();
  // The container has its own mounts of the code and the secrets now: the host needs none.
  detach_host_mounts(instance->id());
  if (Status ready = co_await become_ready(instance, deadline, ""); !ready) co_return ready.error();
  co_return instance;
}

asio::awaitable<Result<std::shared_ptr<Instance>>> ContainerRuntime::create(const store::Revision& revision) {
  auto prepared = prepare(revision, InstanceOrigin::precreated);
  if (!prepared) co_return prepared.error();
  auto instance = std::move(*prepared);
  instance->set_created_only(true);
  if (Status launched = co_await launch(instance, -1, true); !launched) co_return launched.error();
  // Created means mounted: the container holds its own mounts of the code and the secrets.
  detach_host_mounts(instance->id());
  co_return instance;
}

asio::awaitable<Status> ContainerRuntime::start_created(const std::shared_ptr<Instance>& instance) {
  auto unusable = [&](std::string_view why) {
    return make_error(std::string(kPrecreatedUnusable),
                      fmt::format("pre-created container {} cannot start: {}", instance->id(), why), 500);
  };
  if (!instance->created_only()) co_return unusable("it was started already");
  if (instance->exit()) co_return unusable("it has ended");
  instance->set_created_only(false);
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  if (Status started = co_await oci_->start(instance->id()); !started) co_return unusable(started.error().message);
  co_return co_await become_ready(instance, deadline, " from a pre-created container");
}

asio::awaitable<Status> ContainerRuntime::become_ready(const std::shared_ptr<Instance>& instance,
                                                       std::chrono::steady_clock::time_point deadline, const char* how) {
  auto probe = co_await wait_until_ready(instance, deadline);
  if (!probe) {
    co_await stop(instance, true);
    co_return probe.error();
  }
  instance->became_ready();
  instance->keep_idle_connection(std::move(*probe));  // the probe's connection serves the first request
  logs_.append(instance->function(), instance->id(), store::LogStream::system,
               fmt::format("instance started{} (pid {})", how, instance->pid()));
  co_return Status{};
}

asio::awaitable<Result<std::shared_ptr<Instance>>> ContainerRuntime::start_stem_cell(config::RuntimeKind kind,
                                                                                    const config::ResourceLimits& limits) {
  if (!ids_) co_return host_error("the container runtime was not checked before a stem cell started");
  auto args = process_args(kind, "", true, "(stem cell)");
  if (!args) co_return args.error();
  auto netns = internal::NetworkNamespace::create();
  if (!netns) co_return netns.error();
  auto mesh_listener = open_mesh_listener(*netns, mesh_);
  if (!mesh_listener) co_return mesh_listener.error();
  std::string id = fmt::format("cell-{}-{}", config::to_string(kind), random_hex(8));
  auto instance = std::make_shared<Instance>(id, "", 0, limits.memory_bytes,
                                             std::make_unique<internal::NetworkNamespace>(std::move(*netns)),
                                             options_.port, InstanceOrigin::stem_cell);
  auto first_id = ids_->acquire(id);
  if (!first_id) co_return first_id.error();
  // The cell's listener exists from now on but serves only once a function takes the cell.
  if (mesh_) mesh_->attach(id, "", mesh_listener->release());

  // The code and the secrets come later, mounted on these shared points: they propagate into
  // the running cell's /function and /run/secrets.
  std::string bundle = bundle_dir(id);
  std::string code_point = bundle + "/function";
  std::string secrets_point = bundle + "/secrets";
  std::error_code ec;
  fs::create_directories(code_point, ec);
  if (!ec) fs::create_directories(secrets_point, ec);
  if (ec) {
    remove_bundle(id);
    co_return host_error(fmt::format("cannot create {}: {}", bundle, ec.message()));
  }
  for (const auto& point : {code_point, secrets_point}) {
    if (Status st = internal::make_shared_mount_point(point); !st) {
      remove_bundle(id);
      co_return st.error();
    }
  }
  internal::ContainerConfig config;
  config.hostname = "fnd-cell";
  config.args = std::move(*args);
  config.env = base_environment(options_.port);
  add_mesh_environment(config.env, mesh_);
  config.rootfs = rootfs_;
  config.code_dir = code_point;
  config.runtimes_dir = options_.runtimes_dir;
  config.secrets_dir = secrets_point;
  config.host_id_base = *first_id;
  config.netns_path = instance->netns_path();
  config.cgroups_path = fmt::format("/{}/{}", internal::kCgroupParent, cgroup_name(id));
  config.resources = limits;
  config.stem_cell = true;
  if (Status st = internal::write_bundle(bundle, internal::build_oci_config(config)); !st) {
    remove_bundle(id);
    co_return st.error();
  }

  auto channel = internal::make_control_channel();
  if (!channel) {
    remove_bundle(id);
    co_return channel.error();
  }
  instance->set_control_fd(channel->fnd_end.release());
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  Status launched = co_await launch(instance, channel->cell_end.get(), false);
  channel->cell_end = UniqueFd();  // only the container holds it now: its end closing means the cell died
  if (!launched) co_return launched.error();
  auto hello = co_await internal::read_control_message(executor_, instance->control_fd(), deadline);
  if (!hello || *hello != "ready") {
    Error failure = start_failure(*instance, "its bootstrap did not report ready within runtime.start_timeout");
    if (hello) {
      // It closed the control socket: it is exiting, and its exit and stderr say why.
      co_await instance->wait_for_exit(std::chrono::seconds(1));
      auto exited = co_await wait_until_ready(instance, std::chrono::steady_clock::now());
      failure = exited ? start_failure(*instance, "its bootstrap closed its control socket") : exited.error();
    }
    co_await stop(instance, true);
    co_return failure;
  }
  instance->became_ready();
  spdlog::debug("stem cell {} ready (pid {})", id, instance->pid());
  co_return instance;
}

asio::awaitable<Status> ContainerRuntime::specialize(const std::shared_ptr<Instance>& cell, const store::Revision& revision) {
  const config::FunctionSpec& spec = revision.spec;
  auto unusable = [&](std::string_view why) {
    return make_error(std::string(kStemCellUnusable), fmt::format("stem cell {} cannot take function '{}': {}", cell->id(),
                                                                  revision.function, why), 500);
  };
  if (cell->origin() != InstanceOrigin::stem_cell || !cell->function().empty()) co_return unusable("a function has taken it already");
  if (cell->exit() || cell->state() != InstanceState::ready) co_return unusable("it is not running");
  if (!code_.contains(spec.code)) co_return code_missing(revision);
  auto secrets = read_secrets(revision);
  if (!secrets) {
    co_await stop(cell, true);  // taken from its pool, it would serve nobody
    co_return secrets.error();
  }
  struct Wipe {
    internal::SecretFiles& files;
    ~Wipe() { internal::wipe(files); }
  } wipe{*secrets};
  const std::string bundle = bundle_dir(cell->id());
  if (Status st = mount_code(cell->id(), code_.directory(spec.code), bundle + "/function"); !st) {
    co_return unusable(st.error().message);
  }
  if (!secrets->empty()) {
    if (Status st = mount_secrets(cell->id(), *secrets, bundle + "/secrets"); !st) co_return unusable(st.error().message);
  }
  if (Status st = internal::set_limits(cgroup_name(cell->id()), spec.resources); !st) co_return unusable(st.error().message);

  std::map<std::string, std::string> env = spec.env;
  env["FN_NAME"] = revision.function;
  env["FN_REVISION"] = std::to_string(revision.number);
  env["FN_HANDLER"] = spec.handler;
  // From here on what the bootstrap logs is the function's.
  cell->assigned(revision.function, revision.number, spec.resources.memory_bytes);
  cell->pool_idle_connections_for(spec.scale.concurrency);
  // Before the handler loads: code at the module's top level may call the mesh already.
  if (mesh_) mesh_->assign(cell->id(), revision.function);
  if (Status sent = internal::send_assignment(cell->control_fd(), spec.handler, env); !sent) {
    co_return unusable(sent.error().message);
  }
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  auto answer = co_await internal::read_control_message(executor_, cell->control_fd(), deadline);
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
  if (spec.seccomp == config::SeccompProfile::unconfined) return false;
  constexpr std::string_view kReadAtStartup[] = {"PYTHON", "NODE_", "UV_", "LD_", "GLIBC_TUNABLES", "MALLOC_", "LANG",
                                                  "LC_", "TZ"};
  for (const auto& [name, value] : spec.env) {
    for (auto prefix : kReadAtStartup) {
      if (std::string_view(name).starts_with(prefix)) return false;
    }
  }
  return true;
}

asio::awaitable<Status> ContainerRuntime::launch(const std::shared_ptr<Instance>& instance, int control_fd, bool create_only) {
  const std::string& id = instance->id();
  auto out = internal::make_pipe();
  auto err = internal::make_pipe();
  if (!out || !err) {
    remove_bundle(id);
    co_return (out ? err.error() : out.error());
  }
  live_[id] = instance;
  asio::co_spawn(executor_, internal::pump_output(instance, out->read_end.release(), store::LogStream::stdout_stream, logs_), asio::detached);
  asio::co_spawn(executor_, internal::pump_output(instance, err->read_end.release(), store::LogStream::stderr_stream, logs_), asio::detached);
  internal::LaunchRequest request{id, bundle_dir(id), create_only, out->write_end.get(), err->write_end.get(), control_fd};
  auto pid = co_await oci_->launch(request);
  out->write_end = UniqueFd();
  err->write_end = UniqueFd();
  int pidfd = pid ? internal::pidfd_open(*pid) : -1;
  if (!pid || pidfd < 0) {
    // Its output (the OCI runtime's complaints) is in by the time the pipes close.
    co_await instance->wait_for_output(std::chrono::steady_clock::now() + 200ms);
    Error e = start_failure(*instance, pid ? "its process ended before fnd could watch it" : pid.error().message);
    instance->exited(InstanceExit{0, 0, false, false, false, false});
    co_await oci_->remove(id);
    remove_bundle(id);
    live_.erase(id);
    instance->cleaned_up();
    co_return e;
  }
  children_->track(*pid);
  instance->launched(*pid, pidfd);
  asio::co_spawn(executor_, follow(instance), asio::detached);
  co_return Status{};
}

void ContainerRuntime::detach_host_mounts(const std::string& id) {
  internal::detach_mount(bundle_dir(id) + "/function");
  internal::detach_mount(bundle_dir(id) + "/secrets");
}

void ContainerRuntime::remove_bundle(const std::string& id) {
  std::string bundle = bundle_dir(id);
  // A bundle may hold mounts (code, secrets): removing files through them would delete code.
  internal::unmount_tree(bundle);
  std::error_code ec;
  fs::remove_all(bundle, ec);
  if (ec) spdlog::warn("cannot remove {}: {}", bundle, ec.message());
  if (mesh_) mesh_->detach(id);
  if (ids_) ids_->release(id);
}

asio::awaitable<Result<asio::ip::tcp::socket>> ContainerRuntime::wait_until_ready(const std::shared_ptr<Instance>& instance,
                                                                                std::chrono::steady_clock::time_point deadline) {
  asio::steady_timer timer(executor_);
  // Warm-pool starts and small binaries listen within ~2 ms: poll finely at first, then back
  // off. Each attempt costs two setns and a socket on the io thread, and on a small host the
  // function competes with us for the CPU: polling finely for long slows plain starts down.
  const auto fine_until = std::chrono::steady_clock::now() + 5ms;
  std::chrono::microseconds delay = 500us;
  while (true) {
    if (const auto& exit = instance->exit()) {
      co_await instance->wait_for_output(std::chrono::steady_clock::now() + 300ms);
      if (exit->out_of_memory) {
        co_return start_failure(*instance, fmt::format("it ran out of memory while starting (limit {}): raise "
                                                       "resources.memory", format_bytes(instance->memory_limit())));
      }
      co_return start_failure(*instance, fmt::format("its process {} before accepting connections on $PORT", exit->describe()));
    }
    auto socket = co_await instance->connect();
    if (socket) co_return std::move(*socket);
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
  return make_error(std::string(kFunctionStartFailed), std::move(message), 502);
}

asio::awaitable<void> ContainerRuntime::follow(std::shared_ptr<Instance> instance) {
  const std::string cgroup = cgroup_name(instance->id());
  co_await internal::watch_exit(instance, cgroup, *children_, logs_);
  if (exit_listener_) exit_listener_(instance);
  co_await oci_->remove(instance->id());
  remove_bundle(instance->id());
  live_.erase(instance->id());
  instance->cleaned_up();
}

// Kept free of a co_await inside an `if (!kill) {...}` block: GCC 12 miscompiled that shape here
// (the resumed frame was read 8 bytes off, found with gdb and an ASan build).
asio::awaitable<void> ContainerRuntime::stop(std::shared_ptr<Instance> instance, bool kill) {
  if (!instance->exit() && instance->pidfd() >= 0) {
    spdlog::debug("stopping instance {}{}", instance->id(), kill ? " (SIGKILL)" : "");
    instance->stopping();
    const std::chrono::milliseconds grace = kill ? std::chrono::milliseconds(0) : options_.stop_timeout;
    if (grace.count() > 0) internal::pidfd_send_signal(instance->pidfd(), SIGTERM);
    co_await instance->wait_for_exit(grace);
    // Past the grace, nothing the function does can hold the stop: every process in its cgroup
    // is killed (children, a process ignoring SIGTERM, a stopped or traced one).
    internal::kill_cgroup(cgroup_name(instance->id()));
    internal::pidfd_send_signal(instance->pidfd(), SIGKILL);
    const bool ended = co_await instance->wait_for_exit(2s);
    if (!ended) {
      spdlog::warn("instance {} did not end 2 s after it was killed; deleting its container anyway", instance->id());
      co_await oci_->remove(instance->id());
      co_await instance->wait_for_exit(2s);
    }
  }
  co_await instance->wait_for_cleanup(std::chrono::steady_clock::now() + 10s);
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
