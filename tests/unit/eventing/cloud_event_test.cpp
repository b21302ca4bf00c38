#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "core/error.hpp"
#include "eventing/cloud_event.hpp"

using fnd::eventing::AttributeValue;
using fnd::eventing::CloudEvent;
using fnd::eventing::is_json_media_type;
using fnd::eventing::is_valid_attribute_name;
using fnd::eventing::is_valid_media_type;
using fnd::eventing::is_valid_uri;
using fnd::eventing::parse_timestamp;
using fnd::eventing::validate;

namespace {

CloudEvent minimal() {
  CloudEvent event;
  event.set_attribute("specversion", std::string("1.0"));
  event.set_attribute("id", std::string("1234"));
  event.set_attribute("source", std::string("/mycontext"));
  event.set_attribute("type", std::string("com.example.someevent"));
  return event;
}

// The message of the error validate() gives for `event`; "" when it is valid.
std::string refusal(const CloudEvent& event) {
  auto status = validate(event);
  if (status) return "";
  CHECK(fnd::eventing::is_invalid_event(status.error()));
  CHECK(status.error().http_status == 400);
  return status.error().message;
}

CloudEvent with(std::string name, AttributeValue value) {
  CloudEvent event = minimal();
  event.set_attribute(std::move(name), std::move(value));
  return event;
}

}  // namespace

TEST_CASE("a minimal event is valid and its accessors read the required attributes", "[unit]") {
  CloudEvent event = minimal();
  CHECK(refusal(event).empty());
  CHECK(event.id() == "1234");
  CHECK(event.source() == "/mycontext");
  CHECK(event.type() == "com.example.someevent");
  CHECK(event.specversion() == "1.0");
  CHECK_FALSE(event.datacontenttype().has_value());
  CHECK(event.attribute("subject") == nullptr);
}

TEST_CASE("each missing required attribute is named", "[unit]") {
  for (const char* name : {"specversion", "id", "source", "type"}) {
    CloudEvent event = minimal();
    event.attributes.erase(name);
    CHECK(refusal(event) == std::string("the required attribute '") + name + "' is missing");
  }
}

TEST_CASE("required attributes are non-empty strings and specversion is 1.0", "[unit]") {
  CHECK_THAT(refusal(with("id", std::string())), Catch::Contains("'id' must not be empty"));
  CHECK_THAT(refusal(with("type", std::string())), Catch::Contains("'type' must not be empty"));
  CHECK_THAT(refusal(with("source", std::string())), Catch::Contains("'source' must not be empty"));
  CHECK_THAT(refusal(with("id", int64_t{25})), Catch::Contains("'id' must be a String, not Integer"));
  CHECK_THAT(refusal(with("type", true)), Catch::Contains("'type' must be a String, not Boolean"));
  CHECK_THAT(refusal(with("specversion", std::string("0.3"))), Catch::Contains("specversion '0.3' is not supported"));
  CHECK_THAT(refusal(with("specversion", std::string())), Catch::Contains("specversion '' is not supported"));
}

TEST_CASE("attribute names are 1 to 20 lower-case letters or digits and not data", "[unit]") {
  CHECK(is_valid_attribute_name("comexampleextension1"));  // 20
  CHECK(is_valid_attribute_name("x"));
  CHECK_FALSE(is_valid_attribute_name(""));
  CHECK_FALSE(is_valid_attribute_name("comexampleextension12"));  // 21
  CHECK_FALSE(is_valid_attribute_name("MyExtension"));
  CHECK_FALSE(is_valid_attribute_name("my.extension"));
  CHECK_FALSE(is_valid_attribute_name("my_ext"));
  CHECK_FALSE(is_valid_attribute_name("data"));
  CHECK_THAT(refusal(with("MyExtension", std::string("bad"))),
             Catch::Contains("attribute name 'MyExtension' is invalid"));
}

TEST_CASE("optional attributes follow their types", "[unit]") {
  CHECK(refusal(with("subject", std::string("tests"))).empty());
  CHECK_THAT(refusal(with("subject", std::string())), Catch::Contains("'subject' must not be empty"));
  CHECK(refusal(with("dataschema", std::string("https://example.com/schema#v1"))).empty());
  CHECK_THAT(refusal(with("dataschema", std::string("/relative/schema"))),
             Catch::Contains("'dataschema' must be an absolute URI"));
  CHECK_THAT(refusal(with("dataschema", std::string())), Catch::Contains("'dataschema' must not be empty"));
  CHECK(refusal(with("datacontenttype", std::string("application/json; charset=utf-8"))).empty());
  CHECK_THAT(refusal(with("datacontenttype", std::string("xyz"))),
             Catch::Contains("'datacontenttype' must be a media type"));
  CHECK(refusal(with("time", std::string("2018-04-05T17:31:00Z"))).empty());
  CHECK_THAT(refusal(with("time", std::string("lunchtime"))), Catch::Contains("'time' must be an RFC 3339 timestamp"));
  CHECK_THAT(refusal(with("time", int64_t{5})), Catch::Contains("'time' must be a String"));
  CHECK_THAT(refusal(with("source", std::string("a b"))), Catch::Contains("'source' must be a URI-reference"));
}

TEST_CASE("extension values: integers within 32 bits, strings without control characters", "[unit]") {
  CHECK(refusal(with("ext", int64_t{2147483647})).empty());
  CHECK(refusal(with("ext", int64_t{-2147483648})).empty());
  CHECK_THAT(refusal(with("ext", int64_t{2147483648})), Catch::Contains("outside the CloudEvents Integer range"));
  CHECK_THAT(refusal(with("ext", int64_t{-2147483649})), Catch::Contains("outside the CloudEvents Integer range"));
  CHECK(refusal(with("ext", false)).empty());
  CHECK(refusal(with("ext", std::string("Euro \xE2\x82\xAC"))).empty());
  CHECK(refusal(with("ext", std::string())).empty());  // only the spec's own attributes must be non-empty
  CHECK_THAT(refusal(with("ext", std::string("line\nbreak"))), Catch::Contains("'ext' must be UTF-8 text"));
  CHECK_THAT(refusal(with("ext", std::string("\xC2\x85"))), Catch::Contains("'ext' must be UTF-8 text"));  // U+0085
  CHECK_THAT(refusal(with("ext", std::string("\xC0\xA0"))), Catch::Contains("'ext' must be UTF-8 text"));  // overlong
  CHECK_THAT(refusal(with("ext", std::string("\xEF\xBF\xBF"))), Catch::Contains("'ext' must be UTF-8 text"));  // U+FFFF
}

TEST_CASE("timestamps: RFC 3339 with seconds and an offset, compared as instants", "[unit]") {
  auto utc = parse_timestamp("2018-04-05T17:31:00Z");
  REQUIRE(utc);
  CHECK(utc->seconds.time_since_epoch() == std::chrono::seconds(1522949460));
  CHECK(utc->nanoseconds == 0);
  CHECK(parse_timestamp("2018-04-05T18:31:00+01:00") == utc);
  CHECK(parse_timestamp("2018-04-05T16:31:00-01:00") == utc);
  CHECK(parse_timestamp("2018-04-05t17:31:00.000000000z") == utc);
  auto fraction = parse_timestamp("2018-04-05T17:31:00.1234567891Z");
  REQUIRE(fraction);
  CHECK(fraction->nanoseconds == 123456789);
  CHECK(*fraction > *utc);
  CHECK(parse_timestamp("2016-12-31T23:59:60Z"));  // a leap second
  CHECK(parse_timestamp("2024-02-29T00:00:00Z"));
  CHECK(parse_timestamp("0001-01-01T00:00:00Z"));
  CHECK(parse_timestamp("9999-12-31T23:59:59+23:59"));
  for (const char* bad :
       {"lunchtime", "2018-04-05T18:31Z", "2018-04-05T18:31:00X", "2018-04-05T18:31:00+25:00",
        "2018-04-05T18:31:00+xx:00", "2018-04-05T18:31:00+05", "2018-04-05T18:31:00", "2018-04-05 18:31:00Z",
        "2023-02-29T00:00:00Z", "2018-13-05T18:31:00Z", "2018-04-05T24:00:00Z", "2018-04-05T18:31:00.Z",
        "2018-04-05T18:31:00Z ", "18-04-05T18:31:00Z"}) {
    INFO(bad);
    CHECK_FALSE(parse_timestamp(bad));
  }
}

TEST_CASE("URIs and URI-references follow RFC 3986", "[unit]") {
  for (const char* ok : {"https://cloudevents.io", "/mycontext/subcontext", "#fragment", "//authority/path",
                         "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "mailto:cncf-wg-serverless@lists.cncf.io",
                         "1-555-123-4567", "https://[::1]:8080/a?b=c&d#e", "a%20b"}) {
    INFO(ok);
    CHECK(is_valid_uri(ok, false));
  }
  for (const char* bad : {"a b", "https://example.com/\xC3\xA9", "%zz", "a%2", ":nothing", "1a:b", "a#b#c", "x\"y"}) {
    INFO(bad);
    CHECK_FALSE(is_valid_uri(bad, false));
  }
  CHECK(is_valid_uri("https://cloudevents.io/dataschema", true));
  CHECK(is_valid_uri("urn:example:schema", true));
  CHECK_FALSE(is_valid_uri("/dataschema", true));
  CHECK_FALSE(is_valid_uri("//authority/path", true));
}

TEST_CASE("media types follow RFC 2046 and JSON ones are recognised", "[unit]") {
  for (const char* ok :
       {"application/json", "text/plain", "application/json; charset=utf-8", "text/plain;charset=\"utf-8\"",
        "application/vnd.apache.thrift.binary", "application/cloudevents+json; charset=UTF-8"}) {
    INFO(ok);
    CHECK(is_valid_media_type(ok));
  }
  for (const char* bad : {"xyz", "", "application/", "/json", "application/json;", "application/json; charset",
                          "application/json; charset=\"utf-8", "text/plain text"}) {
    INFO(bad);
    CHECK_FALSE(is_valid_media_type(bad));
  }
  CHECK(is_json_media_type("application/json"));
  CHECK(is_json_media_type("application/JSON; charset=utf-8"));
  CHECK(is_json_media_type("text/json"));
  CHECK(is_json_media_type("application/vnd.example+json"));
  CHECK_FALSE(is_json_media_type("text/plain"));
  CHECK_FALSE(is_json_media_type("application/jsonx"));
  CHECK_FALSE(is_json_media_type("application/+json"));
  CHECK_FALSE(is_json_media_type("json"));
}

TEST_CASE("canonical strings of attribute values", "[unit]") {
  using fnd::eventing::to_canonical_string;
  CHECK(to_canonical_string(AttributeValue(std::string("abc"))) == "abc");
  CHECK(to_canonical_string(AttributeValue(int64_t{-12})) == "-12");
  CHECK(to_canonical_string(AttributeValue(true)) == "true");
  CHECK(to_canonical_string(AttributeValue(false)) == "false");
}
