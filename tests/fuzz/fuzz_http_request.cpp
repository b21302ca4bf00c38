// The gateway's request reading and routing, without sockets: the bytes a client sends go through
// the same Beast parser with the same limits as HttpServer::serve (header limit first, no body
// limit until the header is in, then the route's), requests pipelined on one connection one after
// the other; each request is routed by route_of() and its query string parsed as the API does.
//
// Invariants: a body that is read is within its route's limit; a Content-Length over the limit is
// refused before any body is read; the route agrees with the target's prefix; only the code upload
// gets the code archive's limit.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <string>

#include "core/names.hpp"
#include "core/time.hpp"
#include "core/units.hpp"
#include "fuzz_check.hpp"
#include "gateway/options.hpp"
#include "gateway/router.hpp"
#include "query.hpp"

namespace http = boost::beast::http;

namespace {

using fnd::gateway::RouteKind;

// Small limits, so that inputs of a few KiB reach every one of them.
fnd::gateway::GatewayOptions fuzz_options() {
  fnd::gateway::GatewayOptions options;
  options.header_limit = 2048;
  options.max_request_body = 3000;
  return options;
}
constexpr uint64_t kCodeArchiveLimit = 6000;

// What FunctionApi::handle reads from the rest of an API target: the query, the name, ?since=.
void read_api_target(std::string_view rest) {
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  auto params = fnd::gateway::internal::parse_query(query);
  (void)fnd::gateway::internal::truthy(params["follow"]);
  if (auto since = params["since"]; !since.empty()) {
    if (!fnd::parse_rfc3339(since)) (void)fnd::parse_duration(since);
  }
  if (rest.size() > 1) {
    rest.remove_prefix(1);
    (void)fnd::validate_name("function", rest.substr(0, rest.find('/')));
  }
}

void check_route(std::string_view target, const fnd::gateway::Route& route, uint64_t limit) {
  const auto options = fuzz_options();
  switch (route.kind) {
    case RouteKind::invocation:
      FND_FUZZ_CHECK(target.starts_with("/function/") && route.rest == target.substr(10), std::string(target));
      FND_FUZZ_CHECK(limit == options.max_request_body, std::string(target));
      return;
    case RouteKind::async_invocation:
      FND_FUZZ_CHECK(target.starts_with("/async-function/") && route.rest == target.substr(16), std::string(target));
      FND_FUZZ_CHECK(limit == options.max_request_body, std::string(target));
      return;
    case RouteKind::events:
      FND_FUZZ_CHECK(target.starts_with("/events/") && route.rest.find('?') == std::string_view::npos, std::string(target));
      FND_FUZZ_CHECK(limit == options.max_request_body, std::string(target));
      return;
    case RouteKind::code_upload:
      FND_FUZZ_CHECK(target.starts_with("/api/v1/functions/") && limit == kCodeArchiveLimit, std::string(target));
      FND_FUZZ_CHECK(route.rest.substr(0, route.rest.find('?')).ends_with("/code"), std::string(target));
      read_api_target(route.rest);
      return;
    case RouteKind::functions_api:
      FND_FUZZ_CHECK(target.starts_with("/api/v1/functions") && route.rest == target.substr(17), std::string(target));
      FND_FUZZ_CHECK(limit == 1 << 20, std::string(target));
      read_api_target(route.rest);
      return;
    case RouteKind::admin_api:
      FND_FUZZ_CHECK(target.starts_with("/api/v1/admin/") && route.rest.starts_with('/'), std::string(target));
      FND_FUZZ_CHECK(limit == 1 << 20, std::string(target));
      return;
    case RouteKind::healthz:
    case RouteKind::metrics:
    case RouteKind::readyz:
    case RouteKind::other_api:
    case RouteKind::not_found:
      FND_FUZZ_CHECK(limit == 1 << 20 && route.rest == target.substr(0, target.find('?')), std::string(target));
      return;
  }
  FND_FUZZ_CHECK(false, "a route kind no switch case names");
}

// One request from the front of `input`, as HttpServer::serve reads it; returns whether the
// connection would go on to the next one, and drops the bytes used from `input`.
bool read_one_request(std::string_view& input) {
  const auto options = fuzz_options();
  http::request_parser<http::string_body> parser;
  parser.header_limit(options.header_limit);
  parser.body_limit(boost::none);
  boost::system::error_code ec;
  size_t used = parser.put(boost::asio::buffer(input.data(), input.size()), ec);
  input.remove_prefix(used);
  if (ec) return false;  // 400 or 431 (or the client stopped mid-header): the connection closes
  if (!parser.is_header_done()) return false;

  const auto& header = parser.get();
  const std::string_view target = header.target();
  const fnd::gateway::Route route = fnd::gateway::route_of(target);
  const uint64_t limit = fnd::gateway::route_body_limit(route.kind, options, kCodeArchiveLimit);
  check_route(target, route, limit);
  (void)header[http::field::expect];
  if (parser.content_length() && *parser.content_length() > limit) return false;  // 413 before the body
  parser.body_limit(limit);

  while (!parser.is_done() && !input.empty()) {
    used = parser.put(boost::asio::buffer(input.data(), input.size()), ec);
    input.remove_prefix(used);
    if (used == 0 && (!ec || ec == http::error::need_more)) break;
    if (ec && ec != http::error::need_more) return false;  // 413 body_limit or 400
  }
  if (!parser.is_done()) {
    // The client closed: what the parser makes of the end of the stream.
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return false;
  }
  const auto& request = parser.get();
  FND_FUZZ_CHECK(request.body().size() <= limit,
                 fmt::format("a body of {} bytes was read for {} whose limit is {}", request.body().size(), target, limit));
  if (parser.content_length()) {
    FND_FUZZ_CHECK(request.body().size() == *parser.content_length(), std::string(target));
  }
  if (route.kind == RouteKind::invocation) {
    // What InvocationHandler::invoke splits off: the function's name and the target it sees.
    std::string_view rest = route.rest;
    std::string_view name = rest.substr(0, rest.find_first_of("/?"));
    FND_FUZZ_CHECK(name.size() <= rest.size(), std::string(target));
  }
  return request.keep_alive();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = fnd::fuzz::as_text(data, size);
  // A kept-alive connection: requests one after the other until one closes it or the bytes end.
  for (int i = 0; i < 16 && !input.empty(); ++i) {
    if (!read_one_request(input)) break;
  }
  return 0;
}
