// fnd: the composition root. Reads the configuration, builds every component with its settings
// and collaborators, runs the io_context, and shuts down in order on SIGTERM/SIGINT.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "config/daemon_config.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "core/units.hpp"
#include "gateway/function_api.hpp"
#include "gateway/function_directory.hpp"
#include "gateway/http_server.hpp"
#include "gateway/invoke_proxy.hpp"
#include "gateway/router.hpp"
#include "runtime/container_runtime.hpp"
#include "runtime/log_store.hpp"
#include "scheduler/precreated_pool.hpp"
#include "scheduler/scheduler.hpp"
#include "scheduler/stem_cell_pool.hpp"
#include "store/code_store.hpp"
#include "store/database.hpp"
#include "store/disk_reserve.hpp"
#include "store/function_repository.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

struct Flags {
  std::string config_file;
  std::string listen;
  std::string state_dir;
  std::string log_level;
  bool no_warm_pools = false;
};

[[noreturn]] void fail(std::string_view message) {
  spdlog::critical("{}", message);
  std::exit(1);
}

fnd::config::DaemonConfig load_config(const Flags& flags) {
  fnd::config::DaemonConfig config;
  std::string file = flags.config_file;
  if (file.empty() && fs::exists("/etc/fnd/fnd.yaml")) file = "/etc/fnd/fnd.yaml";
  if (!file.empty()) {
    if (auto st = fnd::config::apply_config_file(config, file); !st) fail(st.error().message);
  }
  if (auto st = fnd::config::apply_environment(config); !st) fail(st.error().message);
  if (!flags.listen.empty()) config.listen = flags.listen;
  if (!flags.state_dir.empty()) config.state_dir = flags.state_dir;
  if (!flags.log_level.empty()) config.log_level = flags.log_level;
  if (flags.no_warm_pools) {
    config.stem_cells.python3 = config.stem_cells.shell = config.stem_cells.node = 0;
    config.precreated_max = 0;
  }
  if (config.runtime.runtimes_dir.empty()) {
    // The build tree's fnd runs with the sources' bootstrap files (an installed copy may be
    // older); an installed fnd with the installed ones.
    std::error_code ec;
    bool in_build_tree = fs::canonical("/proc/self/exe", ec).parent_path() == fs::weakly_canonical(FND_BUILD_DIR, ec);
    config.runtime.runtimes_dir = in_build_tree || !fs::exists(std::string(FND_RUNTIMES_DIR) + "/bootstrap.py")
                                      ? FND_SOURCE_RUNTIMES_DIR
                                      : FND_RUNTIMES_DIR;
  }
  return config;
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

// Gauges read at scrape time (on the io_context's thread, like everything they read).
void describe_runtime(std::string& out, const fnd::scheduler::StemCellPool& cells, const fnd::scheduler::PrecreatedPool& precreated,
                      const fnd::runtime::ContainerRuntime& runtime) {
  using fnd::config::RuntimeKind;
  constexpr RuntimeKind kKinds[] = {RuntimeKind::python3, RuntimeKind::shell, RuntimeKind::node};
  uint32_t idle_cells = 0;
  out += "# HELP fnd_stem_cells_ready Stem cells started and waiting for a function, by runtime.\n"
         "# TYPE fnd_stem_cells_ready gauge\n";
  for (auto kind : kKinds) {
    auto counts = cells.counts(kind);
    idle_cells += counts.ready;
    out += fmt::format("fnd_stem_cells_ready{{runtime=\"{}\"}} {}\n", fnd::config::to_string(kind), counts.ready);
  }
  out += "# HELP fnd_stem_cells_taken_total Stem cells given to a function, by runtime.\n"
         "# TYPE fnd_stem_cells_taken_total counter\n";
  for (auto kind : kKinds) {
    out += fmt::format("fnd_stem_cells_taken_total{{runtime=\"{}\"}} {}\n", fnd::config::to_string(kind), cells.counts(kind).taken);
  }
  out += "# HELP fnd_stem_cell_start_failures_total Stem cells that failed to start, by runtime.\n"
         "# TYPE fnd_stem_cell_start_failures_total counter\n";
  for (auto kind : kKinds) {
    out += fmt::format("fnd_stem_cell_start_failures_total{{runtime=\"{}\"}} {}\n", fnd::config::to_string(kind),
                       cells.counts(kind).start_failures);
  }
  size_t waiting = idle_cells + precreated.created();
  out += fmt::format("# HELP fnd_precreated_containers Containers created ahead and not started yet.\n"
                     "# TYPE fnd_precreated_containers gauge\nfnd_precreated_containers {}\n", precreated.created());
  size_t live = runtime.live_instances();
  out += fmt::format("# HELP fnd_instances Function instances running or starting (stem cells and pre-created containers not included).\n"
                     "# TYPE fnd_instances gauge\nfnd_instances {}\n", live > waiting ? live - waiting : 0);
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
  app.add_flag("--no-warm-pools", flags.no_warm_pools,
               "start every instance as a plain container: no stem cells, no pre-created containers");
  app.set_version_flag("--version", std::string("fnd ") + FND_VERSION);
  CLI11_PARSE(app, argc, argv);

  fnd::install_log_repeat_limit();
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  fnd::config::DaemonConfig config = load_config(flags);
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  auto listen = fnd::config::parse_listen_address(config.listen);
  if (!listen) fail(listen.error().message);

  std::error_code ec;
  fs::create_directories(config.state_dir, ec);
  if (ec) fail(fmt::format("cannot create state dir {}: {}", config.state_dir, ec.message()));
  fs::permissions(config.state_dir, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec, ec);
  int lock_fd = lock_state_dir(config.state_dir);
  (void)lock_fd;
  fs::remove(config.state_dir + "/fnd.addr", ec);

  // Containers started with crun --detach are re-parented to us, so we can wait for their exit.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  raise_file_limit();
  ::signal(SIGPIPE, SIG_IGN);

  // One thread runs every I/O object, so the reactor needs no locks; the blocking pool only posts
  // completions back (the scheduler keeps its locking for that).
  asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  asio::thread_pool blocking(1);

  fnd::store::CodeStore code(config.state_dir + "/code", {config.limits.max_code_archive, config.limits.max_code_unpacked});
  auto database = fnd::store::Database::open(config.state_dir + "/fnd.db", code.tree_count());
  if (!database) fail(database.error().message);
  fnd::store::FunctionRepository repository(**database);
  fnd::runtime::LogStore logs(config.log_bytes_per_function);

  fnd::runtime::RuntimeOptions runtime_options;
  runtime_options.oci_runtime = config.runtime.oci_runtime;
  runtime_options.state_dir = config.state_dir;
  runtime_options.runtimes_dir = config.runtime.runtimes_dir;
  runtime_options.python = config.runtime.python;
  runtime_options.node = config.runtime.node;
  runtime_options.start_timeout = config.runtime.start_timeout;
  runtime_options.stop_timeout = config.runtime.stop_timeout;
  fnd::runtime::ContainerRuntime runtime(io.get_executor(), runtime_options, code, logs);

  fnd::SteadyClock clock;
  fnd::MetricsRegistry metrics;
  fnd::scheduler::StemCellOptions cell_options;
  cell_options.sizes = {{fnd::config::RuntimeKind::python3, config.stem_cells.python3},
                        {fnd::config::RuntimeKind::shell, config.stem_cells.shell},
                        {fnd::config::RuntimeKind::node, config.stem_cells.node}};
  cell_options.idle_limits.memory_bytes = config.stem_cells.idle_memory;
  fnd::scheduler::StemCellPool cells(io.get_executor(), runtime, cell_options);
  fnd::scheduler::PrecreatedPool precreated(io.get_executor(), runtime, config.precreated_max);
  fnd::scheduler::ContainerLauncher launcher(runtime, &cells, &precreated);
  fnd::scheduler::SchedulerOptions scheduler_options;
  scheduler_options.metrics = &metrics;
  scheduler_options.memory_budget_bytes = config.memory_budget > 0 ? config.memory_budget : host_memory_bytes() / 4 * 3;
  fnd::scheduler::Scheduler scheduler(io.get_executor(), launcher, clock, scheduler_options);
  runtime.on_instance_exit([&scheduler, &cells](const auto& instance) {
    if (instance->function().empty()) cells.cell_exited(instance);
    else scheduler.instance_exited(instance);
  });

  fnd::gateway::FunctionDirectory directory;
  if (auto st = directory.load(repository); !st) fail(st.error().message);
  for (const auto& name : directory.names()) {
    if (auto revision = directory.find(name)) scheduler.track(std::move(revision));
  }
  fnd::config::SpecLimits spec_limits{host_memory_bytes(), scheduler_options.memory_budget_bytes, config.limits.max_scale};
  fnd::store::DiskReserve disk_reserve(config.state_dir + "/disk-reserve", 8ULL << 20);
  fnd::gateway::FunctionApi api(io.get_executor(), repository, code, disk_reserve, directory, scheduler, logs,
                                blocking.get_executor(), spec_limits);
  fnd::gateway::InvokeProxy proxy(directory, scheduler, metrics, {config.runtime.start_timeout});
  fnd::gateway::AdminApi admin(**database, config.state_dir, blocking.get_executor());
  fnd::gateway::Router router(api, admin, proxy, metrics, config.limits);
  metrics.add_collector([&cells, &precreated, &runtime](std::string& out) { describe_runtime(out, cells, precreated, runtime); });
  fnd::gateway::HttpServerOptions server_options;
  server_options.host = listen->host;
  server_options.port = listen->port;
  server_options.max_connections = config.limits.max_connections;
  server_options.header_timeout = config.limits.header_timeout;
  fnd::gateway::HttpServer server(io.get_executor(), server_options, router);

  asio::signal_set signals(io, SIGTERM, SIGINT);
  int exit_code = 0;

  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    if (auto st = co_await runtime.check(); !st) {
      spdlog::critical("{}", st.error().message);
      exit_code = 1;
      io.stop();
      co_return;
    }
    co_await runtime.sweep_previous_run();
    if (auto st = server.listen(); !st) {
      spdlog::critical("{}", st.error().message);
      exit_code = 1;
      io.stop();
      co_return;
    }
    scheduler.start();
    api.start_code_collection(std::chrono::hours(1), std::chrono::hours(1));
    cells.start();
    server.start();
    router.set_ready(true);
    std::string address = fmt::format("{}:{}", listen->host, server.port());
    std::ofstream(config.state_dir + "/fnd.addr") << address << "\n";
    spdlog::info("fnd {} ready on http://{} (state {}, OCI runtime {}, {} functions, instance memory budget {}, "
                 "stem cells python3 {}, shell {}, node {}, pre-created containers up to {})",
                 FND_VERSION, address, config.state_dir, runtime.oci_runtime_path(), directory.names().size(),
                 fnd::format_bytes(scheduler_options.memory_budget_bytes), config.stem_cells.python3,
                 config.stem_cells.shell, config.stem_cells.node, config.precreated_max);
  }, asio::detached);

  signals.async_wait([&](const boost::system::error_code& error, int signal) {
    if (error) return;
    spdlog::info("received {}: draining (up to {}) and stopping every instance", signal == SIGTERM ? "SIGTERM" : "SIGINT",
                 fnd::format_duration(config.drain_timeout));
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      router.set_ready(false);
      api.stop();
      logs.close();  // log followers end their streams instead of holding the drain
      co_await server.drain(std::chrono::steady_clock::now() + config.drain_timeout);
      co_await scheduler.shutdown();
      co_await cells.shutdown();
      co_await precreated.shutdown();
      co_await runtime.stop_all();
      spdlog::info("fnd stopped ({} instances left)", runtime.live_instances());
      io.stop();
    }, asio::detached);
    // A second signal while draining means "now".
    signals.async_wait([&](const boost::system::error_code& again, int) {
      if (!again) {
        spdlog::warn("second signal: stopping without waiting for requests");
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
          co_await runtime.stop_all();
          io.stop();
        }, asio::detached);
      }
    });
  });

  io.run();
  blocking.join();
  fs::remove(config.state_dir + "/fnd.addr", ec);
  return exit_code;
}
