#include "config/option_binder.hpp"
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fnd::config {
namespace {

struct Fields {
  std::string name = "default";
  uint64_t size = 1;
  std::chrono::milliseconds wait{5};
  uint32_t count = 2;
};

OptionBinder bind(Fields& fields) {
  OptionBinder binder;
  binder.text("section.name", fields.name, "FND_TEST_OPTION_NAME");
  binder.bytes("section.size", fields.size);
  binder.duration("wait", fields.wait);
  binder.count("section.nested.count", fields.count, 64);
  return binder;
}

Status apply(OptionBinder& binder, const std::string& yaml) {
  // One file per process: ctest runs each test case as its own process, several at once.
  std::string path =
      (std::filesystem::temp_directory_path() / ("fnd-option-binder-test-" + std::to_string(::getpid()) + ".yaml")).string();
  std::ofstream(path) << yaml;
  Status st = binder.apply_file(path);
  std::remove(path.c_str());
  return st;
}

}  // namespace

TEST_CASE("a config file sets the bound fields and leaves the others at their defaults", "[unit]") {
  Fields fields;
  OptionBinder binder = bind(fields);
  REQUIRE(apply(binder, "section:\n  size: 64Mi\n  nested: {count: 7}\nwait: 1m30s\n"));
  CHECK(fields.name == "default");
  CHECK(fields.size == 64ULL << 20);
  CHECK(fields.count == 7);
  CHECK(fields.wait == std::chrono::seconds(90));
  CHECK(binder.keys() == std::vector<std::string>{"section.name", "section.size", "wait", "section.nested.count"});
}

TEST_CASE("unknown keys and bad values are errors naming the file and the key", "[unit]") {
  Fields fields;
  OptionBinder binder = bind(fields);
  Status typo = apply(binder, "section:\n  sise: 1\n");
  REQUIRE_FALSE(typo);
  CHECK_THAT(typo.error().message, Catch::Contains("section.sise") && Catch::Contains("unknown key"));
  Status too_many = apply(binder, "section:\n  nested: {count: 1000}\n");
  REQUIRE_FALSE(too_many);
  CHECK_THAT(too_many.error().message, Catch::Contains("section.nested.count") && Catch::Contains("from 0 to 64"));
  Status not_a_size = apply(binder, "section: {size: lots}\n");
  REQUIRE_FALSE(not_a_size);
  CHECK_THAT(not_a_size.error().message, Catch::Contains("section.size"));
  Status a_map = apply(binder, "wait: [1, 2]\n");
  REQUIRE_FALSE(a_map);
  CHECK_THAT(a_map.error().message, Catch::Contains("single value"));
}

TEST_CASE("bound environment variables override the file", "[unit]") {
  Fields fields;
  OptionBinder binder = bind(fields);
  REQUIRE(apply(binder, "section: {name: from-file}\n"));
  ::setenv("FND_TEST_OPTION_NAME", "from-env", 1);
  REQUIRE(binder.apply_environment());
  ::unsetenv("FND_TEST_OPTION_NAME");
  CHECK(fields.name == "from-env");
}
}  // namespace fnd::config
