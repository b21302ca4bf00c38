#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/error.hpp"
#include "eventing/cloud_event.hpp"
#include "eventing/event_format.hpp"

using fnd::eventing::CloudEvent;
using fnd::eventing::parse_json_batch;
using fnd::eventing::parse_json_event;
using fnd::eventing::to_json;
using fnd::eventing::to_json_batch;

namespace {

namespace json = boost::json;

const std::filesystem::path kFormatDir = std::filesystem::path(FND_CONFORMANCE_DIR) / "cloudevents" / "format-json";

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

CloudEvent event_with(std::string id, std::string source = "https://cloudevents.io") {
  CloudEvent event;
  event.set_attribute("specversion", std::string("1.0"));
  event.set_attribute("id", std::move(id));
  event.set_attribute("type", std::string("io.cloudevents.test"));
  event.set_attribute("source", std::move(source));
  return event;
}

// The "golden" samples the conformance cases name by sampleId, written from the cases' own text.
std::map<std::string, CloudEvent> sample_events() {
  std::map<std::string, CloudEvent> samples;
  samples["minimal"] = event_with("minimal");
  CloudEvent all_core = event_with("allCore");
  all_core.set_attribute("datacontenttype", std::string("text/plain"));
  all_core.set_attribute("dataschema", std::string("https://cloudevents.io/dataschema"));
  all_core.set_attribute("subject", std::string("tests"));
  all_core.set_attribute("time", std::string("2018-04-05T17:31:00Z"));
  samples["allCore"] = all_core;
  CloudEvent with_time = event_with("minimalWithTime");
  with_time.set_attribute("time", std::string("2018-04-05T17:31:00Z"));
  samples["minimalWithTime"] = with_time;
  samples["minimalWithRelativeSource"] = event_with("minimalWithRelativeSource", "#fragment");
  CloudEvent text = event_with("simpleTextData");
  text.set_attribute("datacontenttype", std::string("text/plain"));
  text.data = "Simple text";
  samples["simpleTextData"] = text;
  CloudEvent extensions = event_with("allExtensionTypes");
  extensions.set_attribute("extinteger", int64_t{10});
  extensions.set_attribute("extboolean", true);
  extensions.set_attribute("extstring", std::string("text"));
  extensions.set_attribute("exturi", std::string("https://cloudevents.io"));
  extensions.set_attribute("exturiref", std::string("//authority/path"));
  extensions.set_attribute("exttimestamp", std::string("2023-03-31T15:12:00Z"));
  extensions.set_attribute("extbinary", std::string("TWE="));
  samples["allExtensionTypes"] = extensions;
  return samples;
}

std::map<std::string, std::vector<CloudEvent>> sample_batches() {
  auto events = sample_events();
  return {
      {"empty", {}},
      {"minimal", {events["minimal"]}},
      {"minimal2", {events["minimal"], events["minimal"]}},
      {"minimalAndAllCore", {events["minimal"], events["allCore"]}},
      {"minimalAndAllExtensionTypes", {events["minimal"], events["allExtensionTypes"]}},
  };
}

// Equal as CloudEvents: the same attributes and data, `time` compared as an instant (the cases
// write one instant with different offsets).
void check_same_event(const CloudEvent& actual, const CloudEvent& expected) {
  CHECK(actual.data == expected.data);
  REQUIRE(actual.attributes.size() == expected.attributes.size());
  for (const auto& [name, value] : expected.attributes) {
    INFO("attribute " << name);
    const auto* got = actual.attribute(name);
    REQUIRE(got != nullptr);
    if (name == "time") {
      auto got_time = fnd::eventing::parse_timestamp(std::get<std::string>(*got));
      REQUIRE(got_time);
      CHECK(got_time == fnd::eventing::parse_timestamp(std::get<std::string>(value)));
    } else {
      CHECK(*got == value);
    }
  }
}

struct Case {
  std::string id;
  std::string type;       // ValidSingleEvent, ValidBatch, InvalidSingleEvent, InvalidBatch
  std::string sample_id;  // empty for invalid cases
  std::string document;   // the event or batch as JSON text
};

std::vector<Case> read_cases(const std::string& file) {
  std::string text = read_file(kFormatDir / file);
  REQUIRE_FALSE(text.empty());
  json::object root = json::parse(text).as_object();
  std::string default_type(root.at("testType").as_string());
  std::vector<Case> cases;
  for (const json::value& test : root.at("tests").as_array()) {
    const json::object& t = test.as_object();
    Case c;
    c.id = std::string(t.at("id").as_string());
    c.type = t.contains("testType") ? std::string(t.at("testType").as_string()) : default_type;
    if (t.contains("sampleId")) c.sample_id = std::string(t.at("sampleId").as_string());
    c.document = json::serialize(t.contains("event") ? t.at("event") : t.at("batch"));
    cases.push_back(std::move(c));
  }
  return cases;
}

bool conformance_present() {
  if (std::filesystem::exists(kFormatDir)) return true;
  WARN("no CloudEvents conformance cases at " << kFormatDir << ": skipped");
  return false;
}

void check_refused(const fnd::Error& error) {
  CHECK(fnd::eventing::is_invalid_event(error));
  CHECK(error.http_status == 400);
  CHECK_FALSE(error.message.empty());
}

}  // namespace

TEST_CASE("conformance: every valid event is accepted and equals its sample", "[unit]") {
  if (!conformance_present()) return;
  auto samples = sample_events();
  auto cases = read_cases("valid-events.json");
  REQUIRE(cases.size() == 10);
  for (const Case& c : cases) {
    INFO(c.id);
    REQUIRE(c.type == "ValidSingleEvent");
    auto event = parse_json_event(c.document);
    REQUIRE(event.ok());
    REQUIRE(samples.contains(c.sample_id));
    check_same_event(*event, samples.at(c.sample_id));
    // And it survives our own serialization unchanged.
    auto again = parse_json_event(to_json(*event));
    REQUIRE(again.ok());
    CHECK(*again == *event);
  }
}

TEST_CASE("conformance: every invalid event is refused", "[unit]") {
  if (!conformance_present()) return;
  auto cases = read_cases("invalid-events.json");
  REQUIRE(cases.size() == 25);
  for (const Case& c : cases) {
    INFO(c.id);
    REQUIRE(c.type == "InvalidSingleEvent");
    auto event = parse_json_event(c.document);
    REQUIRE_FALSE(event.ok());
    check_refused(event.error());
  }
}

TEST_CASE("conformance: every valid batch is accepted and equals its sample", "[unit]") {
  if (!conformance_present()) return;
  auto samples = sample_batches();
  auto cases = read_cases("valid-batches.json");
  REQUIRE(cases.size() == 5);
  for (const Case& c : cases) {
    INFO(c.id);
    REQUIRE(c.type == "ValidBatch");
    auto batch = parse_json_batch(c.document);
    REQUIRE(batch.ok());
    REQUIRE(samples.contains(c.sample_id));
    const auto& expected = samples.at(c.sample_id);
    REQUIRE(batch->size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) check_same_event((*batch)[i], expected[i]);
    auto again = parse_json_batch(to_json_batch(*batch));
    REQUIRE(again.ok());
    CHECK(*again == *batch);
  }
}

TEST_CASE("conformance: every invalid batch is refused", "[unit]") {
  if (!conformance_present()) return;
  auto cases = read_cases("invalid-batches.json");
  REQUIRE(cases.size() == 3);
  for (const Case& c : cases) {
    INFO(c.id);
    REQUIRE(c.type == "InvalidBatch");
    auto batch = parse_json_batch(c.document);
    REQUIRE_FALSE(batch.ok());
    check_refused(batch.error());
  }
}

TEST_CASE("error messages name the attribute, the member or the batch index", "[unit]") {
  auto message = [](std::string_view text) {
    auto event = parse_json_event(text);
    REQUIRE_FALSE(event.ok());
    check_refused(event.error());
    return event.error().message;
  };
  const std::string head = R"({"specversion":"1.0","id":"1","source":"/s","type":"t")";
  CHECK_THAT(message(R"({"specversion":"1.0","source":"/s","type":"t"})"), Catch::Contains("'id' is missing"));
  CHECK_THAT(message(head + R"(,"ext":1.5})"), Catch::Contains("'ext' must be an integer"));
  CHECK_THAT(message(head + R"(,"ext":1e2})"), Catch::Contains("'ext' must be an integer"));
  CHECK_THAT(message(head + R"(,"ext":2147483648})"), Catch::Contains("'ext' is 2147483648, outside"));
  CHECK_THAT(message(head + R"(,"ext":18446744073709551615})"), Catch::Contains("'ext' is outside"));
  CHECK_THAT(message(head + R"(,"ext":{"a":1}})"), Catch::Contains("'ext' must be a string, an integer or a boolean"));
  CHECK_THAT(message(head + R"(,"ext":[1]})"), Catch::Contains("'ext' must be a string, an integer or a boolean"));
  CHECK_THAT(message(head + R"(,"data":"x","data_base64":"eA=="})"), Catch::Contains("both 'data' and 'data_base64'"));
  CHECK_THAT(message(head + R"(,"data_base64":"not base64!"})"), Catch::Contains("'data_base64' is not valid Base64"));
  CHECK_THAT(message(head + R"(,"data_base64":5})"), Catch::Contains("'data_base64' must be a Base64 string"));
  CHECK_THAT(message(head + R"(,"datacontenttype":"text/plain","data":{"a":1}})"),
             Catch::Contains("'data' must be a JSON string when datacontenttype 'text/plain' is not JSON"));
  CHECK_THAT(message(head), Catch::Contains("the event is not valid JSON"));
  CHECK_THAT(message("[]"), Catch::Contains("the event must be a JSON object"));

  auto batch = parse_json_batch("[" + head + "}," + R"({"specversion":"1.0","id":"2","source":"/s"}])");
  REQUIRE_FALSE(batch.ok());
  CHECK(batch.error().message == "event 1 of the batch: the required attribute 'type' is missing");
  auto not_array = parse_json_batch(head + "}");
  REQUIRE_FALSE(not_array.ok());
  CHECK(not_array.error().message == "the batch must be a JSON array of events");
  auto not_object = parse_json_batch("[1]");
  REQUIRE_FALSE(not_object.ok());
  CHECK(not_object.error().message == "element 0 of the batch is not a JSON object");
}

TEST_CASE("data: JSON kept as JSON text, text as text, data_base64 decoded", "[unit]") {
  const std::string head = R"({"specversion":"1.0","id":"1","source":"/s","type":"t")";
  auto parse = [](const std::string& text) {
    auto event = parse_json_event(text);
    REQUIRE(event.ok());
    return *event;
  };

  SECTION("no datacontenttype: JSON, a JSON string stays quoted") {
    CHECK(parse(head + R"(,"data":{"message":"Hello World!"}})").data == R"({"message":"Hello World!"})");
    CHECK(parse(head + R"(,"data":"I'm just a string"})").data == R"("I'm just a string")");
    CHECK(parse(head + R"(,"data":null})").data == "null");  // an explicit null payload
    CHECK_FALSE(parse(head + "}").data.has_value());
  }
  SECTION("a +json type is JSON too") {
    CHECK(parse(head + R"(,"datacontenttype":"application/vnd.x+json","data":[1,true]})").data == "[1,true]");
  }
  SECTION("another type: the string itself") {
    CHECK(parse(head + R"(,"datacontenttype":"application/xml","data":"<much wow=\"xml\"/>"})").data ==
          R"(<much wow="xml"/>)");
  }
  SECTION("data_base64, padded or not") {
    CHECK(parse(head + R"(,"data_base64":"AAEC/w=="})").data == std::string("\x00\x01\x02\xff", 4));
    CHECK(parse(head + R"(,"data_base64":"TWE"})").data == "Ma");
    CHECK(parse(head + R"(,"data_base64":""})").data == "");
    CHECK_FALSE(parse(head + R"(,"data_base64":null})").data.has_value());
  }
  SECTION("deeply nested JSON data is accepted") {
    std::string deep = std::string(100, '[') + std::string(100, ']');
    CHECK(parse(head + R"(,"data":)" + deep + "}").data == deep);
  }
}

TEST_CASE("to_json: required attributes first, data in the member its type asks for", "[unit]") {
  CloudEvent event = event_with("1", "/s");
  event.set_attribute("ext", int64_t{5});
  event.set_attribute("flag", false);
  CHECK(to_json(event) ==
        R"({"specversion":"1.0","id":"1","source":"/s","type":"io.cloudevents.test","ext":5,"flag":false})");

  event.data = R"({"a":1})";
  CHECK_THAT(to_json(event), Catch::EndsWith(R"("data":{"a":1}})"));
  event.data = "not json";  // JSON implied, but the bytes are not JSON: keep them exactly
  CHECK_THAT(to_json(event), Catch::EndsWith(R"("data_base64":"bm90IGpzb24="})"));

  event.set_attribute("datacontenttype", std::string("text/plain"));
  event.data = "line\n\"quoted\"";
  CHECK_THAT(to_json(event), Catch::EndsWith(R"("data":"line\n\"quoted\""})"));
  event.data = std::string("\xff\xfe", 2);
  CHECK_THAT(to_json(event), Catch::EndsWith(R"("data_base64":"//4="})"));

  event.set_attribute("datacontenttype", std::string("application/json"));
  event.data = R"("a string")";
  CHECK_THAT(to_json(event), Catch::EndsWith(R"("data":"a string"})"));

  for (const std::string& data :
       {std::string(R"({"a":[1,2,{"b":null}]})"), std::string("\x01\x02", 2), std::string()}) {
    CloudEvent binary = event_with("2");
    binary.set_attribute("datacontenttype", std::string("application/octet-stream"));
    binary.data = data;
    auto back = parse_json_event(to_json(binary));
    REQUIRE(back.ok());
    CHECK(*back == binary);
  }
}

TEST_CASE("to_json_batch writes an array that parses back", "[unit]") {
  std::vector<CloudEvent> events{event_with("a"), event_with("b")};
  events[1].data = "[1]";
  CHECK(to_json_batch({}) == "[]");
  auto back = parse_json_batch(to_json_batch(events));
  REQUIRE(back.ok());
  CHECK(*back == events);
}
