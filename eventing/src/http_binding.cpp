#include "eventing/http_binding.hpp"

#include <fmt/format.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "content_mode.hpp"
#include "core/error.hpp"
#include "encoding.hpp"
#include "eventing/cloud_event.hpp"
#include "eventing/event_format.hpp"

namespace fnd::eventing {

namespace {

constexpr std::string_view kHeaderPrefix = "ce-";
constexpr std::string_view kStructuredContentType = "application/cloudevents+json; charset=utf-8";
constexpr std::string_view kBatchContentType = "application/cloudevents-batch+json; charset=utf-8";

Error invalid(std::string message) { return make_error(std::string(kInvalidEvent), std::move(message), 400); }

std::optional<std::string_view> find_header(const HttpHeaderFields& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (internal::iequals(key, name)) return internal::trim_ows(value);
  }
  return std::nullopt;
}

Result<CloudEvent> from_binary(const HttpHeaderFields& headers, std::string_view body,
                               std::optional<std::string_view> content_type) {
  CloudEvent event;
  for (const auto& [key, raw_value] : headers) {
    if (!internal::istarts_with(key, kHeaderPrefix)) continue;
    std::string name = internal::ascii_lower(std::string_view(key).substr(kHeaderPrefix.size()));
    if (name == "datacontenttype") {
      return invalid("binary-mode events carry datacontenttype in Content-Type; remove the ce-datacontenttype header");
    }
    auto value = internal::decode_header_value(internal::trim_ows(raw_value));
    if (!value) {
      return invalid(fmt::format("header '{}' is not a valid attribute value: percent-encode it as UTF-8 (%XY)",
                                 internal::quote_for_message(key)));
    }
    if (!event.attributes.emplace(name, std::move(*value)).second) {
      return invalid(fmt::format("header '{}' appears more than once; send each attribute once",
                                 internal::quote_for_message(key)));
    }
  }
  if (content_type) event.set_attribute("datacontenttype", std::string(*content_type));
  if (auto valid = validate(event); !valid) {
    Error error = valid.error();
    error.message += " (binary content mode: attributes are read from the ce- headers)";
    return error;
  }
  // An empty body is no data: HTTP cannot tell "no body" from "empty body" reliably.
  if (!body.empty()) event.data = std::string(body);
  return event;
}

}  // namespace

Result<std::vector<CloudEvent>> from_http(const HttpHeaderFields& headers, std::string_view body) {
  std::optional<std::string_view> content_type = find_header(headers, "content-type");
  switch (internal::content_mode(content_type)) {
    case internal::ContentMode::structured_json: {
      auto event = parse_json_event(body);
      if (!event) return event.error();
      return std::vector<CloudEvent>{std::move(*event)};
    }
    case internal::ContentMode::batch_json:
      return parse_json_batch(body);
    case internal::ContentMode::unsupported:
      // The spec lets a receiver treat another CloudEvents format as opaque binary data; that only
      // makes an event when the attributes are in headers.
      if (!find_header(headers, "ce-specversion")) {
        return make_error(std::string(kUnsupportedEventFormat),
                          fmt::format("event format '{}' is not supported; send application/cloudevents+json, "
                                      "application/cloudevents-batch+json or binary mode with ce- headers",
                                      internal::quote_for_message(*content_type)),
                          415);
      }
      [[fallthrough]];
    case internal::ContentMode::binary: {
      auto event = from_binary(headers, body, content_type);
      if (!event) return event.error();
      return std::vector<CloudEvent>{std::move(*event)};
    }
  }
  return invalid("unknown content mode");  // not reached: the switch covers every mode
}

HttpEventMessage to_http_binary(const CloudEvent& event) {
  HttpEventMessage message;
  for (const auto& [name, value] : event.attributes) {
    if (name == "datacontenttype") continue;
    message.headers.emplace_back(std::string(kHeaderPrefix) + name,
                                 internal::percent_encode(to_canonical_string(value)));
  }
  if (auto content_type = internal::binary_content_type(event)) {
    message.headers.emplace_back("Content-Type", std::move(*content_type));
  }
  if (event.data) message.body = *event.data;
  return message;
}

HttpEventMessage to_http_structured(const CloudEvent& event) {
  return HttpEventMessage{{{"Content-Type", std::string(kStructuredContentType)}}, to_json(event)};
}

HttpEventMessage to_http_batch(std::span<const CloudEvent> events) {
  return HttpEventMessage{{{"Content-Type", std::string(kBatchContentType)}}, to_json_batch(events)};
}

}  // namespace fnd::eventing
