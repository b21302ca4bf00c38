#include <catch2/catch.hpp>

#include "store/log_store.hpp"

using fnd::store::LogStore;
using fnd::store::LogStream;

TEST_CASE("logs keep the newest lines within the budget and count the dropped ones", "[unit]") {
  LogStore logs(1024);
  for (int i = 0; i < 100; ++i) logs.append("fn", "fn-1-abc", LogStream::stdout_stream, "line " + std::to_string(i));
  auto read = logs.read("fn", 0, std::nullopt);
  REQUIRE_FALSE(read.lines.empty());
  CHECK(read.lines.back().text == "line 99");
  CHECK(read.dropped + read.lines.size() == 100);
  CHECK(read.dropped > 0);

  // Reading on from where we stopped reports nothing dropped.
  logs.append("fn", "fn-1-abc", LogStream::stderr_stream, "after");
  auto next = logs.read("fn", read.next_sequence, std::nullopt);
  CHECK(next.dropped == 0);
  REQUIRE(next.lines.size() == 1);
  CHECK(next.lines[0].stream == LogStream::stderr_stream);
}

TEST_CASE("since filters by time and a deleted function starts a fresh history", "[unit]") {
  LogStore logs(1 << 20);
  auto t0 = std::chrono::system_clock::now();
  logs.append("fn", "i", LogStream::stdout_stream, "old", t0 - std::chrono::minutes(10));
  logs.append("fn", "i", LogStream::stdout_stream, "new", t0);
  auto recent = logs.read("fn", 0, t0 - std::chrono::minutes(1));
  REQUIRE(recent.lines.size() == 1);
  CHECK(recent.lines[0].text == "new");

  logs.remove("fn");
  logs.append("fn", "j", LogStream::stdout_stream, "reborn");
  auto fresh = logs.read("fn", 0, std::nullopt);
  CHECK(fresh.dropped == 0);
  REQUIRE(fresh.lines.size() == 1);
  CHECK(fresh.lines[0].text == "reborn");
}
