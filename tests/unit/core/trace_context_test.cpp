// W3C traceparent: what is valid, new traces, and a new span per hop keeping the trace.
#include "core/trace_context.hpp"

#include <catch2/catch.hpp>
#include <random>
#include <set>
#include <string>

using fnd::TraceContext;

namespace {
constexpr std::string_view kExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
}  // namespace

TEST_CASE("a valid traceparent parses and reads back as it was", "[unit]") {
  auto trace = TraceContext::parse(kExample);
  REQUIRE(trace);
  CHECK(trace->field() == kExample);
  CHECK(trace->trace_id() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(trace->span_id() == "00f067aa0ba902b7");
  // A later version may carry more after the flags; fnd passes on version 00.
  auto future = TraceContext::parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes");
  REQUIRE(future);
  CHECK(future->field() == kExample);
}

TEST_CASE("an invalid traceparent is refused", "[unit]") {
  for (std::string_view bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // no flags
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // version 00 with more
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent id
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",    // separators
       }) {
    INFO(std::string(bad));
    CHECK_FALSE(TraceContext::parse(bad));
  }
}

TEST_CASE("each hop keeps the trace and flags and takes a span id of its own", "[unit]") {
  std::mt19937_64 random(7);
  auto incoming = TraceContext::parse(kExample);
  std::set<std::string> spans;
  for (int i = 0; i < 100; ++i) {
    TraceContext hop = TraceContext::hop(incoming, random);
    CHECK(hop.trace_id() == incoming->trace_id());
    CHECK(hop.field().substr(53) == "01");
    CHECK(TraceContext::parse(hop.field()));
    spans.insert(std::string(hop.span_id()));
  }
  CHECK(spans.size() == 100);
  CHECK_FALSE(spans.contains(std::string(incoming->span_id())));
}

TEST_CASE("a hop with no incoming trace starts a valid, sampled one", "[unit]") {
  std::mt19937_64 random(11);
  TraceContext first = TraceContext::hop(std::nullopt, random);
  TraceContext second = TraceContext::hop(std::nullopt, random);
  REQUIRE(TraceContext::parse(first.field()));
  CHECK(first.field().starts_with("00-"));
  CHECK(first.field().ends_with("-01"));
  CHECK(first.trace_id() != second.trace_id());
}
