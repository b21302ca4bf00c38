#include "content_mode.hpp"

#include <optional>
#include <string>
#include <string_view>

#include "encoding.hpp"
#include "eventing/cloud_event.hpp"
#include "json_text.hpp"

namespace fnd::eventing::internal {

ContentMode content_mode(std::optional<std::string_view> content_type) {
  if (!content_type) return ContentMode::binary;
  std::string_view media_type = trim_ows(content_type->substr(0, content_type->find(';')));
  if (!istarts_with(media_type, "application/cloudevents")) return ContentMode::binary;
  if (iequals(media_type, "application/cloudevents+json")) return ContentMode::structured_json;
  if (iequals(media_type, "application/cloudevents-batch+json")) return ContentMode::batch_json;
  return ContentMode::unsupported;
}

std::optional<std::string> binary_content_type(const CloudEvent& event) {
  if (auto content_type = event.datacontenttype()) return std::string(*content_type);
  if (!event.data) return std::nullopt;
  if (!is_json_text(*event.data)) return std::nullopt;
  return std::string("application/json");
}

}  // namespace fnd::eventing::internal
