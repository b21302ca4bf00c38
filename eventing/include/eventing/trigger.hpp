// Brokers and triggers as users declare them: a broker is a named, durable stream of CloudEvents
// (POST /events/{broker}); a trigger follows one broker, filters its events and delivers each
// matching one to a subscriber, with the delivery policy, an optional dead-letter sink and an
// ordering mode. This header holds the specs, their JSON and their validation; the engine that
// runs a trigger is dispatcher.hpp. Pure values and functions, safe from any thread.
//
// Trigger JSON (camelCase, as the rest of the API):
//   {"name": "bill-orders", "broker": "default",
//    "filters": [{"exact": {"type": "com.shop.order.created"}}],
//    "subscriber": "function:billing",
//    "deadLetter": "url:https://ops.example.com/dead",
//    "delivery": {"retries": 3, "backoff": "exponential:200ms", "cap": "5m", "jitter": 0.1, "timeout": "30s"},
//    "ordering": {"mode": "unordered", "maxInFlight": 64}}
// name and subscriber are required; broker defaults to "default"; filters to none (every event);
// delivery and ordering to their defaults. "ordering" may also be the string "ordered" or
// "unordered".
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "eventing/delivery.hpp"
#include "eventing/filter.hpp"

namespace fnd::eventing {

// 422: a trigger spec (or a destination) that cannot be used; the message names the field
// ("trigger field 'subscriber': ..."). Filters keep their own kInvalidFilter.
inline constexpr std::string_view kInvalidTrigger = "invalid_trigger";
// 422: a broker spec whose name cannot be used.
inline constexpr std::string_view kInvalidBroker = "invalid_broker";
bool is_invalid_trigger(const Error& error);

// Every fnd has this broker (the daemon creates it); triggers without "broker" follow it.
inline constexpr std::string_view kDefaultBroker = "default";

// Where a trigger delivers. Text form "function:NAME", "url:http(s)://...", "kafka:TOPIC".
enum class DestinationKind { function, url, kafka };
std::string_view to_string(DestinationKind kind);  // "function", "url", "kafka"

struct Destination {
  DestinationKind kind = DestinationKind::function;
  // function: a function name (validate_name, core/names.hpp); url: an absolute http or https
  // URL with a host; kafka: a topic name (1 to 249 of [a-zA-Z0-9._-], not "." or "..").
  std::string target;

  bool operator==(const Destination&) const = default;
};

// The text form. Errors: kInvalidTrigger naming `field` ("subscriber", "deadLetter").
Result<Destination> parse_destination(std::string_view text, std::string_view field = "destination");
// JSON: the text form as a string, or an object with one member {"function": "billing"},
// {"url": "https://..."} or {"kafka": "orders"}.
Result<Destination> parse_destination(const boost::json::value& json, std::string_view field = "destination");
std::string to_string(const Destination& destination);                   // the text form
boost::json::value destination_to_json(const Destination& destination);  // the text form, as a string

enum class OrderingMode { unordered, ordered };
std::string_view to_string(OrderingMode mode);  // "unordered", "ordered"

// Most deliveries one unordered trigger has under way; more is refused.
inline constexpr uint32_t kMaxInFlightLimit = 10000;

struct Ordering {
  // unordered: up to max_in_flight deliveries at once, in any order (a delivery waiting for its
  // retry counts as in flight). ordered: per value of the event's `partitionkey` extension, one
  // delivery at a time in log order (events without one share the key ""); keys proceed
  // independently. max_in_flight is ignored when ordered.
  OrderingMode mode = OrderingMode::unordered;
  uint32_t max_in_flight = 64;  // 1 to kMaxInFlightLimit

  bool operator==(const Ordering&) const = default;
};

// A cron trigger's schedule: the trigger fires a CloudEvent (type kCronEventType, source
// "/fnd/triggers/NAME") into its broker at each time the five-field expression (cron.hpp) names
// in the IANA time zone, and delivers only those events. JSON {"cron": "0 3 * * *",
// "timezone": "Europe/Berlin"} (timezone defaults to UTC).
struct TriggerSchedule {
  std::string cron;
  std::string time_zone = "UTC";

  bool operator==(const TriggerSchedule&) const = default;
};
inline constexpr std::string_view kCronEventType = "dev.fnd.cron";
// "/fnd/triggers/" + the trigger's name: the source of its cron events.
std::string cron_event_source(std::string_view trigger_name);

struct TriggerSpec {
  std::string name;                    // validate_name("trigger", ...)
  std::string broker{kDefaultBroker};  // validate_broker_name
  FilterList filters;                  // all must match; empty: every event
  Destination subscriber;
  std::optional<Destination> dead_letter;  // none: a dead letter is only recorded in the log
  DeliveryPolicy delivery;
  Ordering ordering;
  std::optional<TriggerSchedule> schedule;  // set: a cron trigger (its filters apply on top)
};

// Errors: kInvalidTrigger (422) naming the field ("trigger field 'delivery.retries': ..."), an
// unknown member included; kInvalidFilter (422) for the filters, naming the filter's path.
Result<TriggerSpec> parse_trigger(const boost::json::value& json);
// Checks a spec built in code the way parse_trigger checks JSON (names, destinations, policy,
// ordering; filters are valid by construction).
Status validate(const TriggerSpec& spec);
// Every member, defaults included; parse_trigger reads it back to the same spec.
boost::json::object trigger_to_json(const TriggerSpec& spec);

// A broker: a name (validate_name rules). JSON {"name": "orders"}.
struct BrokerSpec {
  std::string name;

  bool operator==(const BrokerSpec&) const = default;
};
// kInvalidBroker, 422, when `name` cannot name a broker.
Status validate_broker_name(std::string_view name);
// Errors: kInvalidBroker naming the field; unknown members are refused.
Result<BrokerSpec> parse_broker(const boost::json::value& json);
boost::json::object broker_to_json(const BrokerSpec& spec);

}  // namespace fnd::eventing
