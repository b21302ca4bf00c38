// What HTTP and Kafka share about content modes: telling the mode from a content type, and the
// content type a binary-mode message carries.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "eventing/cloud_event.hpp"

namespace fnd::eventing::internal {

enum class ContentMode {
  binary,           // not a CloudEvents media type
  structured_json,  // application/cloudevents+json
  batch_json,       // application/cloudevents-batch+json
  unsupported,      // application/cloudevents... in a format other than JSON
};

// From a Content-Type value (parameters and case ignored); an absent header is binary.
ContentMode content_mode(std::optional<std::string_view> content_type);

// The content type of a binary-mode message: datacontenttype, or application/json when it is
// absent and the data is JSON text (the JSON format's implied type, made explicit as the spec
// asks when an event moves to another binding); nullopt otherwise.
std::optional<std::string> binary_content_type(const CloudEvent& event);

}  // namespace fnd::eventing::internal
