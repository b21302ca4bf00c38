// The Kafka binding of CloudEvents as a Kafka source reads a record: the input is header lines
// ("key: value") up to an empty line, then the value. A header line ":key: K" gives the record
// key; a head with a line ":tombstone" makes the value absent. Every event read comes back the same
// through the structured mode and, attribute by attribute as text, through the binary mode.
#include <algorithm>
#include <fmt/format.h>
#include <string>

#include "eventing/kafka_binding.hpp"
#include "event_equivalence.hpp"
#include "fuzz_check.hpp"

using namespace fnd::eventing;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [head, value] = fnd::fuzz::split_once(fnd::fuzz::as_text(data, size), "\n\n");
  KafkaRecord record;
  record.value = std::string(value);
  while (!head.empty()) {
    auto [line, rest] = fnd::fuzz::split_once(head, "\n");
    head = rest;
    if (line == ":tombstone") {
      record.value.reset();
    } else if (line.starts_with(":key: ")) {
      record.key = std::string(line.substr(6));
    } else if (auto colon = line.find(": "); colon != std::string_view::npos) {
      record.headers.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 2)));
    }
  }
  auto event = from_kafka(record);
  if (!event) {
    FND_FUZZ_CHECK(event.error().http_status == 400 || event.error().http_status == 415, event.error().message);
    return 0;
  }
  FND_FUZZ_CHECK(validate(*event).ok(), fnd::fuzz::describe(*event));
  // A key that is text becomes partitionkey; one that is not (a hash) stays a key only.
  const bool text_key = record.key && !record.key->empty() &&
                        std::all_of(record.key->begin(), record.key->end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (text_key) FND_FUZZ_CHECK(event->attribute(kPartitionKeyAttribute) != nullptr, *record.key);

  KafkaRecord structured = to_kafka(*event, KafkaContentMode::structured);
  auto again = from_kafka(structured);
  FND_FUZZ_CHECK(again.ok() && fnd::fuzz::same_event(*event, *again, true),
                 fmt::format("structured: {} -> {}", fnd::fuzz::describe(*event), structured.value.value_or("(none)")));

  KafkaRecord binary = to_kafka(*event, KafkaContentMode::binary);
  again = from_kafka(binary);
  FND_FUZZ_CHECK(again.ok(), fmt::format("binary: {} -> {}", fnd::fuzz::describe(*event), again ? "" : again.error().message));
  CloudEvent expected = *event;
  if (!expected.datacontenttype() && again->datacontenttype()) {
    expected.set_attribute("datacontenttype", std::string(*again->datacontenttype()));
  }
  FND_FUZZ_CHECK(fnd::fuzz::same_event(expected, *again, false),
                 fmt::format("binary: {} -> {}", fnd::fuzz::describe(*event), fnd::fuzz::describe(*again)));
  return 0;
}
