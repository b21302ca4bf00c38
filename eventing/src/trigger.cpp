#include "eventing/trigger.hpp"

#include "eventing/cron.hpp"
#include "eventing/kafka_binding.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.hpp"
#include "core/names.hpp"
#include "encoding.hpp"
#include "eventing/cloud_event.hpp"
#include "eventing/delivery.hpp"
#include "eventing/filter.hpp"

namespace fnd::eventing {

namespace json = boost::json;

bool is_invalid_trigger(const Error& error) { return error.code == kInvalidTrigger; }

std::string_view to_string(DestinationKind kind) {
  switch (kind) {
    case DestinationKind::function:
      return "function";
    case DestinationKind::url:
      return "url";
    case DestinationKind::kafka:
      return "kafka";
  }
  return "function";
}

std::string_view to_string(OrderingMode mode) { return mode == OrderingMode::ordered ? "ordered" : "unordered"; }

namespace {

using internal::quote_for_message;

constexpr std::size_t kMaxUrlLength = 2048;

Error trigger_error(std::string_view field, std::string_view problem) {
  return make_error(std::string(kInvalidTrigger), fmt::format("trigger field '{}': {}", field, problem), 422);
}

std::string_view kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "a list";
    case json::kind::object:
      return "an object";
  }
  return "?";
}

// The problem with `target` for `kind`; empty when it is fine.
std::string target_problem(DestinationKind kind, std::string_view target) {
  switch (kind) {
    case DestinationKind::function: {
      Status valid = validate_name("function", target);
      return valid ? std::string() : valid.error().message;
    }
    case DestinationKind::url: {
      std::string_view rest;
      if (internal::istarts_with(target, "https://")) {
        rest = target.substr(8);
      } else if (internal::istarts_with(target, "http://")) {
        rest = target.substr(7);
      } else {
        return fmt::format("'{}' is not an http:// or https:// URL", quote_for_message(target));
      }
      if (target.size() > kMaxUrlLength) return fmt::format("the URL is longer than {} bytes", kMaxUrlLength);
      const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
      const std::string_view host =
          authority.substr(authority.rfind('@') == std::string_view::npos ? 0 : authority.rfind('@') + 1);
      if (host.empty() || host.front() == ':' || !is_valid_uri(target, true)) {
        return fmt::format("'{}' is not a valid URL with a host", quote_for_message(target));
      }
      return {};
    }
    case DestinationKind::kafka: {
      if (is_valid_kafka_topic(target)) return {};
      return fmt::format("'{}' is not a Kafka topic name: use 1 to {} letters, digits, '.', '_' and '-'",
                         quote_for_message(target), kMaxKafkaTopicLength);
    }
  }
  return "unknown destination kind";
}

Result<Destination> make_destination(DestinationKind kind, std::string_view target, std::string_view field) {
  std::string problem = target_problem(kind, target);
  if (!problem.empty()) return trigger_error(field, problem);
  return Destination{kind, std::string(target)};
}

std::optional<DestinationKind> destination_kind_of(std::string_view name) {
  if (name == "function") return DestinationKind::function;
  if (name == "url") return DestinationKind::url;
  if (name == "kafka") return DestinationKind::kafka;
  return std::nullopt;
}

constexpr std::string_view kDestinationHint = "use function:NAME, url:https://... or kafka:TOPIC";

Result<Ordering> parse_ordering(const json::value& value, std::string_view field) {
  Ordering ordering;
  auto mode_of = [&](const json::value& v, std::string_view at) -> Status {
    if (v.is_string() && v.as_string() == "ordered") {
      ordering.mode = OrderingMode::ordered;
    } else if (v.is_string() && v.as_string() == "unordered") {
      ordering.mode = OrderingMode::unordered;
    } else {
      return trigger_error(at, "expected \"ordered\" or \"unordered\"");
    }
    return {};
  };
  if (value.is_string()) {
    Status mode = mode_of(value, field);
    if (!mode) return mode.error();
    return ordering;
  }
  if (!value.is_object()) {
    return trigger_error(field,
                         fmt::format("expected \"ordered\", \"unordered\" or an object, got {}", kind_name(value)));
  }
  for (const auto& [key, member] : value.as_object()) {
    const std::string at = fmt::format("{}.{}", field, std::string_view(key));
    if (member.is_null()) continue;
    if (key == "mode") {
      Status mode = mode_of(member, at);
      if (!mode) return mode.error();
    } else if (key == "maxInFlight") {
      const double n = member.is_number() ? member.to_number<double>() : -1;
      if (!member.is_number() || n != std::floor(n) || n < 1 || n > kMaxInFlightLimit) {
        return trigger_error(at, fmt::format("expected a whole number from 1 to {}", kMaxInFlightLimit));
      }
      ordering.max_in_flight = static_cast<uint32_t>(n);
    } else {
      return trigger_error(at, "unknown field; known fields here are: mode, maxInFlight");
    }
  }
  return ordering;
}

// One code per document: a delivery policy's problem is a trigger field's problem here.
// `field_prefix` is what the policy's field names lack ("delivery." when it was validated alone).
Error as_trigger_error(Error error, std::string_view field_prefix) {
  constexpr std::string_view kPolicyPrefix = "delivery field '";
  error.code = std::string(kInvalidTrigger);
  if (error.message.starts_with(kPolicyPrefix)) {
    error.message.replace(0, kPolicyPrefix.size(), fmt::format("trigger field '{}", field_prefix));
  }
  return error;
}

Status validate_trigger_name(std::string_view name) {
  Status valid = validate_name("trigger", name);
  if (!valid) return trigger_error("name", valid.error().message);
  return {};
}

Status validate_broker_field(std::string_view name) {
  Status valid = validate_name("broker", name);
  if (!valid) return trigger_error("broker", valid.error().message);
  return {};
}

}  // namespace

Result<Destination> parse_destination(std::string_view text, std::string_view field) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return trigger_error(field,
                         fmt::format("'{}' is not a destination: {}", quote_for_message(text), kDestinationHint));
  }
  const auto kind = destination_kind_of(text.substr(0, colon));
  if (!kind) {
    return trigger_error(field, fmt::format("unknown destination kind '{}': {}",
                                            quote_for_message(text.substr(0, colon)), kDestinationHint));
  }
  return make_destination(*kind, text.substr(colon + 1), field);
}

Result<Destination> parse_destination(const json::value& value, std::string_view field) {
  if (value.is_string()) return parse_destination(std::string_view(value.as_string()), field);
  if (!value.is_object() || value.as_object().size() != 1) {
    return trigger_error(field, fmt::format("expected a string or an object with one member ({}), got {}",
                                            kDestinationHint, kind_name(value)));
  }
  const auto& [key, target] = *value.as_object().begin();
  const std::string at = fmt::format("{}.{}", field, std::string_view(key));
  const auto kind = destination_kind_of(key);
  if (!kind) {
    return trigger_error(at,
                         fmt::format("unknown destination kind '{}': {}", quote_for_message(key), kDestinationHint));
  }
  if (!target.is_string()) return trigger_error(at, fmt::format("expected a string, got {}", kind_name(target)));
  return make_destination(*kind, target.as_string(), at);
}

std::string to_string(const Destination& destination) {
  return fmt::format("{}:{}", to_string(destination.kind), destination.target);
}

json::value destination_to_json(const Destination& destination) { return json::string(to_string(destination)); }

std::string cron_event_source(std::string_view trigger_name) { return fmt::format("/fnd/triggers/{}", trigger_name); }

namespace {

// {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}; the expression and the zone are checked
// (the zone's file is read).
Result<TriggerSchedule> parse_schedule(const json::value& value) {
  if (!value.is_object()) return trigger_error("schedule", fmt::format("expected an object, got {}", kind_name(value)));
  TriggerSchedule schedule;
  bool has_cron = false;
  for (const auto& [key, member] : value.as_object()) {
    if (key != "cron" && key != "timezone") {
      return trigger_error(fmt::format("schedule.{}", std::string_view(key)), "unknown field; known fields are: cron, timezone");
    }
    if (!member.is_string()) {
      return trigger_error(fmt::format("schedule.{}", std::string_view(key)),
                           fmt::format("expected a string, got {}", kind_name(member)));
    }
    (key == "cron" ? schedule.cron : schedule.time_zone) = std::string(member.as_string());
    has_cron = has_cron || key == "cron";
  }
  if (!has_cron) return trigger_error("schedule.cron", "required: a five-field cron expression such as \"0 3 * * *\"");
  auto parsed = CronSchedule::parse(schedule.cron, schedule.time_zone);
  if (!parsed) return trigger_error("schedule", parsed.error().message);
  return schedule;
}

}  // namespace

Result<TriggerSpec> parse_trigger(const json::value& value) {
  if (!value.is_object())
    return trigger_error("<trigger>", fmt::format("expected an object, got {}", kind_name(value)));
  static constexpr std::array<std::string_view, 8> kKnown = {"name",       "broker",   "filters",  "subscriber",
                                                             "deadLetter", "delivery", "ordering", "schedule"};
  TriggerSpec spec;
  bool has_name = false;
  bool has_subscriber = false;
  for (const auto& [key, member] : value.as_object()) {
    const std::string_view field = key;
    if (std::find(kKnown.begin(), kKnown.end(), field) == kKnown.end()) {
      return trigger_error(field, fmt::format("unknown field; known fields are: {}", fmt::join(kKnown, ", ")));
    }
    if (member.is_null()) continue;
    if (field == "name" || field == "broker") {
      if (!member.is_string()) return trigger_error(field, fmt::format("expected a string, got {}", kind_name(member)));
      Status valid =
          field == "name" ? validate_trigger_name(member.as_string()) : validate_broker_field(member.as_string());
      if (!valid) return valid.error();
      (field == "name" ? spec.name : spec.broker) = std::string(member.as_string());
      has_name = has_name || field == "name";
    } else if (field == "filters") {
      auto filters = parse_filters(member, "filters");
      if (!filters) return filters.error();
      spec.filters = std::move(filters).value();
    } else if (field == "subscriber") {
      auto destination = parse_destination(member, field);
      if (!destination) return destination.error();
      spec.subscriber = std::move(destination).value();
      has_subscriber = true;
    } else if (field == "deadLetter") {
      auto destination = parse_destination(member, field);
      if (!destination) return destination.error();
      spec.dead_letter = std::move(destination).value();
    } else if (field == "delivery") {
      auto policy = parse_delivery_policy(member, "delivery");
      if (!policy) return as_trigger_error(policy.error(), "");
      spec.delivery = *policy;
    } else if (field == "ordering") {
      auto ordering = parse_ordering(member, field);
      if (!ordering) return ordering.error();
      spec.ordering = *ordering;
    } else if (field == "schedule") {
      auto schedule = parse_schedule(member);
      if (!schedule) return schedule.error();
      spec.schedule = std::move(*schedule);
    }
  }
  if (!has_name) return trigger_error("name", "required: name the trigger");
  if (!has_subscriber)
    return trigger_error("subscriber", fmt::format("required: say where to deliver ({})", kDestinationHint));
  return spec;
}

Status validate(const TriggerSpec& spec) {
  if (Status valid = validate_trigger_name(spec.name); !valid) return valid;
  if (Status valid = validate_broker_field(spec.broker); !valid) return valid;
  if (std::string problem = target_problem(spec.subscriber.kind, spec.subscriber.target); !problem.empty()) {
    return trigger_error("subscriber", problem);
  }
  if (spec.dead_letter) {
    if (std::string problem = target_problem(spec.dead_letter->kind, spec.dead_letter->target); !problem.empty()) {
      return trigger_error("deadLetter", problem);
    }
  }
  if (Status valid = validate(spec.delivery); !valid) return as_trigger_error(valid.error(), "delivery.");
  if (spec.ordering.max_in_flight < 1 || spec.ordering.max_in_flight > kMaxInFlightLimit) {
    return trigger_error("ordering.maxInFlight",
                         fmt::format("expected a whole number from 1 to {}", kMaxInFlightLimit));
  }
  return {};
}

json::object trigger_to_json(const TriggerSpec& spec) {
  json::object out;
  out["name"] = spec.name;
  out["broker"] = spec.broker;
  out["filters"] = filters_to_json(spec.filters);
  out["subscriber"] = destination_to_json(spec.subscriber);
  if (spec.dead_letter) out["deadLetter"] = destination_to_json(*spec.dead_letter);
  out["delivery"] = delivery_policy_to_json(spec.delivery);
  json::object ordering;
  ordering["mode"] = to_string(spec.ordering.mode);
  ordering["maxInFlight"] = spec.ordering.max_in_flight;
  out["ordering"] = std::move(ordering);
  if (spec.schedule) out["schedule"] = json::object{{"cron", spec.schedule->cron}, {"timezone", spec.schedule->time_zone}};
  return out;
}

Status validate_broker_name(std::string_view name) {
  Status valid = validate_name("broker", name);
  if (!valid) {
    return make_error(std::string(kInvalidBroker), fmt::format("broker field 'name': {}", valid.error().message), 422);
  }
  return {};
}

Result<BrokerSpec> parse_broker(const json::value& value) {
  auto broker_error = [](std::string_view field, std::string_view problem) {
    return make_error(std::string(kInvalidBroker), fmt::format("broker field '{}': {}", field, problem), 422);
  };
  if (!value.is_object()) return broker_error("<broker>", fmt::format("expected an object, got {}", kind_name(value)));
  BrokerSpec spec;
  bool has_name = false;
  for (const auto& [key, member] : value.as_object()) {
    if (key != "name") return broker_error(key, "unknown field; the only field is: name");
    if (!member.is_string()) return broker_error("name", fmt::format("expected a string, got {}", kind_name(member)));
    if (Status valid = validate_broker_name(member.as_string()); !valid) return valid.error();
    spec.name = std::string(member.as_string());
    has_name = true;
  }
  if (!has_name) return broker_error("name", "required: name the broker");
  return spec;
}

json::object broker_to_json(const BrokerSpec& spec) {
  json::object out;
  out["name"] = spec.name;
  return out;
}

}  // namespace fnd::eventing
