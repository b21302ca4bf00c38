#include "scheduler/traffic_split.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <utility>
#include <vector>

using fnd::scheduler::TrafficSpec;
using fnd::scheduler::TrafficSplit;

namespace {
const std::vector<uint32_t> kRevisions = {1, 2, 3, 4};

std::map<uint32_t, int> count_picks(const TrafficSplit& split, uint64_t seed, int n) {
  std::mt19937_64 random(seed);
  std::map<uint32_t, int> counts;
  for (int i = 0; i < n; ++i) ++counts[split.pick(random)];
  return counts;
}

fnd::Error error_of(TrafficSpec spec) {
  auto split = TrafficSplit::create("hello", std::move(spec), kRevisions);
  REQUIRE_FALSE(split.ok());
  CHECK(split.error().code == fnd::scheduler::kInvalidTraffic);
  CHECK(split.error().http_status == 422);
  CHECK(fnd::scheduler::is_invalid_traffic(split.error()));
  return split.error();
}
}  // namespace

TEST_CASE("a 90/10 split holds within 3 % over 1,000 picks", "[unit]") {
  auto split = TrafficSplit::create("hello", TrafficSpec{{{3, 90}, {4, 10}}, {}}, kRevisions);
  REQUIRE(split.ok());
  auto counts = count_picks(*split, 12345, 1000);
  CHECK(counts.size() == 2);
  CHECK(counts[3] + counts[4] == 1000);
  CHECK(counts[4] >= 70);
  CHECK(counts[4] <= 130);
}

TEST_CASE("a 90/10 split holds within 3 % over 10,000 picks, whatever the seed", "[unit]") {
  auto split = TrafficSplit::create("hello", TrafficSpec{{{3, 90}, {4, 10}}, {}}, kRevisions);
  REQUIRE(split.ok());
  for (uint64_t seed : {1ULL, 2ULL, 3ULL, 1000ULL, 0xdeadbeefULL, 987654321ULL}) {
    auto counts = count_picks(*split, seed, 10000);
    INFO("seed " << seed);
    CHECK(counts[4] >= 700);
    CHECK(counts[4] <= 1300);
    CHECK(counts[3] + counts[4] == 10000);
  }
}

TEST_CASE("a revision at 0 % is never picked, yet reachable by its tag", "[unit]") {
  auto split =
      TrafficSplit::create("hello", TrafficSpec{{{2, 100}, {4, 0}}, {{"canary", 4}, {"stable", 2}}}, kRevisions);
  REQUIRE(split.ok());
  auto counts = count_picks(*split, 5, 2000);
  CHECK(counts[2] == 2000);
  CHECK(counts.count(4) == 0);
  CHECK(split->resolve_tag("canary") == uint32_t{4});
  CHECK(split->resolve_tag("stable") == uint32_t{2});
  CHECK_FALSE(split->resolve_tag("beta"));
}

TEST_CASE("r<N> always names revision N", "[unit]") {
  auto split = TrafficSplit::single(2);
  CHECK(split.resolve_tag("r4") == uint32_t{4});
  CHECK(split.resolve_tag("r17") == uint32_t{17});
  CHECK_FALSE(split.resolve_tag("r"));
  CHECK_FALSE(split.resolve_tag("r04"));
  CHECK_FALSE(split.resolve_tag("r4x"));
  CHECK_FALSE(split.resolve_tag("r99999999999"));
  CHECK(count_picks(split, 1, 100)[2] == 100);
}

TEST_CASE("three-way split follows its weights", "[unit]") {
  auto split = TrafficSplit::create("hello", TrafficSpec{{{1, 50}, {2, 30}, {3, 20}}, {}}, kRevisions);
  REQUIRE(split.ok());
  auto counts = count_picks(*split, 77, 10000);
  CHECK(std::abs(counts[1] - 5000) <= 300);
  CHECK(std::abs(counts[2] - 3000) <= 300);
  CHECK(std::abs(counts[3] - 2000) <= 300);
}

TEST_CASE("weights must sum to 100", "[unit]") {
  auto e = error_of(TrafficSpec{{{3, 90}, {4, 20}}, {}});
  CHECK_THAT(e.message, Catch::Contains("add up to 110, not 100") && Catch::Contains("hello"));
  e = error_of(TrafficSpec{{{3, 50}}, {}});
  CHECK_THAT(e.message, Catch::Contains("add up to 50"));
}

TEST_CASE("no weights at all is valid: every call to the latest revision, tags still apply", "[unit]") {
  auto split = TrafficSplit::create("hello", TrafficSpec{{}, {{"old", 1}}}, kRevisions);
  REQUIRE(split.ok());
  CHECK(split->follows_latest());
  CHECK(split->resolve_tag("old") == uint32_t{1});
  CHECK(split->named_revisions() == std::vector<uint32_t>{1});
}

TEST_CASE("a negative or too large percent is refused", "[unit]") {
  auto e = error_of(TrafficSpec{{{3, 110}, {4, -10}}, {}});
  CHECK_THAT(e.message, Catch::Contains("revision 3 110 percent"));
  e = error_of(TrafficSpec{{{4, -10}, {3, 110}}, {}});
  CHECK_THAT(e.message, Catch::Contains("revision 4 -10 percent") && Catch::Contains("from 0 to 100"));
}

TEST_CASE("an unknown revision is refused, in a weight or a tag", "[unit]") {
  auto e = error_of(TrafficSpec{{{3, 90}, {7, 10}}, {}});
  CHECK_THAT(e.message, Catch::Contains("revision 7, which does not exist") && Catch::Contains("1, 2, 3, 4"));
  e = error_of(TrafficSpec{{{3, 100}}, {{"canary", 9}}});
  CHECK_THAT(e.message, Catch::Contains("tag 'canary'") && Catch::Contains("revision 9"));
}

TEST_CASE("duplicates are refused", "[unit]") {
  auto e = error_of(TrafficSpec{{{3, 50}, {3, 50}}, {}});
  CHECK_THAT(e.message, Catch::Contains("revision 3 twice"));
  e = error_of(TrafficSpec{{{3, 100}}, {{"canary", 4}, {"canary", 3}}});
  CHECK_THAT(e.message, Catch::Contains("tag 'canary' twice"));
}

TEST_CASE("tags must be names, and not of the form r<N>", "[unit]") {
  auto e = error_of(TrafficSpec{{{3, 100}}, {{"r4", 3}}});
  CHECK_THAT(e.message, Catch::Contains("'r4'") && Catch::Contains("choose another name"));
  e = error_of(TrafficSpec{{{3, 100}}, {{"Canary!", 3}}});
  CHECK_THAT(e.message, Catch::Contains("Canary!"));
  CHECK(TrafficSplit::create("hello", TrafficSpec{{{3, 100}}, {{"r2d2", 3}}}, kRevisions).ok());
}
