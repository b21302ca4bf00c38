#include <catch2/catch.hpp>

#include "gateway/options.hpp"
#include "gateway/router.hpp"

using namespace fnd::gateway;

TEST_CASE("targets route by their prefix, the function's target after /function/", "[unit]") {
  CHECK(route_of("/function/hello/a?b=1").kind == RouteKind::invocation);
  CHECK(route_of("/function/hello/a?b=1").rest == "hello/a?b=1");
  CHECK(route_of("/api/v1/functions").kind == RouteKind::functions_api);
  CHECK(route_of("/api/v1/functions?x").rest == "?x");
  CHECK(route_of("/api/v1/functions/hello/logs?follow=1").kind == RouteKind::functions_api);
  CHECK(route_of("/api/v1/admin/backup").rest == "/backup");
  CHECK(route_of("/healthz?x").kind == RouteKind::healthz);
  CHECK(route_of("/readyz").kind == RouteKind::readyz);
  CHECK(route_of("/metrics").kind == RouteKind::metrics);
  CHECK(route_of("/nowhere?x").rest == "/nowhere");
}

// Found by tests/fuzz/fuzz_http_request: the code archive's body limit (64Mi by default) was
// given to any target under /api/v1/functions ending in /code, also to ones the API answers with
// 404 ("/api/v1/functionsX/code", "/api/v1/functions/a/b/code"): a client could make fnd read
// that much for nothing.
TEST_CASE("only the code upload gets the code archive's body limit", "[unit]") {
  GatewayOptions options;
  options.max_request_body = 1000;
  auto limit = [&](std::string_view target) { return route_body_limit(route_of(target).kind, options, 5000); };
  CHECK(limit("/api/v1/functions/hello/code") == 5000);
  CHECK(limit("/api/v1/functions/hello/code?x=1") == 5000);
  CHECK(limit("/api/v1/functionsX/code") == 1 << 20);
  CHECK(route_of("/api/v1/functionsX/code").kind == RouteKind::other_api);
  CHECK(route_of("/api/v1/tokens?x").kind == RouteKind::other_api);
  CHECK(route_of("/apix").kind == RouteKind::not_found);
  CHECK(limit("/api/v1/functions/a/b/code") == 1 << 20);
  CHECK(limit("/api/v1/functions//code") == 1 << 20);
  CHECK(limit("/api/v1/functions/hello") == 1 << 20);
  CHECK(limit("/function/hello/code") == 1000);
}
