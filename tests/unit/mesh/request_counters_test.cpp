#include "request_counters.hpp"

#include <catch2/catch.hpp>
#include <string>

using fnd::mesh::internal::RequestCounters;

TEST_CASE("mesh requests are counted per caller, target and status, and rendered for Prometheus", "[unit]") {
  RequestCounters counters;
  counters.count("checkout", "pricing", 200);
  counters.count("checkout", "pricing", 200);
  counters.count("checkout", "state", 404);
  counters.count("odd\"one", "-", 503);
  CHECK(counters.value("checkout", "pricing", 200) == 2);
  CHECK(counters.value("checkout", "state", 404) == 1);
  CHECK(counters.value("checkout", "pricing", 500) == 0);

  std::string out;
  counters.render(out);
  CHECK(out.find("# TYPE fnd_mesh_requests_total counter\n") != std::string::npos);
  CHECK(out.find("fnd_mesh_requests_total{caller=\"checkout\",target=\"pricing\",code=\"200\"} 2\n") !=
        std::string::npos);
  CHECK(out.find("fnd_mesh_requests_total{caller=\"checkout\",target=\"state\",code=\"404\"} 1\n") !=
        std::string::npos);
  CHECK(out.find("fnd_mesh_requests_total{caller=\"odd\\\"one\",target=\"-\",code=\"503\"} 1\n") != std::string::npos);
}
