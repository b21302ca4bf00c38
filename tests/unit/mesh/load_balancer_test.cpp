#include <catch2/catch.hpp>

#include <array>
#include <cstdlib>
#include <random>

#include "mesh/load_balancer.hpp"
#include "mesh/outlier_detector.hpp"
#include "unit/mesh/fake_clock.hpp"

using fnd::mesh::LeastRequestBalancer;

TEST_CASE("of two endpoints the less loaded one is always picked", "[unit]") {
  std::mt19937_64 random(1);
  LeastRequestBalancer lb(2, random);
  lb.start(0);
  for (int i = 0; i < 200; ++i) CHECK(lb.pick() == size_t{1});
  lb.start(1);
  lb.start(1);
  for (int i = 0; i < 200; ++i) CHECK(lb.pick() == size_t{0});
}

TEST_CASE("the most loaded endpoint is never picked while others are lighter", "[unit]") {
  std::mt19937_64 random(7);
  LeastRequestBalancer lb(3, random);
  for (int i = 0; i < 5; ++i) lb.start(0);
  std::array<int, 3> picks{};
  for (int i = 0; i < 1000; ++i) ++picks[*lb.pick()];
  CHECK(picks[0] == 0);
  CHECK(picks[1] > 400);
  CHECK(picks[2] > 400);
}

TEST_CASE("equal loads spread evenly", "[unit]") {
  std::mt19937_64 random(42);
  LeastRequestBalancer lb(4, random);
  std::array<int, 4> picks{};
  for (int i = 0; i < 4000; ++i) ++picks[*lb.pick()];
  for (int p : picks) CHECK(std::abs(p - 1000) < 100);
}

TEST_CASE("calls kept in flight balance the endpoints", "[unit]") {
  std::mt19937_64 random(3);
  LeastRequestBalancer lb(5, random);
  for (int i = 0; i < 500; ++i) lb.start(*lb.pick());
  for (size_t e = 0; e < 5; ++e) {
    CHECK(lb.in_flight(e) >= 95);
    CHECK(lb.in_flight(e) <= 105);
  }
  for (size_t e = 0; e < 5; ++e) {
    while (lb.in_flight(e) > 0) lb.finish(e);
  }
  CHECK(lb.in_flight(2) == 0);
}

TEST_CASE("ejected endpoints are skipped even when they are idle", "[unit]") {
  fnd::mesh::test::FakeClock clock;
  fnd::mesh::OutlierDetector outliers(4, fnd::mesh::OutlierDetectorSettings{}, clock);
  for (int i = 0; i < 5; ++i) outliers.record_status(2, 503);
  REQUIRE_FALSE(outliers.usable(2));

  std::mt19937_64 random(11);
  LeastRequestBalancer lb(4, random);
  for (size_t e : {0, 1, 3}) {
    for (int i = 0; i < 10; ++i) lb.start(e);
  }
  auto usable = [&](size_t e) { return outliers.usable(e); };
  std::array<int, 4> picks{};
  for (int i = 0; i < 300; ++i) ++picks[*lb.pick(usable)];
  CHECK(picks[2] == 0);
  CHECK(picks[0] + picks[1] + picks[3] == 300);

  // The only usable endpoint is picked without a draw; none usable: nothing.
  CHECK(lb.pick([](size_t e) { return e == 3; }) == size_t{3});
  CHECK_FALSE(lb.pick([](size_t) { return false; }));
}

TEST_CASE("no endpoints: nothing to pick", "[unit]") {
  std::mt19937_64 random(1);
  LeastRequestBalancer lb(0, random);
  CHECK_FALSE(lb.pick());
}

TEST_CASE("the same seed gives the same picks", "[unit]") {
  std::mt19937_64 a(99);
  std::mt19937_64 b(99);
  LeastRequestBalancer la(6, a);
  LeastRequestBalancer lb(6, b);
  for (int i = 0; i < 100; ++i) {
    auto pa = la.pick();
    auto pb = lb.pick();
    REQUIRE(pa == pb);
    la.start(*pa);
    lb.start(*pb);
  }
}
