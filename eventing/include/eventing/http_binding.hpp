// The HTTP protocol binding of CloudEvents (http-protocol-binding.md v1.0.2): events in and out of
// HTTP messages in binary, structured and batched content modes. Plain header lists, so the
// gateway's Beast types stay out of here. Pure functions, safe from any thread.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "eventing/cloud_event.hpp"

namespace fnd::eventing {

// Header fields as (name, value), in message order. Names compare case-insensitively.
using HttpHeaderFields = std::vector<std::pair<std::string, std::string>>;

struct HttpEventMessage {
  HttpHeaderFields headers;  // Content-Type and, in binary mode, the ce- headers
  std::string body;
};

// Reads the events of a request or response; the Content-Type decides the mode:
// - application/cloudevents+json (parameters allowed): structured, one event in the JSON format;
// - application/cloudevents-batch+json: batched, zero or more events;
// - anything else, or none: binary. Attributes come from the ce-* headers (double-quoting and
//   percent-encoding undone), datacontenttype from Content-Type, data is the body (none when
//   the body is empty). Every attribute read this way is a String.
// Errors: kInvalidEvent, 400, naming the attribute or header (missing or invalid attribute, a
// ce- header given twice, a ce-datacontenttype header, a header value that does not decode to
// UTF-8); kUnsupportedEventFormat, 415, for another CloudEvents format (application/cloudevents+avro)
// unless ce-specversion is present, in which case the message is read as binary.
Result<std::vector<CloudEvent>> from_http(const HttpHeaderFields& headers, std::string_view body);

// Binary mode: one ce- header per attribute (canonical string, percent-encoded), Content-Type
// from datacontenttype (application/json when it is absent and the data is JSON text), the data
// as the body.
HttpEventMessage to_http_binary(const CloudEvent& event);
// Structured mode: Content-Type application/cloudevents+json; charset=utf-8, the JSON format.
HttpEventMessage to_http_structured(const CloudEvent& event);
// Batched mode: Content-Type application/cloudevents-batch+json; charset=utf-8.
HttpEventMessage to_http_batch(std::span<const CloudEvent> events);

}  // namespace fnd::eventing
