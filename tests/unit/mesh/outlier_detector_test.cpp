#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

#include "mesh/outlier_detector.hpp"
#include "unit/mesh/fake_clock.hpp"

using namespace std::chrono_literals;
using fnd::mesh::OutlierDetector;
using fnd::mesh::OutlierDetectorSettings;
using fnd::mesh::test::FakeClock;

namespace {
void fail(OutlierDetector& d, size_t endpoint, int times, int status = 503) {
  for (int i = 0; i < times; ++i) d.record_status(endpoint, status);
}
}  // namespace

TEST_CASE("five 5xx in a row eject an endpoint for the base ejection time", "[unit]") {
  FakeClock clock;
  OutlierDetector d(4, OutlierDetectorSettings{}, clock);
  fail(d, 1, 4);
  CHECK(d.usable(1));
  CHECK(d.consecutive_errors(1) == 4);
  d.record_status(1, 500);
  CHECK_FALSE(d.usable(1));
  CHECK(d.ejected_count() == 1);
  CHECK(d.ejections_total() == 1);
  CHECK(d.times_ejected(1) == 1);
  REQUIRE(d.ejected_until(1));
  CHECK(*d.ejected_until(1) == clock.now() + 30s);
  CHECK(d.usable(0));
  CHECK(d.usable(2));

  clock.advance(29s);
  CHECK_FALSE(d.usable(1));
  clock.advance(1s);  // comes back by itself
  CHECK(d.usable(1));
  CHECK(d.ejected_count() == 0);
  CHECK_FALSE(d.ejected_until(1));
}

TEST_CASE("connect errors count as errors, and mix with 5xx", "[unit]") {
  FakeClock clock;
  OutlierDetector d(2, OutlierDetectorSettings{}, clock);
  d.record_connect_error(0);
  fail(d, 0, 3, 502);
  d.record_connect_error(0);
  CHECK_FALSE(d.usable(0));
}

TEST_CASE("a success resets the consecutive count, 4xx is a success", "[unit]") {
  FakeClock clock;
  OutlierDetector d(2, OutlierDetectorSettings{}, clock);
  fail(d, 0, 4);
  d.record_status(0, 200);
  CHECK(d.consecutive_errors(0) == 0);
  fail(d, 0, 4);
  d.record_status(0, 404);
  fail(d, 0, 4);
  CHECK(d.usable(0));
  CHECK(d.ejections_total() == 0);
  d.record_status(0, 504);
  CHECK_FALSE(d.usable(0));
}

TEST_CASE("each ejection lasts base_ejection times the number of ejections, up to the cap", "[unit]") {
  FakeClock clock;
  OutlierDetectorSettings s;
  s.max_ejection = 100s;
  OutlierDetector d(2, s, clock);
  std::vector<std::chrono::milliseconds> rests;
  for (int round = 0; round < 5; ++round) {
    fail(d, 0, 5);
    REQUIRE(d.ejected_until(0));
    auto rest = std::chrono::duration_cast<std::chrono::milliseconds>(*d.ejected_until(0) - clock.now());
    rests.push_back(rest);
    clock.advance(rest);
    REQUIRE(d.usable(0));
  }
  CHECK(rests == std::vector<std::chrono::milliseconds>{30s, 60s, 90s, 100s, 100s});
  CHECK(d.times_ejected(0) == 5);
  CHECK(d.ejections_total() == 5);
}

TEST_CASE("errors reported for calls to an ejected endpoint do not count", "[unit]") {
  FakeClock clock;
  OutlierDetector d(2, OutlierDetectorSettings{}, clock);
  fail(d, 0, 5);
  REQUIRE_FALSE(d.usable(0));
  fail(d, 0, 20);  // answers to calls sent before the ejection
  CHECK(d.consecutive_errors(0) == 0);
  CHECK(d.ejections_total() == 1);
  clock.advance(30s);
  fail(d, 0, 4);
  CHECK(d.usable(0));
}

TEST_CASE("no more than max_ejected_percent of the endpoints are ejected at once", "[unit]") {
  FakeClock clock;
  OutlierDetector d(4, OutlierDetectorSettings{}, clock);
  REQUIRE(d.max_ejected() == 2);
  fail(d, 0, 5);
  fail(d, 1, 5);
  fail(d, 2, 5);
  CHECK_FALSE(d.usable(0));
  CHECK_FALSE(d.usable(1));
  CHECK(d.usable(2));  // the cap keeps it in
  CHECK(d.ejected_count() == 2);
  CHECK(d.ejections_total() == 2);
  CHECK(d.ejections_refused_total() == 1);

  // Once the first two are back, the next error of the third ejects it: its count was kept.
  clock.advance(30s);
  d.record_status(2, 503);
  CHECK_FALSE(d.usable(2));
  CHECK(d.ejections_total() == 3);
}

TEST_CASE("at least one endpoint stays usable, whatever the percent", "[unit]") {
  FakeClock clock;
  OutlierDetectorSettings s;
  s.max_ejected_percent = 100;
  SECTION("one endpoint is never ejected") {
    OutlierDetector d(1, s, clock);
    CHECK(d.max_ejected() == 0);
    fail(d, 0, 10);
    CHECK(d.usable(0));
    CHECK(d.ejections_total() == 0);
    CHECK(d.ejections_refused_total() == 6);
  }
  SECTION("of three, two at most") {
    OutlierDetector d(3, s, clock);
    for (size_t i = 0; i < 3; ++i) fail(d, i, 5);
    CHECK(d.ejected_count() == 2);
    CHECK(d.usable(2));
  }
  SECTION("50 % of 3 rounds down to 1") {
    s.max_ejected_percent = 50;
    OutlierDetector d(3, s, clock);
    CHECK(d.max_ejected() == 1);
  }
}

TEST_CASE("the threshold comes from the settings", "[unit]") {
  FakeClock clock;
  OutlierDetectorSettings s;
  s.consecutive_errors = 1;
  s.base_ejection = 2s;
  s.max_ejection = 10s;
  OutlierDetector d(2, s, clock);
  d.record_connect_error(1);
  CHECK_FALSE(d.usable(1));
  clock.advance(2s);
  CHECK(d.usable(1));
}
