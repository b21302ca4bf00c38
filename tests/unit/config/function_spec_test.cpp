#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <string>

#include "config/option_binder.hpp"
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

TEST_CASE("numbers in a spec must be finite and within sane bounds (issue 7.3, 7.9)", "[unit]") {
  auto error_of = [](std::string_view json_text) {
    auto json = boost::json::parse(json_text);
    auto spec = fnd::config::spec_from_json(json);
    REQUIRE_FALSE(spec.ok());
    CHECK(spec.error().http_status == 422);
    return spec.error().message;
  };
  // Each of these used to be accepted and stored as JSON that could not be read back.
  CHECK_THAT(error_of(R"({"runtime":"python3","handler":"m.h","resources":{"cpu":"NaN"}})"),
             Catch::Contains("'resources.cpu'") && Catch::Contains("finite"));
  CHECK_THAT(error_of(R"({"runtime":"python3","handler":"m.h","resources":{"cpu":"inf"}})"), Catch::Contains("'resources.cpu'"));
  CHECK_THAT(error_of(R"({"runtime":"python3","handler":"m.h","scale":{"target":"nan"}})"), Catch::Contains("'scale.target'"));
  CHECK_THAT(error_of(R"({"runtime":"python3","handler":"m.h","resources":{"memory":"1e30"}})"),
             Catch::Contains("'resources.memory'"));
  CHECK_THAT(error_of(R"({"runtime":"python3","handler":"m.h","resources":{"memory":1e30}})"), Catch::Contains("'resources.memory'"));
  CHECK_THAT(error_of(R"({"runtime":"python3","handler":"m.h","resources":{"memory":"2Ti"}})"), Catch::Contains("'resources.memory'"));
  CHECK_THAT(error_of(R"({"runtime":"python3","handler":"m.h","timeout":1e300})"), Catch::Contains("'timeout'"));
  CHECK_THAT(error_of(R"({"runtime":"python3","handler":"m.h","scale":{"keepAlive":"1000h"}})"), Catch::Contains("'scale.keepAlive'"));
  CHECK_THAT(error_of(R"({"runtime":"python3","handler":"m.h","scale":{"max":1e12}})"), Catch::Contains("'scale.max'"));

  // What passes serializes to JSON that parses back to the same spec.
  auto ok = fnd::config::spec_from_json(boost::json::parse(
      R"({"runtime":"python3","handler":"m.h","resources":{"cpu":"0.25","memory":"1.5Gi"},"timeout":2.5})"));
  REQUIRE(ok.ok());
  auto again = fnd::config::spec_from_json(boost::json::parse(fnd::config::spec_to_json_text(*ok)));
  REQUIRE(again.ok());
  CHECK(*again == *ok);
}

TEST_CASE("env with a NUL byte or beyond the kernel's limits is refused naming the variable (issue 7.10)", "[unit]") {
  auto error_of = [](const boost::json::object& env) {
    boost::json::object spec{{"runtime", "python3"}, {"handler", "m.h"}, {"env", env}};
    auto parsed = fnd::config::spec_from_json(spec);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().http_status == 422);
    return parsed.error().message;
  };
  CHECK_THAT(error_of({{"TOKEN", std::string("ab\0cd", 5)}}), Catch::Contains("'env.TOKEN'") && Catch::Contains("NUL"));
  CHECK_THAT(error_of({{std::string("A\0B", 3), "x"}}), Catch::Contains("NUL"));
  CHECK_THAT(error_of({{"HUGE", std::string(200 * 1024, 'x')}}), Catch::Contains("'env.HUGE'"));
  boost::json::object many;
  for (int i = 0; i < 5; ++i) many["PART" + std::to_string(i)] = std::string(100 * 1024, 'y');
  CHECK_THAT(error_of(many), Catch::Contains("'env.PART") && Catch::Contains("in all"));
}

TEST_CASE("a deploy may not ask for more than the host, the memory budget or limits.max_scale", "[unit]") {
  auto spec = fnd::config::spec_from_yaml("runtime: python3\nhandler: m.h\nresources: {memory: 2Gi}\nscale: {max: 50}\n");
  REQUIRE(spec.ok());
  fnd::config::SpecLimits roomy{64ULL << 30, 32ULL << 30, 100};
  CHECK(fnd::config::check_spec_limits(*spec, roomy).ok());
  auto small_host = fnd::config::check_spec_limits(*spec, {1ULL << 30, 0, 100});
  REQUIRE_FALSE(small_host.ok());
  CHECK_THAT(small_host.error().message, Catch::Contains("host's memory") && Catch::Contains("1Gi"));
  auto small_budget = fnd::config::check_spec_limits(*spec, {64ULL << 30, 1ULL << 30, 100});
  REQUIRE_FALSE(small_budget.ok());
  CHECK_THAT(small_budget.error().message, Catch::Contains("scheduler.memory_budget"));
  auto low_ceiling = fnd::config::check_spec_limits(*spec, {64ULL << 30, 0, 10});
  REQUIRE_FALSE(low_ceiling.ok());
  CHECK_THAT(low_ceiling.error().message, Catch::Contains("'scale.max'") && Catch::Contains("limits.max_scale"));
}

// Found by tests/fuzz/fuzz_function_spec: the canonical JSON (what the store keeps and fnctl
// sends) rounded sizes ("95.4Mi" for 100M) and durations ("1.23s" for 1234ms), so a deployed spec
// was not the one written, and a keepAlive just under 7 days could become unreadable.
TEST_CASE("sizes and durations of any value survive the canonical JSON exactly", "[unit]") {
  auto spec = spec_from_yaml("runtime: python3\nhandler: main.handle\ntimeout: 1234ms\n"
                             "resources: {memory: 100M}\nscale: {keepAlive: 604799.5s}\n");
  REQUIRE(spec.ok());
  CHECK(spec->resources.memory_bytes == 100'000'000);
  auto text = fnd::config::spec_to_json_text(*spec);
  auto back = fnd::config::spec_from_json(boost::json::parse(text));
  INFO(text);
  REQUIRE(back.ok());
  CHECK(*back == *spec);
  CHECK(back->timeout == std::chrono::milliseconds(1234));
  CHECK(back->resources.memory_bytes == 100'000'000);
}

// Found by tests/fuzz/fuzz_fn_yaml (timeout, then out of memory): nested aliases expanded a
// fn.yaml of a few hundred bytes into billions of JSON values.
// Found by tests/fuzz/fuzz_fn_yaml: a handler with a byte that is not UTF-8 was accepted, and the
// spec's canonical JSON (what the store keeps) could not be read back.
TEST_CASE("a fn.yaml that is not UTF-8 is refused with where", "[unit]") {
  auto spec = spec_from_yaml("runtime: shell\nhandler: ./run\xae.sh\n");
  REQUIRE_FALSE(spec.ok());
  CHECK(spec.error().http_status == 400);
  CHECK_THAT(spec.error().message, Catch::Contains("UTF-8") && Catch::Contains("line 2"));
  CHECK_FALSE(spec_from_yaml("runtime: shell\nhandler: ./run.sh\nenv: {\xffK: v}\n").ok());
  CHECK(spec_from_yaml("runtime: shell\nhandler: ./run.sh\nenv: {K: \"\xc3\xa9t\xc3\xa9\"}\n").ok());
}

TEST_CASE("a YAML whose aliases expand beyond reason is refused, not expanded", "[unit]") {
  std::string yaml = "runtime: python3\nhandler: main.handle\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    yaml += fmt::format("a{}: &a{} [*a{}, *a{}, *a{}, *a{}, *a{}, *a{}, *a{}, *a{}, *a{}, *a{}]\n", i, i, i - 1, i - 1,
                        i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
  }
  auto spec = spec_from_yaml(yaml);
  REQUIRE_FALSE(spec.ok());
  CHECK(spec.error().http_status == 400);
  CHECK_THAT(spec.error().message, Catch::Contains("aliases"));
  // Aliases within reason still work.
  CHECK(spec_from_yaml("runtime: &r python3\nhandler: main.handle\nenv: {R: *r}\n").ok());
}
