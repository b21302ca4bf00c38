#include "core/metrics.hpp"

#include <catch2/catch.hpp>
#include <thread>
#include <vector>

namespace fnd {
namespace {

using namespace std::chrono_literals;

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

}  // namespace

TEST_CASE("histograms count each observation in the first bucket that holds it, cumulatively", "[unit]") {
  MetricsRegistry registry;
  FunctionMetrics& m = registry.function("hello");
  m.answered(200, 300us);   // <= 0.0005
  m.answered(200, 2ms);     // <= 0.0025
  m.answered(503, 90s);     // +Inf only
  m.answered(0, 1ms);       // nothing sent
  std::string text = registry.render();
  INFO(text);
  CHECK(has_line(text, R"(fnd_invocations_total{function="hello",code="2xx"} 2)"));
  CHECK(has_line(text, R"(fnd_invocations_total{function="hello",code="5xx"} 1)"));
  CHECK(has_line(text, R"(fnd_invocations_total{function="hello",code="none"} 1)"));
  CHECK(has_line(text, R"(fnd_invocation_duration_seconds_bucket{function="hello",le="0.00025"} 0)"));
  CHECK(has_line(text, R"(fnd_invocation_duration_seconds_bucket{function="hello",le="0.0005"} 1)"));
  CHECK(has_line(text, R"(fnd_invocation_duration_seconds_bucket{function="hello",le="0.001"} 2)"));
  CHECK(has_line(text, R"(fnd_invocation_duration_seconds_bucket{function="hello",le="0.0025"} 3)"));
  CHECK(has_line(text, R"(fnd_invocation_duration_seconds_bucket{function="hello",le="60"} 3)"));
  CHECK(has_line(text, R"(fnd_invocation_duration_seconds_bucket{function="hello",le="+Inf"} 4)"));
  CHECK(has_line(text, R"(fnd_invocation_duration_seconds_count{function="hello"} 4)"));
  CHECK(has_line(text, R"(fnd_invocation_duration_seconds_sum{function="hello"} 90.003300)"));
}

TEST_CASE("a function's metrics stay at one address and count updates from many threads", "[unit]") {
  MetricsRegistry registry;
  FunctionMetrics* first = &registry.function("f");
  CHECK(&registry.function("f") == first);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) registry.function("f").answered(200, 1ms);
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(first->answers[2].value() == 40000);
}

TEST_CASE("label values are escaped and collectors add their lines", "[unit]") {
  MetricsRegistry registry;
  registry.function("we\"ird\\name\n").answered(200, 1ms);
  registry.add_collector([](std::string& out) { out += "extra_gauge 7\n"; });
  std::string text = registry.render();
  CHECK(text.find(R"(function="we\"ird\\name\n")") != std::string::npos);
  CHECK(has_line(text, "extra_gauge 7"));
}

}  // namespace fnd
