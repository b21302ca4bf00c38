#include "mesh_route.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/names.hpp"

namespace fnd::mesh::internal {

namespace {

constexpr std::string_view kFunctions = "/fn/";
constexpr std::string_view kState = "/v1/state";
constexpr std::string_view kStores = "/v1/stores/";
constexpr std::string_view kEvents = "/v1/events/";
constexpr std::string_view kServices = "/svc";

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) { return lower(a) == lower(b); });
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && starts_with_ignoring_case(a, b);
}

// "NAME", "NAME:8080", "[::1]:15001" -> the host without the port, lower-cased.
std::string host_without_port(std::string_view authority) {
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    authority = authority.substr(0, close == std::string_view::npos ? authority.size() : close + 1);
  } else {
    authority = authority.substr(0, authority.find(':'));
  }
  std::string out(authority);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

// The part of an origin-form target before '?', and the rest from '?' on.
std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }
std::string_view query_of(std::string_view target) {
  auto mark = target.find('?');
  return mark == std::string_view::npos ? std::string_view() : target.substr(mark + 1);
}

std::string_view list_of_routes() {
  return "the mesh endpoint serves /fn/NAME/..., /v1/state/KEY, /v1/state?prefix=..., /v1/stores/STORE/KEY, "
         "/v1/events/BROKER, "
         "and http://NAME/... as a proxy";
}

MeshRoute function_route(std::string name, std::string_view target) {
  MeshRoute route;
  route.kind = RouteKind::function;
  route.name = std::move(name);
  // The function always sees an absolute path: "" and "?x" become "/" and "/?x".
  if (target.empty() || target.front() == '?') route.target = "/";
  route.target.append(target);
  return route;
}

// A function named by a Host field or URI authority (proxy form).
MeshRoute proxied(std::string_view authority, std::string_view target) {
  std::string name = host_without_port(authority);
  if (!validate_name("function", name)) {
    MeshRoute route;
    route.message = fmt::format("no function can be named '{}' (names are DNS labels such as 'pricing'); {}", name,
                                list_of_routes());
    return route;
  }
  return function_route(std::move(name), target);
}

MeshRoute api_route(std::string_view target) {
  const std::string_view path = path_of(target);
  MeshRoute route;
  if (path.starts_with(kFunctions)) {
    std::string_view rest = target.substr(kFunctions.size());
    const size_t end = rest.find_first_of("/?");
    std::string_view name = rest.substr(0, end);
    // NAME@TAG: the revision a traffic tag (or "r4") names.
    std::string_view revision;
    if (const size_t at = name.find('@'); at != std::string_view::npos) {
      revision = name.substr(at + 1);
      name = name.substr(0, at);
    }
    if (!name.empty()) {
      MeshRoute call = function_route(std::string(name), end == std::string_view::npos ? "" : rest.substr(end));
      call.revision = std::string(revision);
      return call;
    }
  } else if (path == kState || path == std::string(kState) + "/") {
    route.kind = RouteKind::state_list;
    route.query = query_of(target);
    return route;
  } else if (path.starts_with(std::string(kState) + "/")) {
    route.kind = RouteKind::state_key;
    route.name = percent_decode(path.substr(kState.size() + 1));
    route.query = query_of(target);
    return route;
  } else if (path.starts_with(kStores)) {
    // /v1/stores/STORE (list, bulk) or /v1/stores/STORE/KEY
    std::string_view rest = path.substr(kStores.size());
    const size_t slash = rest.find('/');
    route.store = percent_decode(rest.substr(0, slash));
    if (!route.store.empty()) {
      route.query = query_of(target);
      if (slash == std::string_view::npos || slash + 1 == rest.size()) {
        route.kind = RouteKind::state_list;
      } else {
        route.kind = RouteKind::state_key;
        route.name = percent_decode(rest.substr(slash + 1));
      }
      return route;
    }
  } else if (path.starts_with(kEvents)) {
    std::string_view broker = path.substr(kEvents.size());
    if (!broker.empty() && broker.find('/') == std::string_view::npos) {
      route.kind = RouteKind::events;
      route.name = percent_decode(broker);
      return route;
    }
  } else if (path == kServices || path.starts_with(std::string(kServices) + "/")) {
    route.kind = RouteKind::service;
    std::string_view rest = target.substr(std::min(path.size(), kServices.size() + 1));
    const size_t end = rest.find_first_of("/?");
    route.name = rest.substr(0, end);
    std::string_view after = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (after.empty() || after.front() == '?') route.target = "/";
    route.target.append(after);
    return route;
  }
  route.message = fmt::format("no mesh route for {}; {}", path, list_of_routes());
  return route;
}

}  // namespace

bool is_endpoint_host(std::string_view host) {
  const std::string name = host_without_port(host);
  return name.empty() || name == "127.0.0.1" || name == "localhost" || name == "[::1]";
}

MeshRoute route_request(std::string_view target, std::string_view host) {
  if (starts_with_ignoring_case(target, "http://")) {
    // Absolute form: what a client sends to its proxy. The authority wins over Host (RFC 9112 3.2.2).
    std::string_view rest = target.substr(7);
    const size_t end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    std::string_view origin = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    origin = origin.substr(0, origin.find('#'));
    if (authority.empty() || authority.find('@') != std::string_view::npos) {
      MeshRoute route;
      route.kind = RouteKind::bad_request;
      route.message = fmt::format("the request target '{}' names no host the mesh can route to", target);
      return route;
    }
    if (is_endpoint_host(authority)) return api_route(origin.empty() ? std::string_view("/") : origin);
    return proxied(authority, origin);
  }
  if (!target.starts_with('/')) {
    MeshRoute route;
    route.kind = RouteKind::bad_request;
    route.message = fmt::format(
        "the mesh cannot route the request target '{}': send a path (/fn/NAME/...) or, as a "
        "proxy, an http:// URL (https goes to services through the registry, not by CONNECT)",
        target);
    return route;
  }
  if (is_endpoint_host(host)) return api_route(target);
  return proxied(host, target);
}

bool is_identity_header(std::string_view name) {
  return starts_with_ignoring_case(name, "x-fnd-") || starts_with_ignoring_case(name, "fn-caller") ||
         equals_ignoring_case(name, "x-forwarded-client-cert");
}

std::string percent_decode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    out[percent_decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
  }
  return out;
}

}  // namespace fnd::mesh::internal
