// Starts and stops instances as OCI containers through crun (or runc, same CLI), from bundles
// fnd writes under its state dir, each in its own loopback-only network namespace and its own
// user namespace: an instance's ids 0..65535 are a block of host ids that no host user and no
// other live instance has (runtime.subuid_base/_count), its function runs as 65534 inside, and
// its code is mounted idmapped, so code trees stay readable by root only on the host. The
// function's secrets (spec field `secrets`) are files /run/secrets/NAME/KEY on a tmpfs of the
// instance's own; its seccomp profile is fnd's default unless the spec says unconfined.
//
// With a MeshAttachment (set_mesh), every instance's namespace gets a listener of the mesh
// endpoint on 127.0.0.1:mesh->port() before its process starts (plain and pre-created instances
// in prepare(), stem cells in start_stem_cell(), bound to their function in specialize()), and
// its env FN_MESH_URL, HTTP_PROXY/http_proxy pointing there, NO_PROXY/no_proxy for loopback.
//
// Not thread safe: use from the io_context's thread only. Coroutines here may take as long as
// the container takes to start or stop; none blocks the thread for more than a crun spawn.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "runtime/instance.hpp"
#include "runtime/mesh_attachment.hpp"
#include "runtime/options.hpp"
#include "runtime/secret_source.hpp"
#include "store/log_store.hpp"
#include "store/code_store.hpp"
#include "store/function_repository.hpp"

namespace fnd::runtime {

namespace internal {
class ChildTracker;
class InstanceIds;
class OciRuntime;
}

// Error codes the runtime makes (callers test them with these constants).
inline constexpr std::string_view kFunctionStartFailed = "function_start_failed";  // 502: the function's own failure to start
inline constexpr std::string_view kStemCellUnusable = "stem_cell_unusable";        // start a plain instance instead
inline constexpr std::string_view kPrecreatedUnusable = "precreated_unusable";     // start a plain instance instead
inline constexpr std::string_view kSecretUnavailable = "secret_unavailable";       // 502: a secret the spec names cannot be read


class ContainerRuntime {
 public:
  // `secrets` (may be null: then a function naming secrets cannot start) must outlive the runtime.
  ContainerRuntime(boost::asio::any_io_executor executor, RuntimeOptions options, store::CodeStore& code,
                   store::LogStore& logs, SecretSource* secrets);
  ~ContainerRuntime();

  // Chooses the host id range (refusing one that a host user or another user's subordinate
  // range overlaps), finds the OCI runtime and runs a trivial container with it, as instances
  // run (user namespace, idmapped mount of the code store). Must succeed before anything starts.
  // The error says what is wrong with the host and how to fix it.
  boost::asio::awaitable<Status> check();
  // Removes what a previous run left (after kill -9 or a crash): containers in fnd's OCI state
  // root, their cgroups and bundle dirs. Returns how many containers were removed.
  boost::asio::awaitable<int> sweep_previous_run();

  // Starts an instance of `revision` and waits until it accepts connections on $PORT.
  // Errors: 502 function_start_failed (with the instance's first stderr lines), 502
  // secret_unavailable (naming the secret), 503 no_id_block (every host id block is in use),
  // 500 on host problems.
  boost::asio::awaitable<Result<std::shared_ptr<Instance>>> start(const store::Revision& revision);
  // Creates an instance of `revision` without starting it (OCI create): namespaces, cgroup and
  // mounts are ready and its process waits. start_created() lets it run.
  boost::asio::awaitable<Result<std::shared_ptr<Instance>>> create(const store::Revision& revision);
  // Starts a created instance and waits until it accepts connections. Errors: 500
  // precreated_unusable when it cannot be started (it ended; start a plain one instead), else
  // as start().
  boost::asio::awaitable<Status> start_created(const std::shared_ptr<Instance>& instance);

  // Starts a stem cell of `kind` (python3, shell or node): a container whose bootstrap is up but
  // has no function yet, within `limits` until a function takes it. Resolves once the bootstrap
  // says it is ready. Errors as start() (502 function_start_failed names the cell).
  boost::asio::awaitable<Result<std::shared_ptr<Instance>>> start_stem_cell(config::RuntimeKind kind,
                                                                           const config::ResourceLimits& limits);
  // Gives the stem cell to `revision` for the rest of its life: mounts the code at its /function,
  // sets the function's cgroup limits, sends handler and env to the bootstrap and waits until it
  // accepts connections. Errors: 500 stem_cell_unusable when the cell cannot take the function
  // (it died, a mount failed; start a plain instance instead and stop the cell), else as start()
  // (the function's own failure to load, or a secret that cannot be read: a plain start would
  // fail alike; the cell is stopped).
  boost::asio::awaitable<Status> specialize(const std::shared_ptr<Instance>& cell, const store::Revision& revision);
  // Whether a stem cell can serve `spec`: not for binary functions, nor for env that the
  // interpreter reads only when it starts (PYTHON*, NODE_*, LD_*, LANG, LC_*, TZ, ...), nor for a
  // function without seccomp (a cell starts under the default profile).
  static bool stem_cell_can_serve(const config::FunctionSpec& spec);

  // Stops the instance (SIGTERM, then SIGKILL after stop_timeout; at once when `kill`), deletes
  // its container and bundle, and returns when all of that is done. Idempotent.
  boost::asio::awaitable<void> stop(std::shared_ptr<Instance> instance, bool kill = false);
  // Stops every live instance.
  boost::asio::awaitable<void> stop_all();

  // The node-level mesh endpoint that listens inside every instance from now on (null: none).
  // Set before any instance starts; it must outlive every instance the runtime starts.
  void set_mesh(MeshAttachment* mesh) { mesh_ = mesh; }

  // Called once for every instance that ends, whatever the reason, after exit() is set.
  void on_instance_exit(std::function<void(const std::shared_ptr<Instance>&)> listener) {
    exit_listener_ = std::move(listener);
  }
  size_t live_instances() const { return live_.size(); }
  const RuntimeOptions& options() const { return options_; }
  const std::string& oci_runtime_path() const;

 private:
  // A new instance of `revision` with its bundle written, not yet launched.
  Result<std::shared_ptr<Instance>> prepare(const store::Revision& revision, InstanceOrigin origin);
  // Runs the OCI runtime on the instance's prepared bundle, starts pumping its output, and waits
  // until its process is handed over and watched (or cleans up and says why not). `control_fd`
  // becomes the process's fd 3.
  boost::asio::awaitable<Status> launch(const std::shared_ptr<Instance>& instance, int control_fd, bool create_only);
  // Waits until the instance accepts connections, marks it ready and logs "instance started<how>";
  // kills it when it does not become ready.
  boost::asio::awaitable<Status> become_ready(const std::shared_ptr<Instance>& instance,
                                              std::chrono::steady_clock::time_point deadline, const char* how);
  boost::asio::awaitable<Result<boost::asio::ip::tcp::socket>> wait_until_ready(const std::shared_ptr<Instance>& instance,
                                                                               std::chrono::steady_clock::time_point deadline);
  // Watches the instance's process until it ends, then removes its container, bundle and
  // namespace and tells the exit listener.
  boost::asio::awaitable<void> follow(std::shared_ptr<Instance> instance);
  Result<std::vector<std::string>> process_args(config::RuntimeKind kind, const std::string& handler, bool stem_cell,
                                                const std::string& function) const;
  // Detaches the host's mounts of a plain or pre-created instance's code and secrets, once the
  // container holds its own (a stem cell keeps them: they propagate into it).
  void detach_host_mounts(const std::string& id);
  // Removes the instance's bundle with every mount in it (its code, its secrets), closes its mesh
  // listener and gives its host id block back: call only once none of its processes is left.
  void remove_bundle(const std::string& id);
  // The values of every secret the spec names. Error: 502 secret_unavailable.
  Result<std::map<std::string, std::map<std::string, std::string>>> read_secrets(const store::Revision& revision) const;
  // Mounts `code_dir` read-only and idmapped to the instance's function user on `target`.
  Status mount_code(const std::string& id, const std::string& code_dir, const std::string& target);
  // Mounts a new tmpfs holding `secrets` (owned by the instance's function user) on `target`.
  Status mount_secrets(const std::string& id, const std::map<std::string, std::map<std::string, std::string>>& secrets,
                       const std::string& target);
  boost::asio::awaitable<void> reap_orphans();
  std::string bundle_dir(const std::string& id) const;
  std::string cgroup_name(const std::string& id) const { return cgroup_prefix_ + id; }
  Error start_failure(const Instance& instance, std::string_view what) const;

  boost::asio::any_io_executor executor_;
  RuntimeOptions options_;
  store::CodeStore& code_;
  store::LogStore& logs_;
  SecretSource* secrets_;
  std::unique_ptr<internal::ChildTracker> children_;
  std::unique_ptr<internal::OciRuntime> oci_;
  std::unique_ptr<internal::InstanceIds> ids_;  // set by check()
  std::string rootfs_;
  std::string cgroup_prefix_;  // "<tag>-": this daemon's cgroups under /fnd, tag derived from the state dir
  std::map<std::string, std::shared_ptr<Instance>> live_;
  std::function<void(const std::shared_ptr<Instance>&)> exit_listener_;
  MeshAttachment* mesh_ = nullptr;
};

}  // namespace fnd::runtime
