#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.hpp"
#include "eventing/cloud_event.hpp"
#include "eventing/event_format.hpp"
#include "eventing/kafka_binding.hpp"
#include "unit/eventing/feature_file.hpp"

using fnd::eventing::CloudEvent;
using fnd::eventing::from_kafka;
using fnd::eventing::KafkaContentMode;
using fnd::eventing::KafkaHeaders;
using fnd::eventing::KafkaRecord;
using fnd::eventing::to_kafka;

namespace {

KafkaHeaders required_headers() {
  return {{"ce_specversion", "1.0"},
          {"ce_id", "1234-1234-1234"},
          {"ce_type", "com.example.someevent"},
          {"ce_source", "/mycontext/subcontext"}};
}

CloudEvent read(const KafkaRecord& record) {
  auto event = from_kafka(record);
  INFO((event.ok() ? std::string() : event.error().message));
  REQUIRE(event.ok());
  return *event;
}

fnd::Error refusal(const KafkaRecord& record) {
  auto event = from_kafka(record);
  REQUIRE_FALSE(event.ok());
  return event.error();
}

std::optional<std::string> header(const KafkaHeaders& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

CloudEvent sample() {
  CloudEvent event;
  event.set_attribute("specversion", std::string("1.0"));
  event.set_attribute("id", std::string("1234-1234-1234"));
  event.set_attribute("source", std::string("/mycontext/subcontext"));
  event.set_attribute("type", std::string("com.example.someevent"));
  return event;
}

}  // namespace

TEST_CASE("conformance: the Kafka protocol binding scenarios", "[unit]") {
  auto path =
      std::filesystem::path(FND_CONFORMANCE_DIR) / "cloudevents" / "features" / "kafka-protocol-binding.feature";
  if (!std::filesystem::exists(path.parent_path())) {
    WARN("no CloudEvents conformance features at " << path.parent_path() << ": skipped");
    return;
  }
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  auto scenarios = fnd::eventing::test::read_feature(text.str());
  REQUIRE(scenarios.size() == 3);  // binary, and structured with two content types
  for (const auto& scenario : scenarios) {
    INFO(scenario.name);
    const auto* payload = fnd::eventing::test::find_step(scenario, "a Kafka message with payload");
    const auto* headers = fnd::eventing::test::find_step(scenario, "Kafka headers");
    REQUIRE(payload != nullptr);
    REQUIRE(payload->doc_string);
    REQUIRE(headers != nullptr);
    KafkaRecord record;
    record.value = *payload->doc_string;
    for (std::size_t row = 1; row < headers->table.size(); ++row) {
      REQUIRE(headers->table[row].size() == 2);
      record.headers.emplace_back(headers->table[row][0], headers->table[row][1]);
    }
    CloudEvent event = read(record);

    const auto* attributes = fnd::eventing::test::find_step(scenario, "the attributes are");
    REQUIRE(attributes != nullptr);
    REQUIRE(attributes->table.size() > 1);
    CHECK(event.attributes.size() == attributes->table.size() - 1);
    for (std::size_t row = 1; row < attributes->table.size(); ++row) {
      const auto& cells = attributes->table[row];
      REQUIRE(cells.size() == 2);
      INFO("attribute " << cells[0]);
      const auto* value = event.attribute(cells[0]);
      REQUIRE(value != nullptr);
      CHECK(fnd::eventing::to_canonical_string(*value) == cells[1]);
    }
    const auto* data = fnd::eventing::test::find_step(scenario, "the data is equal to the following JSON");
    REQUIRE(data != nullptr);
    REQUIRE(data->doc_string);
    REQUIRE(event.data);
    CHECK(boost::json::parse(*event.data) == boost::json::parse(*data->doc_string));
  }
}

TEST_CASE("binary records: ce_ headers, content-type, the value as data", "[unit]") {
  KafkaRecord record{std::nullopt, required_headers(), std::string("<a/>")};
  record.headers.emplace_back("ce_time", "2018-04-05T03:56:24Z");
  record.headers.emplace_back("ce_subject", "Euro \xE2\x82\xAC 100%");  // UTF-8 as is: Kafka needs no percent-encoding
  record.headers.emplace_back("content-type", "application/xml");
  record.headers.emplace_back("traceparent", "not an attribute");
  CloudEvent event = read(record);
  CHECK(event.id() == "1234-1234-1234");
  CHECK(event.string_attribute("subject") == "Euro \xE2\x82\xAC 100%");
  CHECK(event.datacontenttype() == "application/xml");
  CHECK(event.data == "<a/>");
  CHECK(event.attributes.size() == 7);
  CHECK(event.attribute("partitionkey") == nullptr);  // a null key adds nothing
}

TEST_CASE("a tombstone is an event without data, an empty value is empty data", "[unit]") {
  CHECK_FALSE(read(KafkaRecord{std::nullopt, required_headers(), std::nullopt}).data.has_value());
  CHECK(read(KafkaRecord{std::nullopt, required_headers(), std::string()}).data == "");
}

TEST_CASE("the record key becomes partitionkey unless the event has one", "[unit]") {
  CHECK(read(KafkaRecord{std::string("customer-42"), required_headers(), std::nullopt})
            .string_attribute("partitionkey") == "customer-42");
  KafkaHeaders headers = required_headers();
  headers.emplace_back("ce_partitionkey", "from-header");
  CHECK(read(KafkaRecord{std::string("customer-42"), headers, std::nullopt}).string_attribute("partitionkey") ==
        "from-header");
  // A binary key (a hash, an Avro key) stays a key: it cannot be a String attribute.
  CHECK(read(KafkaRecord{std::string("\xff\x00\x01", 3), required_headers(), std::nullopt}).attribute("partitionkey") ==
        nullptr);
  CHECK(read(KafkaRecord{std::string(), required_headers(), std::nullopt}).attribute("partitionkey") == nullptr);

  const std::string json = R"({"specversion":"1.0","id":"1","source":"/s","type":"t"})";
  CloudEvent structured = read(KafkaRecord{std::string("k"), {{"content-type", "application/cloudevents+json"}}, json});
  CHECK(structured.string_attribute("partitionkey") == "k");
}

TEST_CASE("binary record refusals name the attribute or header", "[unit]") {
  auto with = [](std::string key, std::string value) {
    KafkaHeaders headers = required_headers();
    headers.emplace_back(std::move(key), std::move(value));
    return KafkaRecord{std::nullopt, std::move(headers), std::nullopt};
  };
  fnd::Error duplicate = refusal(with("ce_id", "again"));
  CHECK(fnd::eventing::is_invalid_event(duplicate));
  CHECK(duplicate.http_status == 400);
  CHECK_THAT(duplicate.message, Catch::Contains("header 'ce_id' appears more than once"));
  CHECK_THAT(refusal(with("ce_subject", "\xC0\xA0")).message, Catch::Contains("header 'ce_subject' is not UTF-8"));
  CHECK_THAT(refusal(with("ce_datacontenttype", "text/plain")).message,
             Catch::Contains("remove the ce_datacontenttype"));
  CHECK_THAT(refusal(with("ce_Ext", "x")).message, Catch::Contains("attribute name 'Ext' is invalid"));
  CHECK_THAT(refusal(with("ce_time", "noon")).message, Catch::Contains("'time' must be an RFC 3339 timestamp"));

  KafkaHeaders no_source = required_headers();
  no_source.pop_back();
  fnd::Error missing = refusal(KafkaRecord{std::nullopt, no_source, std::nullopt});
  CHECK_THAT(missing.message, Catch::StartsWith("the required attribute 'source' is missing"));
  CHECK_THAT(missing.message, Catch::Contains("ce_ headers"));
}

TEST_CASE("structured records: the JSON format in the value", "[unit]") {
  const std::string json = R"({"specversion":"1.0","id":"1","source":"/s","type":"t","data":[1]})";
  CloudEvent event = read(KafkaRecord{std::nullopt, {{"Content-Type", "application/cloudevents+json"}}, json});
  CHECK(event.id() == "1");
  CHECK(event.data == "[1]");

  fnd::Error tombstone =
      refusal(KafkaRecord{std::nullopt, {{"content-type", "application/cloudevents+json"}}, std::nullopt});
  CHECK(tombstone.http_status == 400);
  CHECK_THAT(tombstone.message, Catch::Contains("needs a value"));
  CHECK_THAT(
      refusal(KafkaRecord{std::nullopt, {{"content-type", "application/cloudevents+json"}}, std::string("{}")}).message,
      Catch::Contains("'specversion' is missing"));

  for (const char* format : {"application/cloudevents-batch+json", "application/cloudevents+avro"}) {
    INFO(format);
    fnd::Error error = refusal(KafkaRecord{std::nullopt, {{"content-type", format}}, std::string("[]")});
    CHECK(error.code == fnd::eventing::kUnsupportedEventFormat);
    CHECK(error.http_status == 415);
  }
}

TEST_CASE("to_kafka binary: ce_ headers, content-type, partitionkey as the key", "[unit]") {
  CloudEvent event = sample();
  event.set_attribute("partitionkey", std::string("customer-42"));
  event.set_attribute("comexampleothervalue", int64_t{5});
  event.set_attribute("subject", std::string("Euro \xE2\x82\xAC"));
  event.set_attribute("datacontenttype", std::string("application/avro"));
  event.data = std::string("\x00\x02", 2);

  KafkaRecord record = to_kafka(event, KafkaContentMode::binary);
  CHECK(record.key == "customer-42");
  CHECK(header(record.headers, "ce_partitionkey") == "customer-42");  // the key mapper does not remove it
  CHECK(header(record.headers, "ce_comexampleothervalue") == "5");
  CHECK(header(record.headers, "ce_subject") == "Euro \xE2\x82\xAC");
  CHECK(header(record.headers, "content-type") == "application/avro");
  CHECK_FALSE(header(record.headers, "ce_datacontenttype"));
  CHECK(record.value == std::string("\x00\x02", 2));

  CloudEvent back = read(record);
  CHECK(back.data == event.data);
  CHECK(back.string_attribute("comexampleothervalue") == "5");
  CHECK(back.attributes.size() == event.attributes.size());
}

TEST_CASE("to_kafka binary: no partitionkey is a null key, no data a tombstone", "[unit]") {
  CloudEvent event = sample();
  KafkaRecord record = to_kafka(event, KafkaContentMode::binary);
  CHECK_FALSE(record.key.has_value());
  CHECK_FALSE(record.value.has_value());
  CHECK_FALSE(header(record.headers, "content-type"));
  CHECK(read(record) == event);

  event.data = R"({"a":1})";  // JSON with no datacontenttype: say so explicitly
  CHECK(header(to_kafka(event, KafkaContentMode::binary).headers, "content-type") == "application/json");
}

TEST_CASE("to_kafka structured: the JSON format, the key still from partitionkey", "[unit]") {
  CloudEvent event = sample();
  event.set_attribute("partitionkey", std::string("k1"));
  event.data = R"({"message":"Hello World!"})";
  KafkaRecord record = to_kafka(event, KafkaContentMode::structured);
  CHECK(record.key == "k1");
  CHECK(record.headers == KafkaHeaders{{"content-type", "application/cloudevents+json; charset=utf-8"}});
  REQUIRE(record.value);
  CHECK(read(record) == event);
  auto parsed = fnd::eventing::parse_json_event(*record.value);
  REQUIRE(parsed.ok());
  CHECK(*parsed == event);
}
