// The JSON event format: one event (application/cloudevents+json) and batches
// (application/cloudevents-batch+json), as the broker's ingress reads them. Every event read is
// valid and reads back the same from the JSON it is written as.
#include <fmt/format.h>
#include <string>
#include <vector>

#include "eventing/cloud_event.hpp"
#include "eventing/event_format.hpp"
#include "event_equivalence.hpp"
#include "fuzz_check.hpp"

using namespace fnd::eventing;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fnd::fuzz::as_text(data, size);
  if (auto event = parse_json_event(text)) {
    FND_FUZZ_CHECK(validate(*event).ok(), std::string(text));
    const std::string written = to_json(*event);
    auto again = parse_json_event(written);
    FND_FUZZ_CHECK(again.ok(), fmt::format("{} -> {}: {}", text, written, again ? "" : again.error().message));
    FND_FUZZ_CHECK(fnd::fuzz::same_event(*event, *again, true), fmt::format("{} -> {} -> {}", text, written, to_json(*again)));
  } else {
    FND_FUZZ_CHECK(event.error().http_status == 400 && is_invalid_event(event.error()), event.error().message);
  }
  if (auto batch = parse_json_batch(text)) {
    const std::string written = to_json_batch(*batch);
    auto again = parse_json_batch(written);
    FND_FUZZ_CHECK(again.ok() && again->size() == batch->size(), fmt::format("{} -> {}", text, written));
    for (size_t i = 0; i < batch->size(); ++i) {
      FND_FUZZ_CHECK(fnd::fuzz::same_event((*batch)[i], (*again)[i], true), fmt::format("{} -> {}", text, written));
    }
  }
  return 0;
}
