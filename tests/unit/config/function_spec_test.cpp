#include <catch2/catch.hpp>

#include "config/daemon_config.hpp"
#include "config/function_spec.hpp"

using fnd::config::spec_from_yaml;

TEST_CASE("a minimal fn.yaml gets the documented defaults", "[unit]") {
  auto spec = spec_from_yaml("name: hello\nruntime: python3\nhandler: main.handle\n");
  REQUIRE(spec.ok());
  CHECK(spec->name == "hello");
  CHECK(spec->runtime == fnd::config::RuntimeKind::python3);
  CHECK(spec->timeout == std::chrono::seconds(30));
  CHECK(spec->scale.keep_alive == std::chrono::minutes(5));
  CHECK(spec->resources.memory_bytes == 128ULL << 20);
}

TEST_CASE("spec errors name the field", "[unit]") {
  auto field_of = [](std::string_view yaml) {
    auto spec = spec_from_yaml(yaml);
    REQUIRE_FALSE(spec.ok());
    return spec.error().message;
  };
  CHECK_THAT(field_of("runtime: cobol\nhandler: x\n"), Catch::Contains("'runtime'") && Catch::Contains("python3"));
  CHECK_THAT(field_of("runtime: python3\nhandler: main.handle\nscale: {maxx: 3}\n"), Catch::Contains("'scale.maxx'"));
  CHECK_THAT(field_of("runtime: python3\nhandler: main.handle\nscale: {max: x}\n"), Catch::Contains("'scale.max'"));
  CHECK_THAT(field_of("runtime: python3\nhandler: main\n"), Catch::Contains("module.function"));
  CHECK_THAT(field_of("runtime: shell\n"), Catch::Contains("'handler'"));
  CHECK_THAT(field_of("runtime: node\nhandler: index\n"), Catch::Contains("file.export"));
  CHECK_THAT(field_of("runtime: python3\nhandler: a.b\nresources: {memory: 1Mi}\n"), Catch::Contains("'resources.memory'"));
  CHECK_THAT(field_of("runtime: [\n"), Catch::Contains("line"));
  CHECK_THAT(field_of("runtime: shell\nhandler: cat\nscale: {min: 3, max: 2}\n"), Catch::Contains("'scale.min'"));
  CHECK_THAT(field_of("runtime: shell\nhandler: cat\nscale: {concurrency: 2, target: 5}\n"), Catch::Contains("'scale.target'"));
}

TEST_CASE("specs survive a JSON round trip unchanged", "[unit]") {
  auto spec = spec_from_yaml(
      "runtime: shell\nhandler: tr a-z A-Z\nenv: {DEBUG: 1, MODE: fast}\ntimeout: 1m30s\n"
      "resources: {memory: 64Mi, cpu: 0.5, pids: 10}\nscale: {concurrency: 2, max: 3, keepAlive: 10s}\n");
  REQUIRE(spec.ok());
  CHECK(spec->env.at("DEBUG") == "1");
  auto again = fnd::config::spec_from_json(fnd::config::spec_to_json(*spec));
  REQUIRE(again.ok());
  CHECK(*again == *spec);
}

TEST_CASE("listen addresses parse", "[unit]") {
  auto a = fnd::config::parse_listen_address("127.0.0.1:8080");
  REQUIRE(a.ok());
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 8080);
  CHECK(fnd::config::parse_listen_address("[::1]:0")->host == "::1");
  CHECK_FALSE(fnd::config::parse_listen_address("8080").ok());
}
