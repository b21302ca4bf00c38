// The HTTP binding of CloudEvents as the event ingress reads a request: the input is header lines
// ("Name: value", one per line) up to an empty line, then the body. Every event read comes back
// the same through the structured mode and, attribute by attribute as text, through the binary
// mode.
#include <fmt/format.h>
#include <string>
#include <vector>

#include "eventing/http_binding.hpp"
#include "event_equivalence.hpp"
#include "fuzz_check.hpp"

using namespace fnd::eventing;

namespace {

HttpHeaderFields header_lines(std::string_view head) {
  HttpHeaderFields headers;
  while (!head.empty()) {
    auto [line, rest] = fnd::fuzz::split_once(head, "\n");
    head = rest;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    headers.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
  }
  return headers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [head, body] = fnd::fuzz::split_once(fnd::fuzz::as_text(data, size), "\n\n");
  const HttpHeaderFields headers = header_lines(head);
  auto events = from_http(headers, body);
  if (!events) {
    FND_FUZZ_CHECK(events.error().http_status == 400 || events.error().http_status == 415, events.error().message);
    return 0;
  }
  for (const CloudEvent& event : *events) {
    FND_FUZZ_CHECK(validate(event).ok(), fnd::fuzz::describe(event));
    HttpEventMessage structured = to_http_structured(event);
    auto again = from_http(structured.headers, structured.body);
    FND_FUZZ_CHECK(again.ok() && again->size() == 1 && fnd::fuzz::same_event(event, again->front(), true),
                   fmt::format("structured: {} -> {}", fnd::fuzz::describe(event), structured.body));
    HttpEventMessage binary = to_http_binary(event);
    again = from_http(binary.headers, binary.body);
    FND_FUZZ_CHECK(again.ok() && again->size() == 1, fmt::format("binary: {} -> {}", fnd::fuzz::describe(event),
                                                                 again ? "" : again.error().message));
    CloudEvent expected = event;
    if (expected.data && expected.data->empty()) expected.data.reset();  // an empty body is no data
    // Binary mode writes application/json for JSON data without a datacontenttype.
    if (!expected.datacontenttype() && again->front().datacontenttype()) {
      expected.set_attribute("datacontenttype", std::string(*again->front().datacontenttype()));
    }
    FND_FUZZ_CHECK(fnd::fuzz::same_event(expected, again->front(), false),
                   fmt::format("binary: {} -> {}", fnd::fuzz::describe(event), fnd::fuzz::describe(again->front())));
  }
  if (events->size() > 1 || (!events->empty() && body.starts_with('['))) {
    HttpEventMessage batch = to_http_batch(*events);
    auto again = from_http(batch.headers, batch.body);
    FND_FUZZ_CHECK(again.ok() && again->size() == events->size(), batch.body);
  }
  return 0;
}
