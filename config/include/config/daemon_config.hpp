// fnd's own settings. Built-in defaults < config file < environment (FND_*) < flags; only the
// composition root (src/fnd/main.cpp) reads this and hands each component its part.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fnd::config {

struct RuntimeSettings {
  std::string oci_runtime = "crun";        // "crun", "runc" or a path to either
  std::string runtimes_dir;                // bootstrap files; empty = the installed default
  std::string python = "/usr/bin/python3"; // interpreter for python3/shell bootstraps
  std::string node = "/usr/bin/node";      // interpreter for the node bootstrap
  std::chrono::milliseconds start_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds stop_timeout = std::chrono::seconds(2);  // SIGTERM grace before SIGKILL
};

struct LimitSettings {
  uint64_t max_request_body = 16ULL << 20;
  uint64_t max_code_archive = 64ULL << 20;    // compressed upload
  uint64_t max_code_unpacked = 256ULL << 20;  // sum of file sizes after unpacking
  uint32_t max_scale = 1000;                  // ceiling for a spec's scale.max
  uint32_t max_connections = 0;               // client connections at once; 0 = half the fd limit
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);  // a new connection's first header
};

// Stem cells kept ready per runtime (0 = none), and the memory limit of a cell until a
// function takes it.
struct StemCellSettings {
  uint32_t python3 = 2;
  uint32_t shell = 1;
  uint32_t node = 1;
  uint64_t idle_memory = 256ULL << 20;
};

struct DaemonConfig {
  std::string listen = "127.0.0.1:8080";
  std::string state_dir = "/var/lib/fnd";
  std::string log_level = "info";
  RuntimeSettings runtime;
  LimitSettings limits;
  uint64_t log_bytes_per_function = 1ULL << 20;
  uint64_t memory_budget = 0;  // instances' resources.memory summed; 0 = 75% of the host's memory
  StemCellSettings stem_cells;
  uint32_t precreated_max = 16;  // containers created ahead for functions without stem cells; 0 = none
  std::chrono::milliseconds drain_timeout = std::chrono::seconds(10);
};

// Applies a YAML config file over `config`. Unknown keys are errors (a typo must not be ignored).
Status apply_config_file(DaemonConfig& config, const std::string& path);
// Applies FND_LISTEN, FND_STATE_DIR, FND_LOG_LEVEL, FND_OCI_RUNTIME, FND_RUNTIMES_DIR.
Status apply_environment(DaemonConfig& config);

// "127.0.0.1:8080" → host and port; port 0 means "pick a free one".
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};
Result<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace fnd::config
