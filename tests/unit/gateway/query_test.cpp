#include <catch2/catch.hpp>

#include "query.hpp"

using namespace fnd::gateway::internal;

TEST_CASE("query strings decode and the last value wins", "[unit]") {
  auto q = parse_query("follow=1&since=5m&name=a%20b+c&since=10m&flag");
  CHECK(q["follow"] == "1");
  CHECK(q["since"] == "10m");
  CHECK(q["name"] == "a b c");
  CHECK(q.count("flag") == 1);
  CHECK(truthy("true"));
  CHECK_FALSE(truthy("0"));
  CHECK(percent_decode("%zz") == "%zz");
}
