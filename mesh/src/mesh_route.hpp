// What a request to the node-level endpoint asks for, read from its request-target and Host
// alone (pure functions, safe from any thread). Private to the mesh module.
//
// API form (Host is the endpoint itself: 127.0.0.1, localhost, ::1, or none):
//   /fn/NAME[/path][?query]  a call to function NAME, which sees /path?query
//   /fn/NAME@TAG[/path]      the same, to the revision TAG names ("canary", "r4")
//   /v1/state[?query]        the caller's keys (list by prefix)
//   /v1/state/KEY[?query]    one key of the caller's store (KEY percent-decoded)
//   /v1/stores/STORE[/KEY]   the same over the shared store STORE (granted to the caller)
//   /v1/events/BROKER        a CloudEvent for BROKER
//   /svc/NAME[/path][?query] a call to registered service NAME, which sees /path?query
// Proxy form (an unmodified client with HTTP_PROXY): the absolute target http://NAME[:port]/path,
// or Host: NAME[:port] with an origin-form target, is a call to function NAME, which sees /path.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace fnd::mesh::internal {

enum class RouteKind {
  function,    // name = the function, target = what it sees
  state_key,   // name = the key (decoded), query = the query string
  state_list,  // query = the query string
  events,      // name = the broker
  service,     // name = the service (possibly empty), target = what it sees (after the name)
  not_found,   // nothing here; message says what exists
  bad_request  // the target cannot be read; message says why
};

struct MeshRoute {
  RouteKind kind = RouteKind::not_found;
  std::string name;
  std::string target;  // function and service: "/quote?sku=7" (always starts with '/')
  std::string revision;  // function: the revision selector after '@' ("canary", "r4"), or empty
  std::string store;     // state: a shared store's name (/v1/stores/STORE/...); empty: the caller's own
  std::string query;   // state: the raw query string, without '?'
  std::string message;
};

MeshRoute route_request(std::string_view target, std::string_view host);

// Whether `host` (a Host field or URI authority, port allowed) names the endpoint itself.
bool is_endpoint_host(std::string_view host);

// Whether a request field claims an identity (the caller's function, a client certificate): the
// caller's identity is the instance its connection came from, so such fields are dropped.
// Case-insensitive: X-Fnd-* (fnd's own namespace), Fn-Caller*, X-Forwarded-Client-Cert.
bool is_identity_header(std::string_view name);

// "%2F" and the like decoded; '+' stays '+' (keys have no spaces to encode), and a '%' not
// followed by two hex digits stays as it is.
std::string percent_decode(std::string_view text);
// "a=1&b=x%20y" -> {a: "1", b: "x y"}; the last value of a name wins.
std::map<std::string, std::string> parse_query(std::string_view query);

}  // namespace fnd::mesh::internal
