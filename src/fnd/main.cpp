// fnd: the composition root. Reads the configuration, builds every component with its settings
// and collaborators, runs the io_context, and shuts down in order on SIGTERM/SIGINT.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <spdlog/spdlog.h>

#include "core/access_log.hpp"
#include "core/logging.hpp"
#include "core/metrics.hpp"
#include "core/time.hpp"
#include "core/units.hpp"
#include "gateway/access_control.hpp"
#include "gateway/admin_api.hpp"
#include "gateway/audit_trail.hpp"
#include "gateway/function_api.hpp"
#include "gateway/http_server.hpp"
#include "gateway/invocation_handler.hpp"
#include "gateway/router.hpp"
#include "gateway/security_api.hpp"
#include "gateway/state_admin_api.hpp"
#include "gateway/mesh_api.hpp"
#include "mesh/node_endpoint.hpp"
#include "mesh/service_registry.hpp"
#include "mesh/workload_identity.hpp"
#include "options.hpp"
#include "runtime/container_runtime.hpp"
#include "runtime/secret_source.hpp"
#include "scheduler/scheduling.hpp"
#include "store/audit_log.hpp"
#include "store/code_store.hpp"
#include "store/database.hpp"
#include "store/disk_reserve.hpp"
#include "store/function_repository.hpp"
#include "store/log_store.hpp"
#include "store/master_key.hpp"
#include "store/event_log.hpp"
#include "store/resource_repository.hpp"
#include "eventing/async_invocations.hpp"
#include "eventing/destination_subscriber.hpp"
#include "eventing/event_router.hpp"
#include "eventing/kafka_sink.hpp"
#include "eventing/kafka_sources.hpp"
#include "gateway/events_api.hpp"
#include "store/secret_store.hpp"
#include "store/state_store.hpp"
#include "store/token_repository.hpp"
#include "systemd_notifier.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

// The runtime's view of the secret store: values of one secret, for an instance that starts.
class StoredSecrets final : public fnd::runtime::SecretSource {
 public:
  explicit StoredSecrets(fnd::store::SecretStore& store) : store_(store) {}

  fnd::Result<std::map<std::string, std::string>> read(std::string_view name) override {
    auto secret = store_.get(std::string(name));
    if (secret) return std::move(secret->values);
    if (fnd::store::is_secret_not_found(secret.error())) {
      return fnd::make_error(secret.error().code,
                             fmt::format("there is no secret named '{0}'; create it (fnctl secret create {0} "
                                         "--from-literal KEY=VALUE) or take it out of the function's secrets", name), 404);
    }
    return secret.error();
  }

 private:
  fnd::store::SecretStore& store_;
};

struct Flags {
  std::string config_file;
  std::string listen;
  std::string state_dir;
  std::string log_level;
  std::optional<std::string> api_socket;
  bool no_warm_pools = false;
};

[[noreturn]] void fail(std::string_view message) {
  spdlog::critical("{}", message);
  std::exit(1);
}

fnd::daemon::Options load_options(const Flags& flags) {
  fnd::daemon::Options options;
  fnd::config::OptionBinder binder;
  fnd::daemon::bind_options(binder, options);
  std::string file = flags.config_file;
  if (file.empty() && fs::exists("/etc/fnd/fnd.yaml")) file = "/etc/fnd/fnd.yaml";
  if (!file.empty()) {
    if (auto st = binder.apply_file(file); !st) fail(st.error().message);
  }
  if (auto st = binder.apply_environment(); !st) fail(st.error().message);
  if (!flags.listen.empty()) options.gateway.listen = flags.listen;
  if (flags.api_socket) options.gateway.api_socket = *flags.api_socket;
  if (!flags.state_dir.empty()) options.daemon.state_dir = flags.state_dir;
  if (!flags.log_level.empty()) options.daemon.log_level = flags.log_level;
  if (flags.no_warm_pools) {
    options.scheduler.stem_cells.python3 = options.scheduler.stem_cells.shell = options.scheduler.stem_cells.node = 0;
    options.scheduler.precreated_max = 0;
  }
  options.runtime.state_dir = options.daemon.state_dir;
  if (options.runtime.runtimes_dir.empty()) {
    // The build tree's fnd runs with the sources' bootstrap files (an installed copy may be
    // older); an installed fnd with the installed ones.
    std::error_code ec;
    bool in_build_tree = fs::canonical("/proc/self/exe", ec).parent_path() == fs::weakly_canonical(FND_BUILD_DIR, ec);
    options.runtime.runtimes_dir = in_build_tree || !fs::exists(std::string(FND_RUNTIMES_DIR) + "/bootstrap.py")
                                       ? FND_SOURCE_RUNTIMES_DIR
                                       : FND_RUNTIMES_DIR;
  }
  return options;
}

// One daemon per state dir: a second would sweep the first one's containers.
int lock_state_dir(const std::string& state_dir) {
  std::string path = state_dir + "/fnd.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) fail(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    fail(fmt::format("another fnd is running with state dir {} (it holds {}); stop it or use --state-dir", state_dir, path));
  }
  return fd;
}

// Each connection and each instance costs descriptors; the soft limit (often 1024) is a
// leftover of select(). The hard limit is what the operator granted.
void raise_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

uint64_t host_memory_bytes() {
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page_size = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) : 0;
}

void render_process_metrics(std::string& out) {
  long pages = 0;
  std::ifstream("/proc/self/statm") >> pages >> pages;
  out += fmt::format("# HELP process_resident_memory_bytes fnd's resident memory.\n"
                     "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}\n",
                     pages * ::sysconf(_SC_PAGE_SIZE));
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"fnd: a self-hosted serverless platform (docs: README.md, docs/api.md)"};
  app.add_option("-c,--config", flags.config_file, "YAML config file (default /etc/fnd/fnd.yaml when it exists)");
  app.add_option("-l,--listen", flags.listen, "HTTP listen address HOST:PORT (default 127.0.0.1:8080; port 0 picks one)");
  app.add_option("-s,--state-dir", flags.state_dir, "where the database, code and containers' state live (default /var/lib/fnd)");
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error");
  app.add_option("--api-socket", flags.api_socket, "the local management socket (default /run/fnd/api.sock; \"\" for none)");
  app.add_flag("--no-warm-pools", flags.no_warm_pools,
               "start every instance as a plain container: no stem cells, no pre-created containers");
  app.set_version_flag("--version", std::string("fnd ") + FND_VERSION);
  CLI11_PARSE(app, argc, argv);

  fnd::install_log_repeat_limit();
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  const fnd::daemon::Options options = load_options(flags);
  spdlog::set_level(spdlog::level::from_str(options.daemon.log_level));
  const std::string& state_dir = options.daemon.state_dir;

  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) fail(fmt::format("cannot create state dir {}: {}", state_dir, ec.message()));
  // Root's alone: the database, the secrets key, code and bundles. Instances reach their code
  // through mounts, and the rootfs they resolve by path lives elsewhere (runtime.rootfs_dir).
  fs::permissions(state_dir, fs::perms::owner_all, ec);
  int lock_fd = lock_state_dir(state_dir);
  (void)lock_fd;
  fs::remove(state_dir + "/fnd.addr", ec);

  // Containers started with crun --detach are re-parented to us, so we can wait for their exit.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  raise_file_limit();
  ::signal(SIGPIPE, SIG_IGN);

  // One thread runs every I/O object, so the reactor needs no locks; the blocking pool only posts
  // completions back.
  asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  asio::thread_pool blocking(1);

  fnd::store::CodeStore code(state_dir + "/code", options.store.code);
  auto database = fnd::store::Database::open(state_dir + "/fnd.db", code.tree_count());
  if (!database) fail(database.error().message);
  fnd::store::FunctionRepository repository(**database);
  fnd::store::LogStore logs(options.store.log_bytes_per_function);
  fnd::store::DiskReserve disk_reserve(state_dir + "/disk-reserve", options.store.disk_reserve);

  fnd::SteadyClock clock;
  // Access: API tokens, encrypted secrets (the key outside the database) and the audit log.
  auto master_key = fnd::store::MasterKey::load_or_create(state_dir + "/" + std::string(fnd::store::kMasterKeyFileName));
  if (!master_key) fail(master_key.error().message);
  fnd::store::SecretStore secrets(**database, std::move(*master_key), clock);
  StoredSecrets secret_source(secrets);

  fnd::runtime::ContainerRuntime runtime(io.get_executor(), options.runtime, code, logs, &secret_source);
  fnd::MetricsRegistry metrics;
  fnd::scheduler::Scheduling scheduling({io.get_executor(), blocking.get_executor(), runtime, repository, code,
                                         disk_reserve, logs, metrics, clock, host_memory_bytes()},
                                        options.scheduler);
  metrics.add_collector(render_process_metrics);

  fnd::store::TokenRepository tokens(**database, clock);
  fnd::store::AuditLog audit_log(**database);
  fnd::gateway::AccessControl access(tokens, options.gateway.admin_group);
  fnd::gateway::AuditTrail audit(audit_log, blocking.get_executor(), options.gateway.audit_retention);

  auto& deployments = scheduling.deployments();
  fnd::gateway::FunctionApi api(deployments, scheduling.status(), repository, code, logs, &secrets, audit,
                                blocking.get_executor());
  // A changed secret reaches running functions through a new revision: new instances read it.
  fnd::gateway::SecurityApi security(tokens, secrets, audit_log, access, audit, [&deployments](const std::string& secret) {
    for (const auto& name : deployments.users_of_secret(secret)) {
      if (auto rolled = deployments.roll(name); !rolled) {
        spdlog::warn("secret {} changed but function {} could not be rolled: {}", secret, name, rolled.error().message);
      }
    }
  });

  // Eventing: brokers' durable log in its own file (its fsyncs never slow fnd.db), brokers and
  // triggers declared in fnd.db, deliveries through the same Invoker as HTTP calls.
  fnd::store::EventLogOptions log_options;
  log_options.dedup_window = options.eventing.dedup_window;
  log_options.retention = options.eventing.retention;
  auto event_log = fnd::store::EventLog::open(state_dir + "/events.db", log_options, clock);
  if (!event_log) fail(event_log.error().message);
  fnd::store::ResourceRepository resources(**database);
  // kafka:TOPIC destinations: one idempotent producer for the configured cluster, if any.
  std::unique_ptr<fnd::eventing::KafkaSink> kafka_sink;
  const bool kafka_backend = options.eventing.backend == "kafka";
  if (!kafka_backend && options.eventing.backend != "log") {
    fail(fmt::format("eventing.backend is '{}': use log or kafka", options.eventing.backend));
  }
  if (kafka_backend && options.eventing.kafka_bootstrap_servers.empty()) {
    fail("eventing.backend is kafka but eventing.kafka.bootstrap_servers is empty: name the Kafka cluster "
         "(HOST:PORT[,HOST:PORT])");
  }
  if (!options.eventing.kafka_bootstrap_servers.empty()) {
    fnd::eventing::KafkaSettings kafka_settings;
    kafka_settings.bootstrap_servers = options.eventing.kafka_bootstrap_servers;
    kafka_settings.client_id = options.eventing.kafka_client_id;
    auto sink = fnd::eventing::KafkaSink::create(kafka_settings, io.get_executor());
    if (!sink) fail(fmt::format("eventing.kafka: {}", sink.error().message));
    kafka_sink = std::move(*sink);
    metrics.add_collector([&kafka_sink](std::string& out) { kafka_sink->render_metrics(out); });
  }
  fnd::eventing::DestinationSubscriber subscriber(scheduling.invoker(), io.get_executor(), kafka_sink.get());
  fnd::eventing::EventRouter events({**event_log, resources, subscriber, io.get_executor(), blocking.get_executor(), clock},
                                    {options.eventing.max_backlog});
  fnd::eventing::AsyncInvocationOptions async_options;
  async_options.retention = options.eventing.invocation_retention;
  fnd::eventing::AsyncInvocations async_invocations({events, **event_log, resources, scheduling.invoker(), subscriber,
                                                     io.get_executor(), blocking.get_executor(), clock},
                                                    async_options);
  fnd::AccessLog access_log(options.daemon.access_log);
  fnd::gateway::InvocationHandler invocations(scheduling.invoker(), deployments.directory(), access, &async_invocations,
                                              &access_log);
  fnd::eventing::KafkaSources kafka_sources({events, resources, io.get_executor(), blocking.get_executor()},
                                            {options.eventing.kafka_client_id});
  if (kafka_backend) {
    events.use_kafka({*kafka_sink, kafka_sources, options.eventing.kafka_bootstrap_servers, "fnd.broker.",
                      std::chrono::seconds(10), options.eventing.dedup_window});
    spdlog::info("eventing: brokers keep their events in Kafka at {}", options.eventing.kafka_bootstrap_servers);
  }
  if (auto loaded = events.load(); !loaded) spdlog::error("eventing: {}", loaded.error().message);
  if (auto loaded = kafka_sources.load(); !loaded) spdlog::error("eventing: {}", loaded.error().message);
  metrics.add_collector([&kafka_sources](std::string& out) { kafka_sources.render_metrics(out); });
  fnd::gateway::EventsApi events_api(events, &async_invocations, &kafka_sources, audit);
  metrics.add_collector([&events](std::string& out) { events.render_metrics(out); });

  // Functions' key/value state, in its own file (its fsyncs never slow fnd.db or events.db), and
  // the mesh endpoint inside every instance through which functions reach it, each other and the
  // brokers. The runtime opens the endpoint's listener in each instance before it runs anything.
  auto state = fnd::store::StateStore::open(state_dir + "/state.db", {}, clock);
  if (!state) fail(state.error().message);
  fnd::store::StateStore& state_store = **state;
  deployments.subscribe([&state_store, &blocking](const fnd::scheduler::DeploymentEvent& event) {
    if (event.change != fnd::scheduler::DeploymentChange::deleted) return;
    // A function made later under the same name starts with no state.
    asio::post(blocking, [&state_store, name = event.function] {
      if (auto removed = state_store.remove_function(name); !removed) {
        spdlog::warn("the state of deleted function {} stays until its next delete: {}", name, removed.error().message);
      }
    });
  });
  // The mesh's registry: functions from the deployment events, services, call policies and
  // authorization rules from fnd.db; workload certificates from the node CA made at first start.
  auto node_ca = fnd::mesh::NodeCa::load_or_create(state_dir + "/mesh", options.mesh.trust_domain, clock);
  if (!node_ca) fail(node_ca.error().message);
  fnd::mesh::ServiceRegistry registry({io.get_executor(), resources, clock, metrics, &*node_ca}, options.mesh);
  if (auto loaded = registry.load(); !loaded) fail(loaded.error().message);
  deployments.subscribe([&registry](const fnd::scheduler::DeploymentEvent& event) {
    if (event.change == fnd::scheduler::DeploymentChange::deleted) {
      registry.function_deleted(event.function);
    } else {
      registry.function_deployed(event.function);
    }
  });
  fnd::gateway::MeshApi mesh_api(registry, audit);
  fnd::mesh::NodeEndpoint mesh({io.get_executor(), scheduling.invoker(), state_store, events, metrics, &access_log, &registry});
  runtime.set_mesh(&mesh);
  // Expired keys are gone for readers at once; their rows are removed hourly, off the io thread.
  asio::steady_timer state_purge(io);
  std::function<void()> purge_state_hourly = [&] {
    state_purge.expires_after(std::chrono::hours(1));
    state_purge.async_wait([&](const boost::system::error_code& error) {
      if (error) return;
      asio::post(blocking, [&state_store] {
        if (auto purged = state_store.purge_expired(std::chrono::system_clock::now()); !purged) {
          spdlog::warn("purging expired state: {}", purged.error().message);
        }
      });
      purge_state_hourly();
    });
  };
  purge_state_hourly();
  fnd::gateway::AdminApi admin(**database, state_dir, blocking.get_executor());
  fnd::gateway::StateAdminApi state_api(state_store, blocking.get_executor(), audit);
  fnd::gateway::Router router({api, admin, security, invocations, events_api, audit, &state_api, &mesh_api}, access, metrics,
                              options.gateway,
                              options.store.code.max_archive_bytes);
  fnd::gateway::HttpServer server(io.get_executor(), options.gateway, router);

  fnd::daemon::SystemdNotifier systemd(io.get_executor());
  asio::signal_set signals(io, SIGTERM, SIGINT);
  // SIGHUP: read the TLS certificate and key again (a renewed certificate, without a restart).
  asio::signal_set reload(io, SIGHUP);
  std::function<void()> wait_for_reload = [&] {
    reload.async_wait([&](const boost::system::error_code& error, int) {
      if (error) return;
      if (auto reloaded = server.reload_tls(); !reloaded) {
        spdlog::error("SIGHUP: kept the old TLS certificate: {}", reloaded.error().message);
      } else if (server.tls()) {
        spdlog::info("SIGHUP: TLS certificate and key reloaded");
      }
      wait_for_reload();
    });
  };
  wait_for_reload();
  int exit_code = 0;

  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto stop_with = [&](const fnd::Error& error) {
      spdlog::critical("{}", error.message);
      exit_code = 1;
      io.stop();
    };
    if (auto st = co_await runtime.check(); !st) co_return stop_with(st.error());
    co_await runtime.sweep_previous_run();
    if (auto st = server.listen(); !st) co_return stop_with(st.error());
    if (auto st = scheduling.start(); !st) co_return stop_with(st.error());
    events.start();
    async_invocations.start();
    registry.start();
    kafka_sources.start();
    server.start();
    router.set_ready(true);
    std::string address = fmt::format("{}:{}", server.host(), server.port());
    std::ofstream(state_dir + "/fnd.addr") << address << "\n";
    systemd.ready(fmt::format("serving on {}", address));
    systemd.start_watchdog();
    const std::string scheme = server.tls() ? "https" : "http";
    const auto& cells = options.scheduler.stem_cells;
    spdlog::info("fnd {} ready on {}://{} and {} (state {}, OCI runtime {}, {} functions, instance memory budget {}, "
                 "stem cells python3 {}, shell {}, node {}, pre-created containers up to {})",
                 FND_VERSION, scheme, address,
                 options.gateway.api_socket.empty() ? std::string("no local socket") : options.gateway.api_socket,
                 state_dir, runtime.oci_runtime_path(),
                 scheduling.deployments().directory().names().size(), fnd::format_bytes(scheduling.memory_budget()),
                 cells.python3, cells.shell, cells.node, options.scheduler.precreated_max);
  }, asio::detached);

  signals.async_wait([&](const boost::system::error_code& error, int signal) {
    if (error) return;
    spdlog::info("received {}: draining (up to {}) and stopping every instance", signal == SIGTERM ? "SIGTERM" : "SIGINT",
                 fnd::format_duration(options.gateway.drain_timeout));
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      router.set_ready(false);
      reload.cancel();
      systemd.stopping();
      logs.close();  // log followers end their streams instead of holding the drain
      co_await server.drain(std::chrono::steady_clock::now() + options.gateway.drain_timeout);
      co_await kafka_sources.stop();  // what the brokers took is committed; the rest comes again
      co_await async_invocations.stop();
      co_await events.stop();  // deliveries under way end (or are made again after a restart)
      // Calls between functions that the drained requests and deliveries started are done by now.
      co_await mesh.drain(std::chrono::steady_clock::now() +
                          std::min<std::chrono::milliseconds>(options.gateway.drain_timeout, std::chrono::seconds(5)));
      state_purge.cancel();
      registry.stop();
      co_await scheduling.shutdown();
      co_await runtime.stop_all();
      spdlog::info("fnd stopped ({} instances left)", runtime.live_instances());
      systemd.stop_watchdog();
      io.stop();
    }, asio::detached);
    // A second signal while draining means "now".
    signals.async_wait([&](const boost::system::error_code& again, int) {
      if (!again) {
        spdlog::warn("second signal: stopping without waiting for requests");
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
          co_await runtime.stop_all();
          co_await kafka_sources.stop();
          co_await async_invocations.stop();
          co_await events.stop();  // quick now: the instances its deliveries talk to are gone
          io.stop();
        }, asio::detached);
      }
    });
  });

  io.run();
  blocking.join();
  runtime.set_mesh(nullptr);
  fs::remove(state_dir + "/fnd.addr", ec);
  return exit_code;
}
