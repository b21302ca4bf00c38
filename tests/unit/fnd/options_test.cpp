// The daemon's settings: the shipped packaging/fnd.yaml documents every key with exactly the
// built-in default (declared once, in each module's options header).
#include "options.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <fstream>
#include <cstdio>

namespace fnd::daemon {
namespace {

// Every leaf key of a YAML document, dotted ("scheduler.stem_cells.python3").
std::vector<std::string> leaf_keys(const YAML::Node& node, const std::string& prefix = "") {
  std::vector<std::string> keys;
  for (const auto& entry : node) {
    std::string key = prefix.empty() ? entry.first.as<std::string>() : prefix + "." + entry.first.as<std::string>();
    if (entry.second.IsMap()) {
      auto nested = leaf_keys(entry.second, key);
      keys.insert(keys.end(), nested.begin(), nested.end());
    } else {
      keys.push_back(key);
    }
  }
  return keys;
}

}  // namespace

TEST_CASE("the shipped fnd.yaml states exactly the built-in defaults", "[unit]") {
  Options defaults;
  Options shipped;
  config::OptionBinder binder;
  bind_options(binder, shipped);
  Status st = binder.apply_file(FND_SOURCE_DIR "/packaging/fnd.yaml");
  INFO((st ? "" : st.error().message));
  REQUIRE(st);
  CHECK(shipped.daemon == defaults.daemon);
  CHECK(shipped.gateway == defaults.gateway);
  CHECK(shipped.store == defaults.store);
  CHECK(shipped.runtime == defaults.runtime);
  CHECK(shipped.scheduler == defaults.scheduler);
}

TEST_CASE("every key a module binds is documented in the shipped fnd.yaml", "[unit]") {
  Options options;
  config::OptionBinder binder;
  bind_options(binder, options);
  std::vector<std::string> documented = leaf_keys(YAML::LoadFile(FND_SOURCE_DIR "/packaging/fnd.yaml"));
  for (const auto& key : binder.keys()) {
    INFO(key);
    CHECK(std::find(documented.begin(), documented.end(), key) != documented.end());
  }
}

TEST_CASE("warm pool sizes are read per runtime and must be small counts", "[unit]") {
  Options options;
  config::OptionBinder binder;
  bind_options(binder, options);
  std::string path = "/tmp/fnd-options-test.yaml";
  {
    std::ofstream(path) << "scheduler:\n  stem_cells: {python3: 5, shell: 0, node: 2, idle_memory: 64Mi}\n  precreated_max: 3\n";
  }
  REQUIRE(binder.apply_file(path));
  CHECK(options.scheduler.stem_cells.python3 == 5);
  CHECK(options.scheduler.stem_cells.shell == 0);
  CHECK(options.scheduler.stem_cells.node == 2);
  CHECK(options.scheduler.stem_cells.idle_memory == 64ULL << 20);
  CHECK(options.scheduler.precreated_max == 3);
  {
    std::ofstream(path) << "scheduler:\n  stem_cells: {python3: 1000}\n";
  }
  Status too_many = binder.apply_file(path);
  REQUIRE_FALSE(too_many);
  CHECK_THAT(too_many.error().message, Catch::Contains("scheduler.stem_cells.python3") && Catch::Contains("from 0 to 64"));
  std::remove(path.c_str());
}

}  // namespace fnd::daemon
