#include "eventing/trigger.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <string_view>

using namespace std::chrono_literals;
using fnd::eventing::Destination;
using fnd::eventing::DestinationKind;
using fnd::eventing::OrderingMode;
using fnd::eventing::TriggerSpec;

namespace {

TriggerSpec parse(std::string_view json_text) {
  auto parsed = fnd::eventing::parse_trigger(boost::json::parse(json_text));
  INFO(json_text << ": " << (parsed ? std::string("parsed") : parsed.error().message));
  REQUIRE(parsed.ok());
  return parsed.value();
}

fnd::Error refusal(std::string_view json_text) {
  auto parsed = fnd::eventing::parse_trigger(boost::json::parse(json_text));
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().http_status == 422);
  return parsed.error();
}

std::string trigger_message(std::string_view json_text) {
  const fnd::Error error = refusal(json_text);
  CHECK(error.code == "invalid_trigger");
  CHECK(fnd::eventing::is_invalid_trigger(error));
  return error.message;
}

Destination destination(std::string_view text) {
  auto parsed = fnd::eventing::parse_destination(text, "subscriber");
  INFO(text << ": " << (parsed ? std::string("parsed") : parsed.error().message));
  REQUIRE(parsed.ok());
  return parsed.value();
}

std::string destination_refusal(std::string_view text) {
  auto parsed = fnd::eventing::parse_destination(text, "subscriber");
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == "invalid_trigger");
  return parsed.error().message;
}

}  // namespace

TEST_CASE("a minimal trigger takes the defaults", "[unit][dispatch]") {
  const TriggerSpec spec = parse(R"({"name": "bill-orders", "subscriber": "function:billing"})");
  CHECK(spec.name == "bill-orders");
  CHECK(spec.broker == "default");
  CHECK(spec.filters.empty());
  CHECK(spec.subscriber == Destination{DestinationKind::function, "billing"});
  CHECK_FALSE(spec.dead_letter.has_value());
  CHECK(spec.delivery == fnd::eventing::DeliveryPolicy{});
  CHECK(spec.ordering.mode == OrderingMode::unordered);
  CHECK(spec.ordering.max_in_flight == 64);
  CHECK(fnd::eventing::validate(spec).ok());
}

TEST_CASE("a full trigger round-trips through JSON", "[unit][dispatch]") {
  const std::string_view text =
      R"({"name":"bill-orders","broker":"shop","filters":[{"exact":{"type":"com.shop.order.created"}},)"
      R"({"cesql":"total > 100"}],"subscriber":"url:https://billing.example.com/events",)"
      R"("deadLetter":"kafka:shop.dead-letters","delivery":{"retries":5,"backoff":"linear:1s","cap":"1m",)"
      R"("jitter":0E0,"timeout":"10s"},"ordering":{"mode":"ordered","maxInFlight":64}})";
  const TriggerSpec spec = parse(text);
  CHECK(spec.broker == "shop");
  CHECK(spec.filters.size() == 2);
  CHECK(spec.subscriber == Destination{DestinationKind::url, "https://billing.example.com/events"});
  REQUIRE(spec.dead_letter.has_value());
  CHECK(*spec.dead_letter == Destination{DestinationKind::kafka, "shop.dead-letters"});
  CHECK(spec.delivery.retries == 5);
  CHECK(spec.delivery.timeout == 10s);
  CHECK(spec.ordering.mode == OrderingMode::ordered);
  const std::string serialized = boost::json::serialize(fnd::eventing::trigger_to_json(spec));
  CHECK(serialized == text);
  CHECK(boost::json::serialize(fnd::eventing::trigger_to_json(parse(serialized))) == serialized);
}

TEST_CASE("destinations in text and object form", "[unit][dispatch]") {
  CHECK(destination("function:hello") == Destination{DestinationKind::function, "hello"});
  CHECK(destination("url:http://10.0.0.1:8080/hook?x=1") ==
        Destination{DestinationKind::url, "http://10.0.0.1:8080/hook?x=1"});
  CHECK(destination("kafka:Orders_v2.dlq") == Destination{DestinationKind::kafka, "Orders_v2.dlq"});
  CHECK(fnd::eventing::to_string(destination("kafka:orders")) == "kafka:orders");

  const TriggerSpec spec = parse(R"({"name": "t", "subscriber": {"url": "https://x.example"},
                                     "deadLetter": {"function": "dead"}})");
  CHECK(spec.subscriber == Destination{DestinationKind::url, "https://x.example"});
  CHECK(*spec.dead_letter == Destination{DestinationKind::function, "dead"});

  CHECK(destination_refusal("billing").starts_with("trigger field 'subscriber': 'billing' is not a destination"));
  CHECK(destination_refusal("lambda:x").starts_with("trigger field 'subscriber': unknown destination kind 'lambda'"));
  CHECK(destination_refusal("function:Bad_Name").starts_with("trigger field 'subscriber': invalid function name"));
  CHECK(destination_refusal("url:ftp://x").find("not an http:// or https:// URL") != std::string::npos);
  CHECK(destination_refusal("url:https://").find("not a valid URL with a host") != std::string::npos);
  CHECK(destination_refusal("url:https://exa mple.com").find("not a valid URL with a host") != std::string::npos);
  CHECK(destination_refusal("kafka:a/b").find("not a Kafka topic name") != std::string::npos);
  CHECK(destination_refusal("kafka:..").find("not a Kafka topic name") != std::string::npos);
  CHECK(destination_refusal("kafka:" + std::string(250, 'a')).find("not a Kafka topic name") != std::string::npos);
}

TEST_CASE("invalid triggers are refused naming the field", "[unit][dispatch]") {
  CHECK(trigger_message(R"({"subscriber": "function:x"})") == "trigger field 'name': required: name the trigger");
  CHECK(trigger_message(R"({"name": "t"})").starts_with("trigger field 'subscriber': required"));
  CHECK(trigger_message(R"({"name": "T!", "subscriber": "function:x"})")
            .starts_with("trigger field 'name': invalid trigger name 'T!'"));
  CHECK(trigger_message(R"({"name": "t", "broker": "", "subscriber": "function:x"})")
            .starts_with("trigger field 'broker': invalid broker name"));
  CHECK(trigger_message(R"({"name": "t", "subscriber": "function:x", "sink": "url:http://x"})")
            .starts_with("trigger field 'sink': unknown field"));
  CHECK(trigger_message(R"({"name": "t", "subscriber": 3})")
            .starts_with("trigger field 'subscriber': expected a string"));
  CHECK(trigger_message(R"({"name": "t", "subscriber": {"url": 3}})") ==
        "trigger field 'subscriber.url': expected a string, got a number");
  CHECK(trigger_message(R"({"name": "t", "subscriber": "function:x", "deadLetter": "x"})")
            .starts_with("trigger field 'deadLetter': "));
  CHECK(trigger_message(R"({"name": "t", "subscriber": "function:x", "delivery": {"retries": -2}})") ==
        "trigger field 'delivery.retries': expected a whole number from 0 to 100");
  CHECK(trigger_message(R"({"name": "t", "subscriber": "function:x", "ordering": "random"})") ==
        "trigger field 'ordering': expected \"ordered\" or \"unordered\"");
  CHECK(trigger_message(R"({"name": "t", "subscriber": "function:x", "ordering": {"maxInFlight": 0}})") ==
        "trigger field 'ordering.maxInFlight': expected a whole number from 1 to 10000");
  CHECK(trigger_message(R"({"name": "t", "subscriber": "function:x", "ordering": {"keys": 2}})")
            .starts_with("trigger field 'ordering.keys': unknown field"));
  CHECK(trigger_message("[]") == "trigger field '<trigger>': expected an object, got a list");

  // Filters keep their own code and path.
  const fnd::Error filter =
      refusal(R"({"name": "t", "subscriber": "function:x", "filters": [{"exact": {"type": 1}}]})");
  CHECK(filter.code == "invalid_filter");
  CHECK(filter.message == "filters[0].exact.type: expected a string, got a number");
}

TEST_CASE("ordering as a string, and unordered's limit", "[unit][dispatch]") {
  CHECK(parse(R"({"name": "t", "subscriber": "function:x", "ordering": "ordered"})").ordering.mode ==
        OrderingMode::ordered);
  const TriggerSpec limited = parse(R"({"name": "t", "subscriber": "function:x", "ordering": {"maxInFlight": 8}})");
  CHECK(limited.ordering.mode == OrderingMode::unordered);
  CHECK(limited.ordering.max_in_flight == 8);
}

TEST_CASE("validate checks a spec built in code", "[unit][dispatch]") {
  TriggerSpec spec;
  spec.name = "t";
  spec.subscriber = {DestinationKind::function, "x"};
  CHECK(fnd::eventing::validate(spec).ok());
  spec.dead_letter = Destination{DestinationKind::url, "nope"};
  auto bad_letter = fnd::eventing::validate(spec);
  REQUIRE_FALSE(bad_letter.ok());
  CHECK(bad_letter.error().message.starts_with("trigger field 'deadLetter': "));
  spec.dead_letter.reset();
  spec.delivery.timeout = 0s;
  auto bad_timeout = fnd::eventing::validate(spec);
  REQUIRE_FALSE(bad_timeout.ok());
  CHECK(bad_timeout.error().code == "invalid_trigger");
  CHECK(bad_timeout.error().message == "trigger field 'delivery.timeout': must be from 1ms to 1h");
}

TEST_CASE("broker specs", "[unit][dispatch]") {
  auto broker = fnd::eventing::parse_broker(boost::json::parse(R"({"name": "orders"})"));
  REQUIRE(broker.ok());
  CHECK(broker->name == "orders");
  CHECK(boost::json::serialize(fnd::eventing::broker_to_json(*broker)) == R"({"name":"orders"})");
  CHECK(fnd::eventing::validate_broker_name("default").ok());
  auto bad = fnd::eventing::validate_broker_name("Orders");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == "invalid_broker");
  CHECK(bad.error().http_status == 422);
  auto missing = fnd::eventing::parse_broker(boost::json::parse("{}"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message == "broker field 'name': required: name the broker");
  auto unknown = fnd::eventing::parse_broker(boost::json::parse(R"({"name": "a", "size": 1})"));
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message.starts_with("broker field 'size': unknown field"));
}

TEST_CASE("a trigger's schedule is a checked cron expression in a time zone, kept through JSON", "[unit]") {
  TriggerSpec nightly = parse(R"({"name": "nightly", "subscriber": "function:report",
                                  "schedule": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}})");
  REQUIRE(nightly.schedule.has_value());
  CHECK(nightly.schedule->cron == "0 3 * * *");
  CHECK(nightly.schedule->time_zone == "Europe/Berlin");
  TriggerSpec again = parse(boost::json::serialize(fnd::eventing::trigger_to_json(nightly)));
  REQUIRE(again.schedule.has_value());
  CHECK(*again.schedule == *nightly.schedule);
  CHECK(parse(R"({"name": "n", "subscriber": "function:r", "schedule": {"cron": "@hourly"}})").schedule->time_zone == "UTC");
  CHECK_FALSE(parse(R"({"name": "n", "subscriber": "function:r"})").schedule.has_value());
  CHECK_THAT(trigger_message(R"({"name": "n", "subscriber": "function:r", "schedule": {"cron": "61 * * * *"}})"),
             Catch::Contains("schedule"));
  CHECK_THAT(trigger_message(R"({"name": "n", "subscriber": "function:r",
                                 "schedule": {"cron": "0 3 * * *", "timezone": "Mars/Olympus"}})"),
             Catch::Contains("Mars/Olympus"));
  CHECK_THAT(trigger_message(R"({"name": "n", "subscriber": "function:r", "schedule": {"timezone": "UTC"}})"),
             Catch::Contains("schedule.cron"));
  CHECK_THAT(trigger_message(R"({"name": "n", "subscriber": "function:r", "schedule": {"cron": "* * * * *", "at": 1}})"),
             Catch::Contains("schedule.at"));
}
