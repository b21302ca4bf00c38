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
#include <variant>
#include <vector>

#include "core/error.hpp"
#include "eventing/cloud_event.hpp"
#include "eventing/event_format.hpp"
#include "eventing/http_binding.hpp"
#include "unit/eventing/feature_file.hpp"

using fnd::eventing::CloudEvent;
using fnd::eventing::from_http;
using fnd::eventing::HttpHeaderFields;
using fnd::eventing::to_http_batch;
using fnd::eventing::to_http_binary;
using fnd::eventing::to_http_structured;

namespace {

HttpHeaderFields required_headers() {
  return {{"ce-specversion", "1.0"},
          {"ce-id", "1234-1234-1234"},
          {"ce-source", "/mycontext/subcontext"},
          {"ce-type", "com.example.someevent"}};
}

CloudEvent one_event(const HttpHeaderFields& headers, std::string_view body) {
  auto events = from_http(headers, body);
  INFO((events.ok() ? std::string() : events.error().message));
  REQUIRE(events.ok());
  REQUIRE(events->size() == 1);
  return events->front();
}

fnd::Error refusal(const HttpHeaderFields& headers, std::string_view body = "") {
  auto events = from_http(headers, body);
  REQUIRE_FALSE(events.ok());
  return events.error();
}

std::optional<std::string> header(const HttpHeaderFields& headers, std::string_view name) {
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

// "POST /x HTTP/1.1", header lines, a blank line, the body: as the .feature files write requests.
struct HttpRequest {
  HttpHeaderFields headers;
  std::string body;
};

HttpRequest parse_request(std::string_view text) {
  HttpRequest request;
  std::size_t pos = text.find('\n');  // skip the request line
  while (pos != std::string_view::npos) {
    std::size_t start = pos + 1;
    std::size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (line.empty()) {
      request.body = end == std::string_view::npos ? std::string() : std::string(text.substr(end + 1));
      break;
    }
    std::size_t colon = line.find(':');
    REQUIRE(colon != std::string_view::npos);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    request.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    pos = end;
  }
  return request;
}

// The checks shared by the HTTP and Kafka scenarios: the attribute table and the JSON data.
void check_scenario_event(const fnd::eventing::test::FeatureScenario& scenario, const CloudEvent& event) {
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

}  // namespace

TEST_CASE("conformance: the HTTP protocol binding scenarios", "[unit]") {
  auto path = std::filesystem::path(FND_CONFORMANCE_DIR) / "cloudevents" / "features" / "http-protocol-binding.feature";
  if (!std::filesystem::exists(path.parent_path())) {
    WARN("no CloudEvents conformance features at " << path.parent_path() << ": skipped");
    return;
  }
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  auto scenarios = fnd::eventing::test::read_feature(text.str());
  REQUIRE(scenarios.size() == 4);  // 2 outlines x 2 content types
  for (const auto& scenario : scenarios) {
    INFO(scenario.name);
    const auto* given = fnd::eventing::test::find_step(scenario, "an HTTP request");
    REQUIRE(given != nullptr);
    REQUIRE(given->doc_string);
    HttpRequest request = parse_request(*given->doc_string);
    check_scenario_event(scenario, one_event(request.headers, request.body));
  }
}

TEST_CASE("binary mode: ce- headers, Content-Type as datacontenttype, the body as data", "[unit]") {
  HttpHeaderFields headers = required_headers();
  headers.emplace_back("ce-time", "2018-04-05T03:56:24Z");
  headers.emplace_back("ce-comexampleothervalue", "5");
  headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  headers.emplace_back("Host", "example.com");
  CloudEvent event = one_event(headers, "hello");
  CHECK(event.id() == "1234-1234-1234");
  CHECK(event.datacontenttype() == "text/plain; charset=utf-8");
  CHECK(event.data == "hello");
  // Headers carry no types: the extension is the String "5".
  CHECK(event.string_attribute("comexampleothervalue") == "5");
  CHECK(event.attribute("host") == nullptr);
  CHECK(event.attributes.size() == 7);
}

TEST_CASE("binary mode: header names in any case, no body is no data", "[unit]") {
  HttpHeaderFields headers{{"CE-SpecVersion", "1.0"}, {"Ce-Id", "1"}, {"ce-SOURCE", "/s"}, {"cE-type", "t"}};
  CloudEvent event = one_event(headers, "");
  CHECK(event.specversion() == "1.0");
  CHECK(event.source() == "/s");
  CHECK_FALSE(event.data.has_value());
  CHECK_FALSE(event.datacontenttype().has_value());
}

TEST_CASE("binary mode: header values are unquoted, then percent-decoded once", "[unit]") {
  auto subject = [](std::string value) {
    HttpHeaderFields headers = required_headers();
    headers.emplace_back("ce-subject", std::move(value));
    return std::string(one_event(headers, "").string_attribute("subject").value_or("?"));
  };
  CHECK(subject("Euro%20%E2%82%AC%20%F0%9F%98%80") == "Euro \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(subject("%e2%82%ac") == "\xE2\x82\xAC");       // lower-case hex
  CHECK(subject("%61%62c") == "abc");                  // needlessly encoded
  CHECK(subject("%2541") == "%41");                    // one round only
  CHECK(subject("\"hello world\"") == "hello world");  // older senders quoted
  CHECK(subject("\"a \\\"b\\\" c\"") == "a \"b\" c");
  CHECK(subject("  padded  ") == "padded");  // optional whitespace around the value
}

TEST_CASE("binary mode refusals name the attribute or header", "[unit]") {
  auto with = [](std::string name, std::string value) {
    HttpHeaderFields headers = required_headers();
    headers.emplace_back(std::move(name), std::move(value));
    return headers;
  };
  for (const char* bad : {"%C0%A0", "%zz", "abc%2", "%FF", "\"unterminated", "%ED%A0%80"}) {
    INFO(bad);
    fnd::Error error = refusal(with("ce-subject", bad));
    CHECK(fnd::eventing::is_invalid_event(error));
    CHECK(error.http_status == 400);
    CHECK_THAT(error.message, Catch::Contains("header 'ce-subject' is not a valid attribute value"));
  }
  CHECK_THAT(refusal(with("ce-id", "2")).message, Catch::Contains("header 'ce-id' appears more than once"));
  CHECK_THAT(refusal(with("ce-datacontenttype", "text/plain")).message,
             Catch::Contains("remove the ce-datacontenttype"));
  CHECK_THAT(refusal(with("ce-time", "yesterday")).message, Catch::Contains("'time' must be an RFC 3339 timestamp"));
  CHECK_THAT(refusal(with("ce-my_ext", "x")).message, Catch::Contains("attribute name 'my_ext' is invalid"));
  CHECK_THAT(refusal(with("Content-Type", "xyz")).message, Catch::Contains("'datacontenttype' must be a media type"));

  HttpHeaderFields no_type = required_headers();
  no_type.pop_back();
  fnd::Error missing = refusal(no_type);
  CHECK(missing.http_status == 400);
  CHECK_THAT(missing.message, Catch::StartsWith("the required attribute 'type' is missing"));
  CHECK_THAT(missing.message, Catch::Contains("ce- headers"));
  CHECK_THAT(refusal({{"Content-Type", "application/json"}}, "{}").message,
             Catch::StartsWith("the required attribute 'specversion' is missing"));
}

TEST_CASE("structured and batched modes read the JSON format", "[unit]") {
  const std::string json = R"({"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"x":1}})";
  CloudEvent event = one_event({{"Content-Type", "Application/CloudEvents+JSON; charset=UTF-8"}}, json);
  CHECK(event.id() == "1");
  CHECK(event.data == R"({"x":1})");
  // ce- headers beside a structured body are ignored: the body is the event.
  CHECK(one_event({{"content-type", "application/cloudevents+json"}, {"ce-id", "other"}}, json).id() == "1");

  auto batch = from_http({{"Content-Type", "application/cloudevents-batch+json"}}, "[" + json + "," + json + "]");
  REQUIRE(batch.ok());
  CHECK(batch->size() == 2);
  auto empty = from_http({{"Content-Type", "application/cloudevents-batch+json; charset=utf-8"}}, "[]");
  REQUIRE(empty.ok());
  CHECK(empty->empty());

  CHECK_THAT(refusal({{"Content-Type", "application/cloudevents+json"}}, "{").message,
             Catch::Contains("the event is not valid JSON"));
  CHECK_THAT(
      refusal({{"Content-Type", "application/cloudevents+json"}}, R"({"specversion":"1.0","id":"1","source":"/s"})")
          .message,
      Catch::Contains("'type' is missing"));
  CHECK_THAT(refusal({{"Content-Type", "application/cloudevents-batch+json"}}, json).message,
             Catch::Contains("the batch must be a JSON array"));
}

TEST_CASE("another CloudEvents format is 415 unless the attributes are in headers", "[unit]") {
  fnd::Error error = refusal({{"Content-Type", "application/cloudevents+avro"}}, "\x01\x02");
  CHECK(error.code == fnd::eventing::kUnsupportedEventFormat);
  CHECK(error.http_status == 415);
  CHECK_THAT(error.message, Catch::Contains("'application/cloudevents+avro' is not supported"));

  HttpHeaderFields headers = required_headers();
  headers.emplace_back("Content-Type", "application/cloudevents+avro");
  CloudEvent event = one_event(headers, "\x01\x02");
  CHECK(event.datacontenttype() == "application/cloudevents+avro");
  CHECK(event.data == "\x01\x02");
}

TEST_CASE("to_http_binary percent-encodes values and sets Content-Type", "[unit]") {
  CloudEvent event = sample();
  event.set_attribute("subject", std::string("Euro \xE2\x82\xAC \xF0\x9F\x98\x80"));
  event.set_attribute("comexampleothervalue", int64_t{5});
  event.set_attribute("flag", true);
  event.set_attribute("quoted", std::string("100% \"real\""));
  event.set_attribute("datacontenttype", std::string("application/xml"));
  event.data = R"(<much wow="xml"/>)";

  auto message = to_http_binary(event);
  CHECK(header(message.headers, "ce-subject") == "Euro%20%E2%82%AC%20%F0%9F%98%80");
  CHECK(header(message.headers, "ce-comexampleothervalue") == "5");
  CHECK(header(message.headers, "ce-flag") == "true");
  CHECK(header(message.headers, "ce-quoted") == "100%25%20%22real%22");
  CHECK(header(message.headers, "ce-source") == "/mycontext/subcontext");
  CHECK(header(message.headers, "Content-Type") == "application/xml");
  CHECK_FALSE(header(message.headers, "ce-datacontenttype"));
  CHECK(message.body == R"(<much wow="xml"/>)");

  // Back through the binding: the same event, but typed values come back as their strings.
  CloudEvent back = one_event(message.headers, message.body);
  CHECK(back.string_attribute("subject") == "Euro \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(back.string_attribute("quoted") == "100% \"real\"");
  CHECK(back.string_attribute("comexampleothervalue") == "5");
  CHECK(back.data == event.data);
  CHECK(back.attributes.size() == event.attributes.size());
}

TEST_CASE("to_http_binary makes the JSON format's implied content type explicit", "[unit]") {
  CloudEvent event = sample();
  CHECK_FALSE(header(to_http_binary(event).headers, "Content-Type"));  // no data, no type
  event.data = R"("I'm just a string")";
  auto json = to_http_binary(event);
  CHECK(header(json.headers, "Content-Type") == "application/json");
  CHECK(json.body == R"("I'm just a string")");
  event.data = "plain bytes";  // not JSON: claiming application/json would be a lie
  CHECK_FALSE(header(to_http_binary(event).headers, "Content-Type"));
}

TEST_CASE("to_http_structured and to_http_batch write the JSON format", "[unit]") {
  CloudEvent event = sample();
  event.data = R"({"message":"Hello World!"})";
  auto structured = to_http_structured(event);
  CHECK(header(structured.headers, "Content-Type") == "application/cloudevents+json; charset=utf-8");
  CHECK(one_event(structured.headers, structured.body) == event);

  std::vector<CloudEvent> events{event, sample()};
  auto batch = to_http_batch(events);
  CHECK(header(batch.headers, "Content-Type") == "application/cloudevents-batch+json; charset=utf-8");
  auto back = from_http(batch.headers, batch.body);
  REQUIRE(back.ok());
  CHECK(*back == events);
}
