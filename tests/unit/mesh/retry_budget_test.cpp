#include <catch2/catch.hpp>

#include <chrono>

#include "mesh/retry_budget.hpp"
#include "unit/mesh/fake_clock.hpp"

using namespace std::chrono_literals;
using fnd::mesh::RetryBudget;
using fnd::mesh::RetryBudgetSettings;
using fnd::mesh::test::FakeClock;

namespace {
int spend_all(RetryBudget& budget, int at_most = 1000) {
  int spent = 0;
  while (spent < at_most && budget.try_spend_retry()) ++spent;
  return spent;
}
void requests(RetryBudget& budget, int n) {
  for (int i = 0; i < n; ++i) budget.record_request();
}
}  // namespace

TEST_CASE("with no traffic the floor allows min_per_second retries each second", "[unit]") {
  FakeClock clock;
  RetryBudget budget(RetryBudgetSettings{}, clock);
  CHECK(spend_all(budget) == 3);
  CHECK(budget.retries_refused_total() == 1);
  clock.advance(900ms);
  CHECK_FALSE(budget.try_spend_retry());  // still the same second
  clock.advance(100ms);
  CHECK(spend_all(budget) == 3);
  CHECK(budget.retries_allowed_total() == 6);
  CHECK(budget.retries_refused_total() == 3);
}

TEST_CASE("retries may add at most ratio of the requests in the window", "[unit]") {
  FakeClock clock;
  RetryBudget budget(RetryBudgetSettings{}, clock);
  requests(budget, 1000);
  CHECK(spend_all(budget) == 200);
  CHECK(budget.retries_in_window() == 200);
  CHECK(budget.requests_in_window() == 1000);

  // Later in the window the ratio is spent, but the floor still lets 3 a second through.
  clock.advance(5s);
  CHECK(spend_all(budget) == 3);
  // New requests earn new retries: 100 more requests, 20 more retries (the floor's 3 are
  // already counted in the window).
  clock.advance(1s);
  requests(budget, 100);
  CHECK(spend_all(budget) == 1100 / 5 - 203);
}

TEST_CASE("the ratio wins over the floor when traffic is high, the floor when it is low", "[unit]") {
  FakeClock clock;
  RetryBudget budget(RetryBudgetSettings{}, clock);
  requests(budget, 10);  // ratio alone: 2
  CHECK(spend_all(budget) == 3);
  clock.advance(1s);
  requests(budget, 90);  // ratio: 20 over the 100 requests, 3 spent
  CHECK(spend_all(budget) == 17);
}

TEST_CASE("requests and retries leave the budget after the window", "[unit]") {
  FakeClock clock;
  RetryBudgetSettings s;
  s.min_per_second = 0;
  RetryBudget budget(s, clock);
  requests(budget, 100);
  clock.advance(9900ms);
  CHECK(budget.requests_in_window() == 100);
  CHECK(spend_all(budget) == 20);
  clock.advance(100ms);  // the requests (at 0 s) are out, the retries (at 9.9 s) still in
  CHECK(budget.requests_in_window() == 0);
  CHECK(budget.retries_in_window() == 20);
  requests(budget, 100);
  CHECK_FALSE(budget.try_spend_retry());  // 20 retries for 100 requests already in the window
  clock.advance(9900ms);                  // the retries at 9.9 s are out, the new requests in
  CHECK(budget.retries_in_window() == 0);
  CHECK(spend_all(budget) == 20);
}

TEST_CASE("a zero ratio and floor allow no retry", "[unit]") {
  FakeClock clock;
  RetryBudgetSettings s;
  s.ratio = 0;
  s.min_per_second = 0;
  RetryBudget budget(s, clock);
  requests(budget, 1000);
  CHECK_FALSE(budget.try_spend_retry());
  CHECK(budget.retries_refused_total() == 1);
  CHECK(budget.retries_allowed_total() == 0);
}

TEST_CASE("a long idle time forgets everything (the ring wraps)", "[unit]") {
  FakeClock clock;
  RetryBudgetSettings s;
  s.min_per_second = 0;
  RetryBudget budget(s, clock);
  requests(budget, 50);
  clock.advance(std::chrono::hours(5) + 37ms);
  CHECK(budget.requests_in_window() == 0);
  CHECK_FALSE(budget.try_spend_retry());
  requests(budget, 5);
  CHECK(spend_all(budget) == 1);
}
