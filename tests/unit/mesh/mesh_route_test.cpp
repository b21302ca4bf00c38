#include "mesh_route.hpp"

#include <catch2/catch.hpp>
#include <string>

using fnd::mesh::internal::is_endpoint_host;
using fnd::mesh::internal::is_identity_header;
using fnd::mesh::internal::MeshRoute;
using fnd::mesh::internal::parse_query;
using fnd::mesh::internal::percent_decode;
using fnd::mesh::internal::route_request;
using fnd::mesh::internal::RouteKind;

namespace {
constexpr const char* kEndpoint = "127.0.0.1:15001";
}  // namespace

TEST_CASE("/fn/NAME/... calls function NAME, which sees the rest as an absolute path", "[unit]") {
  MeshRoute route = route_request("/fn/pricing/quote?sku=7", kEndpoint);
  CHECK(route.kind == RouteKind::function);
  CHECK(route.name == "pricing");
  CHECK(route.target == "/quote?sku=7");

  CHECK(route_request("/fn/pricing", kEndpoint).target == "/");
  CHECK(route_request("/fn/pricing/", kEndpoint).target == "/");
  CHECK(route_request("/fn/pricing?sku=7", kEndpoint).target == "/?sku=7");
  CHECK(route_request("/fn/pricing/a/b/", kEndpoint).target == "/a/b/");
  CHECK(route_request("/fn/", kEndpoint).kind == RouteKind::not_found);
  CHECK(route_request("/fn", kEndpoint).kind == RouteKind::not_found);
}

TEST_CASE("/v1/state routes a key (percent-decoded, slashes kept) or the listing", "[unit]") {
  MeshRoute key = route_request("/v1/state/cart-3", kEndpoint);
  CHECK(key.kind == RouteKind::state_key);
  CHECK(key.name == "cart-3");
  CHECK(key.query.empty());

  MeshRoute encoded = route_request("/v1/state/a%2Fb%3F?ttl=30s", kEndpoint);
  CHECK(encoded.kind == RouteKind::state_key);
  CHECK(encoded.name == "a/b?");
  CHECK(encoded.query == "ttl=30s");
  CHECK(route_request("/v1/state/users/3/cart", kEndpoint).name == "users/3/cart");

  MeshRoute list = route_request("/v1/state?prefix=cart-", kEndpoint);
  CHECK(list.kind == RouteKind::state_list);
  CHECK(list.query == "prefix=cart-");
  CHECK(route_request("/v1/state", kEndpoint).kind == RouteKind::state_list);
  CHECK(route_request("/v1/state/", kEndpoint).kind == RouteKind::state_list);
  CHECK(route_request("/v1/statements", kEndpoint).kind == RouteKind::not_found);
}

TEST_CASE("/v1/events/BROKER publishes to one broker, /svc is a service, anything else is not found", "[unit]") {
  MeshRoute events = route_request("/v1/events/default", kEndpoint);
  CHECK(events.kind == RouteKind::events);
  CHECK(events.name == "default");
  CHECK(route_request("/v1/events/", kEndpoint).kind == RouteKind::not_found);
  CHECK(route_request("/v1/events/a/b", kEndpoint).kind == RouteKind::not_found);

  MeshRoute service = route_request("/svc/users/v1/users/3", kEndpoint);
  CHECK(service.kind == RouteKind::service);
  CHECK(service.name == "users");
  CHECK(service.target == "/v1/users/3");
  CHECK(route_request("/svc", kEndpoint).kind == RouteKind::service);
  MeshRoute query = route_request("/svc/users?id=3", kEndpoint);
  CHECK(query.name == "users");
  CHECK(query.target == "/?id=3");
  CHECK(route_request("/svc/users", kEndpoint).target == "/");

  MeshRoute nothing = route_request("/function/pricing", kEndpoint);
  CHECK(nothing.kind == RouteKind::not_found);
  CHECK(nothing.message.find("/function/pricing") != std::string::npos);
  CHECK(nothing.message.find("/fn/NAME") != std::string::npos);
}

TEST_CASE("an absolute http:// target is proxy mode: its host names the function", "[unit]") {
  MeshRoute route = route_request("http://pricing/quote?sku=7", kEndpoint);
  CHECK(route.kind == RouteKind::function);
  CHECK(route.name == "pricing");
  CHECK(route.target == "/quote?sku=7");

  MeshRoute with_port = route_request("HTTP://Pricing:8080", "ignored");
  CHECK(with_port.kind == RouteKind::function);
  CHECK(with_port.name == "pricing");
  CHECK(with_port.target == "/");
  CHECK(route_request("http://pricing?sku=7", kEndpoint).target == "/?sku=7");
  CHECK(route_request("http://pricing/a#fragment", kEndpoint).target == "/a");

  // The authority wins over Host, both ways.
  CHECK(route_request("http://pricing/quote", "billing").name == "pricing");
  MeshRoute api = route_request("http://127.0.0.1:15001/fn/billing/x", "pricing");
  CHECK(api.kind == RouteKind::function);
  CHECK(api.name == "billing");
  CHECK(api.target == "/x");
  CHECK(route_request("http://localhost/v1/state/k", kEndpoint).kind == RouteKind::state_key);
}

TEST_CASE("Host: NAME with an origin-form target is proxy mode too", "[unit]") {
  MeshRoute route = route_request("/quote?sku=7", "pricing");
  CHECK(route.kind == RouteKind::function);
  CHECK(route.name == "pricing");
  CHECK(route.target == "/quote?sku=7");
  CHECK(route_request("/fn/x", "Pricing:80").name == "pricing");  // the whole path goes to the function
  CHECK(route_request("/fn/x", "Pricing:80").target == "/fn/x");

  for (const char* endpoint : {"127.0.0.1:15001", "127.0.0.1", "localhost:15001", "LOCALHOST", "[::1]:15001", ""}) {
    INFO(endpoint);
    CHECK(is_endpoint_host(endpoint));
    CHECK(route_request("/quote", endpoint).kind == RouteKind::not_found);
  }
  CHECK_FALSE(is_endpoint_host("pricing"));
  CHECK_FALSE(is_endpoint_host("10.0.0.1"));

  MeshRoute bad = route_request("/quote", "not_a_function.example.com");
  CHECK(bad.kind == RouteKind::not_found);
  CHECK(bad.message.find("not_a_function.example.com") != std::string::npos);
}

TEST_CASE("targets the mesh cannot route are bad requests that say why", "[unit]") {
  MeshRoute connect = route_request("pricing:443", kEndpoint);
  CHECK(connect.kind == RouteKind::bad_request);
  CHECK(connect.message.find("pricing:443") != std::string::npos);
  CHECK(route_request("https://pricing/", kEndpoint).kind == RouteKind::bad_request);
  CHECK(route_request("http:///path", kEndpoint).kind == RouteKind::bad_request);
  CHECK(route_request("http://admin@pricing/", kEndpoint).kind == RouteKind::bad_request);
  CHECK(route_request("*", kEndpoint).kind == RouteKind::bad_request);
}

TEST_CASE("identity fields a function sends are recognised whatever their case", "[unit]") {
  for (const char* name : {"X-Fnd-Caller", "x-fnd-caller", "X-FND-CALLER", "X-Fnd-Spiffe-Id", "Fn-Caller",
                           "fn-caller-id", "X-Forwarded-Client-Cert", "x-forwarded-client-cert"}) {
    INFO(name);
    CHECK(is_identity_header(name));
  }
  for (const char* name :
       {"Content-Type", "X-Caller", "Fn-Revision", "Authorization", "X-Fnd", "X-Forwarded-For", "Host"}) {
    INFO(name);
    CHECK_FALSE(is_identity_header(name));
  }
}

TEST_CASE("percent-decoding keeps what is not an escape and leaves '+' alone", "[unit]") {
  CHECK(percent_decode("%41%2f%2F") == "A//");
  CHECK(percent_decode("a+b") == "a+b");
  CHECK(percent_decode("%4") == "%4");
  CHECK(percent_decode("abc%") == "abc%");
  CHECK(percent_decode("%zz%4g") == "%zz%4g");
  CHECK(percent_decode("%e2%82%ac") == "\xe2\x82\xac");

  auto query = parse_query("prefix=cart%2D&limit=10&&flag&prefix=last");
  CHECK(query.at("prefix") == "last");
  CHECK(query.at("limit") == "10");
  CHECK(query.at("flag").empty());
  CHECK(query.size() == 3);
}

TEST_CASE("/fn/NAME@TAG names the revision TAG after the function's name", "[unit]") {
  MeshRoute route = route_request("/fn/pricing@canary/quote?sku=7", kEndpoint);
  CHECK(route.kind == RouteKind::function);
  CHECK(route.name == "pricing");
  CHECK(route.revision == "canary");
  CHECK(route.target == "/quote?sku=7");
  CHECK(route_request("/fn/pricing@r4", kEndpoint).revision == "r4");
  CHECK(route_request("/fn/pricing@r4", kEndpoint).target == "/");
  CHECK(route_request("/fn/pricing/a@b", kEndpoint).revision.empty());
}

TEST_CASE("/v1/stores/STORE routes a shared store's key, or its listing and bulk calls", "[unit]") {
  MeshRoute key = route_request("/v1/stores/carts/cart%2F3?ttl=1h", kEndpoint);
  CHECK(key.kind == RouteKind::state_key);
  CHECK(key.store == "carts");
  CHECK(key.name == "cart/3");
  CHECK(key.query == "ttl=1h");
  MeshRoute list = route_request("/v1/stores/carts?prefix=cart-", kEndpoint);
  CHECK(list.kind == RouteKind::state_list);
  CHECK(list.store == "carts");
  CHECK(list.query == "prefix=cart-");
  CHECK(route_request("/v1/stores/carts/", kEndpoint).kind == RouteKind::state_list);
  CHECK(route_request("/v1/stores/", kEndpoint).kind == RouteKind::not_found);
  CHECK(route_request("/v1/state/x", kEndpoint).store.empty());
}
