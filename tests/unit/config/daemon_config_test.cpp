#include "config/daemon_config.hpp"

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace fnd::config {
namespace {

// Writes `yaml` to a temporary file, applies it over the defaults and returns the result.
Result<DaemonConfig> apply(const std::string& yaml) {
  std::string path = (std::filesystem::temp_directory_path() / "fnd-config-test.yaml").string();
  std::ofstream(path) << yaml;
  DaemonConfig config;
  Status st = apply_config_file(config, path);
  std::remove(path.c_str());
  if (!st) return st.error();
  return config;
}

}  // namespace

TEST_CASE("the shipped fnd.yaml states exactly the built-in defaults", "[unit]") {
  DaemonConfig defaults;
  DaemonConfig shipped;
  Status st = apply_config_file(shipped, FND_SOURCE_DIR "/packaging/fnd.yaml");
  INFO((st ? "" : st.error().message));
  REQUIRE(st);
  CHECK(shipped.listen == defaults.listen);
  CHECK(shipped.state_dir == defaults.state_dir);
  CHECK(shipped.memory_budget == defaults.memory_budget);
  CHECK(shipped.stem_cells.python3 == defaults.stem_cells.python3);
  CHECK(shipped.stem_cells.shell == defaults.stem_cells.shell);
  CHECK(shipped.stem_cells.node == defaults.stem_cells.node);
  CHECK(shipped.stem_cells.idle_memory == defaults.stem_cells.idle_memory);
  CHECK(shipped.precreated_max == defaults.precreated_max);
  CHECK(shipped.runtime.start_timeout == defaults.runtime.start_timeout);
  CHECK(shipped.drain_timeout == defaults.drain_timeout);
  CHECK(shipped.limits.max_connections == defaults.limits.max_connections);
  CHECK(shipped.limits.header_timeout == defaults.limits.header_timeout);
  CHECK(shipped.limits.max_request_body == defaults.limits.max_request_body);
  CHECK(shipped.limits.max_scale == defaults.limits.max_scale);
}

TEST_CASE("warm pool sizes are read per runtime and must be small counts", "[unit]") {
  auto config = apply("scheduler:\n  stem_cells: {python3: 5, shell: 0, node: 2, idle_memory: 64Mi}\n  precreated_max: 3\n");
  REQUIRE(config);
  CHECK(config->stem_cells.python3 == 5);
  CHECK(config->stem_cells.shell == 0);
  CHECK(config->stem_cells.node == 2);
  CHECK(config->stem_cells.idle_memory == 64ULL << 20);
  CHECK(config->precreated_max == 3);

  auto too_many = apply("scheduler:\n  stem_cells: {python3: 1000}\n");
  REQUIRE_FALSE(too_many);
  CHECK_THAT(too_many.error().message, Catch::Contains("scheduler.stem_cells.python3"));
  CHECK_THAT(too_many.error().message, Catch::Contains("count from 0 to 64"));

  auto typo = apply("scheduler:\n  stem_cell: {python3: 1}\n");
  REQUIRE_FALSE(typo);
  CHECK_THAT(typo.error().message, Catch::Contains("unknown key"));
}

}  // namespace fnd::config
