#include "gateway/events_api.hpp"

#include <fmt/format.h>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "client_stream.hpp"
#include "core/json.hpp"
#include "core/names.hpp"
#include "core/time.hpp"
#include "eventing/async_invocations.hpp"
#include "eventing/event_format.hpp"
#include "eventing/event_router.hpp"
#include "eventing/filter.hpp"
#include "eventing/http_binding.hpp"
#include "eventing/kafka_sources.hpp"
#include "eventing/trigger.hpp"
#include "gateway/responses.hpp"
#include "query.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view kBrokers = "/api/v1/brokers";
constexpr std::string_view kTriggers = "/api/v1/triggers";
constexpr std::string_view kSources = "/api/v1/sources";
constexpr std::string_view kEvaluate = "/api/v1/filters/evaluate";
constexpr std::string_view kInvocations = "/api/v1/invocations";

json::object source_json(const eventing::SourceStatus& source) {
  json::object out = eventing::source_to_json(source.spec);
  json::array partitions;
  for (const auto& progress : source.partitions) {
    json::object partition{{"topic", progress.partition.topic},
                           {"partition", progress.partition.partition},
                           {"pending", progress.pending}};
    if (progress.durable_position) partition["durablePosition"] = *progress.durable_position;
    if (progress.committed) partition["committed"] = *progress.committed;
    if (progress.lag) partition["lag"] = *progress.lag;
    partitions.push_back(std::move(partition));
  }
  json::object status{{"kafka", eventing::to_string(source.kafka.connection)},
                      {"published", source.published},
                      {"wrapped", source.wrapped},
                      {"publishFailures", source.publish_failures},
                      {"partitions", std::move(partitions)}};
  if (!source.kafka.last_error.empty()) status["lastKafkaError"] = source.kafka.last_error;
  if (!source.last_error.empty()) status["lastError"] = source.last_error;
  out["status"] = std::move(status);
  return out;
}

bool under(std::string_view path, std::string_view prefix) {
  return path.starts_with(prefix) &&
         (path.size() == prefix.size() || path[prefix.size()] == '/' || path[prefix.size()] == '?');
}

Error method_not_allowed(const Request& request, std::string_view allowed) {
  return make_error("method_not_allowed",
                    fmt::format("{} is not allowed on {}; use {}", std::string_view(request.method_string()),
                                std::string_view(request.target()), allowed),
                    405);
}

json::object broker_json(const eventing::BrokerStatus& broker) {
  json::array triggers;
  for (const auto& name : broker.triggers) triggers.emplace_back(name);
  return {{"name", broker.spec.name}, {"head", broker.head}, {"triggers", std::move(triggers)}};
}

json::object trigger_json(const eventing::TriggerStatus& trigger) {
  json::object out = eventing::trigger_to_json(trigger.spec);
  const auto& stats = trigger.stats;
  json::object status{{"state", eventing::to_string(stats.state)},
                      {"cursor", stats.cursor},
                      {"delivered", stats.delivered},
                      {"deadLettered", stats.dead_lettered},
                      {"retrying", stats.retrying},
                      {"inFlight", stats.in_flight},
                      {"filtered", stats.filtered},
                      {"attempts", stats.attempts},
                      {"failedAttempts", stats.failed_attempts},
                      {"replies", stats.replies}};
  if (!stats.last_error.empty()) status["lastError"] = stats.last_error;
  if (stats.last_error_at) status["lastErrorAt"] = format_rfc3339(*stats.last_error_at);
  out["status"] = std::move(status);
  out["createdAt"] = format_rfc3339(trigger.created_at);
  out["updatedAt"] = format_rfc3339(trigger.updated_at);
  return out;
}

// Puts a spec that parsed, or hands on why it did not (one co_await, outside any ?:, which GCC 12
// miscompiles).
asio::awaitable<Result<bool>> put_valid(eventing::EventRouter& router, Result<eventing::BrokerSpec> spec) {
  if (!spec) co_return spec.error();
  co_return co_await router.put_broker(std::move(*spec));
}
asio::awaitable<Result<bool>> put_valid(eventing::KafkaSources& sources, Result<eventing::SourceSpec> spec) {
  if (!spec) co_return spec.error();
  co_return co_await sources.put(std::move(*spec));
}
asio::awaitable<Result<bool>> put_valid(eventing::EventRouter& router, Result<eventing::TriggerSpec> spec) {
  if (!spec) co_return spec.error();
  co_return co_await router.put_trigger(std::move(*spec));
}

}  // namespace

asio::awaitable<bool> EventsApi::ingest(Request& request, std::string_view broker, ClientStream& client) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (request.method() != http::verb::post) {
    co_return co_await write_error(client, method_not_allowed(request, "POST with a CloudEvent"), version, keep_alive);
  }
  eventing::HttpHeaderFields headers;
  for (const auto& field : request) headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  auto events = eventing::from_http(headers, request.body());
  if (!events) co_return co_await write_error(client, events.error(), version, keep_alive);
  const size_t count = events->size();
  auto appended = co_await router_.publish(std::string(broker), std::move(*events));
  if (!appended) co_return co_await write_error(client, appended.error(), version, keep_alive);
  size_t duplicates = 0;
  for (const auto& outcome : *appended) duplicates += outcome.duplicate ? 1 : 0;
  json::object out{{"accepted", count}, {"duplicates", duplicates}};
  co_return co_await write_json(client, 202, out, version, keep_alive);
}

bool EventsApi::serves(std::string_view path) {
  return under(path, kBrokers) || under(path, kTriggers) || under(path, kSources) || under(path, kEvaluate) ||
         under(path, kInvocations);
}

asio::awaitable<bool> EventsApi::handle(Request& request, std::string_view path, ClientStream& client,
                                        const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  std::string_view query;
  if (auto q = path.find('?'); q != std::string_view::npos) query = path.substr(q + 1);
  path = path.substr(0, path.find('?'));
  if (under(path, kInvocations)) {
    co_return co_await invocations(request, path.substr(kInvocations.size()), query, client, caller);
  }
  const bool reading = request.method() == http::verb::get || under(path, kEvaluate);
  if (auto allowed = caller.may(reading ? Permission::read_eventing : Permission::manage_eventing); !allowed) {
    co_return co_await write_error(client, allowed.error(), version, keep_alive);
  }
  if (under(path, kBrokers)) co_return co_await brokers(request, path.substr(kBrokers.size()), client, caller);
  if (under(path, kTriggers)) co_return co_await triggers(request, path.substr(kTriggers.size()), client, caller);
  if (under(path, kSources)) co_return co_await sources(request, path.substr(kSources.size()), client, caller);
  co_return co_await evaluate(request, client);
}

asio::awaitable<bool> EventsApi::brokers(Request& request, std::string_view rest, ClientStream& client,
                                         const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (rest.empty() || rest == "/") {
    if (request.method() != http::verb::get) {
      co_return co_await write_error(client, method_not_allowed(request, "GET, or PUT /api/v1/brokers/NAME"), version,
                                     keep_alive);
    }
    json::array items;
    for (const auto& broker : router_.brokers()) items.push_back(broker_json(broker));
    json::object out{{"brokers", std::move(items)}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  std::string name(rest.substr(1));
  if (request.method() == http::verb::get) {
    auto broker = router_.broker(name);
    if (!broker) {
      co_return co_await write_error(
          client, make_error(std::string(eventing::kBrokerNotFound), fmt::format("no broker named '{}'", name), 404),
          version, keep_alive);
    }
    co_return co_await write_json(client, 200, broker_json(*broker), version, keep_alive);
  }
  if (request.method() == http::verb::put) {
    Result<eventing::BrokerSpec> spec = eventing::BrokerSpec{name};
    if (!request.body().empty()) {
      auto parsed = parse_json(request.body());
      spec = parsed ? eventing::parse_broker(*parsed) : Result<eventing::BrokerSpec>(parsed.error());
      if (spec && spec->name.empty()) spec->name = name;
      if (spec && spec->name != name) {
        spec = make_error(std::string(eventing::kInvalidBroker),
                          fmt::format("the body names broker '{}' but the path '{}'", spec->name, name), 422);
      }
    }
    Result<bool> created = co_await put_valid(router_, std::move(spec));
    audit_.record(caller.principal, "broker.put", name, created ? Status{} : Status(created.error()));
    if (!created) co_return co_await write_error(client, created.error(), version, keep_alive);
    co_return co_await write_json(client, *created ? 201 : 200, broker_json(*router_.broker(name)), version,
                                  keep_alive);
  }
  if (request.method() == http::verb::delete_) {
    Status deleted = co_await router_.delete_broker(name);
    audit_.record(caller.principal, "broker.delete", name, deleted);
    if (!deleted) co_return co_await write_error(client, deleted.error(), version, keep_alive);
    json::object out{{"deleted", name}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  co_return co_await write_error(client, method_not_allowed(request, "GET, PUT or DELETE"), version, keep_alive);
}

asio::awaitable<bool> EventsApi::triggers(Request& request, std::string_view rest, ClientStream& client,
                                          const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (rest.empty() || rest == "/") {
    if (request.method() != http::verb::get) {
      co_return co_await write_error(client, method_not_allowed(request, "GET, or PUT /api/v1/triggers/NAME"), version,
                                     keep_alive);
    }
    json::array items;
    for (const auto& trigger : router_.triggers()) items.push_back(trigger_json(trigger));
    json::object out{{"triggers", std::move(items)}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  std::string name(rest.substr(1));
  if (request.method() == http::verb::get) {
    auto trigger = router_.trigger(name);
    if (!trigger) {
      co_return co_await write_error(
          client, make_error(std::string(eventing::kTriggerNotFound), fmt::format("no trigger named '{}'", name), 404),
          version, keep_alive);
    }
    co_return co_await write_json(client, 200, trigger_json(*trigger), version, keep_alive);
  }
  if (request.method() == http::verb::put) {
    auto parsed = parse_json(request.body());
    if (parsed && parsed->is_object() && !parsed->as_object().contains("name")) parsed->as_object()["name"] = name;
    Result<eventing::TriggerSpec> spec =
        parsed ? eventing::parse_trigger(*parsed) : Result<eventing::TriggerSpec>(parsed.error());
    if (spec && spec->name != name) {
      spec = make_error(std::string(eventing::kInvalidTrigger),
                        fmt::format("the body names trigger '{}' but the path '{}'", spec->name, name), 422);
    }
    Result<bool> created = co_await put_valid(router_, std::move(spec));
    audit_.record(caller.principal, "trigger.put", name, created ? Status{} : Status(created.error()));
    if (!created) co_return co_await write_error(client, created.error(), version, keep_alive);
    co_return co_await write_json(client, *created ? 201 : 200, trigger_json(*router_.trigger(name)), version,
                                  keep_alive);
  }
  if (request.method() == http::verb::delete_) {
    Status deleted = co_await router_.delete_trigger(name);
    audit_.record(caller.principal, "trigger.delete", name, deleted);
    if (!deleted) co_return co_await write_error(client, deleted.error(), version, keep_alive);
    json::object out{{"deleted", name}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  co_return co_await write_error(client, method_not_allowed(request, "GET, PUT or DELETE"), version, keep_alive);
}

asio::awaitable<bool> EventsApi::sources(Request& request, std::string_view rest, ClientStream& client,
                                         const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (sources_ == nullptr) {
    co_return co_await write_error(client, make_error("not_found", "Kafka sources are not available", 404), version,
                                   keep_alive);
  }
  if (rest.empty() || rest == "/") {
    if (request.method() != http::verb::get) {
      co_return co_await write_error(client, method_not_allowed(request, "GET, or PUT /api/v1/sources/NAME"), version,
                                     keep_alive);
    }
    json::array items;
    for (const auto& source : sources_->list()) items.push_back(source_json(source));
    json::object out{{"sources", std::move(items)}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  std::string name(rest.substr(1));
  if (request.method() == http::verb::get) {
    auto source = sources_->get(name);
    if (!source) {
      co_return co_await write_error(
          client, make_error(std::string(eventing::kSourceNotFound), fmt::format("no source named '{}'", name), 404),
          version, keep_alive);
    }
    co_return co_await write_json(client, 200, source_json(*source), version, keep_alive);
  }
  if (request.method() == http::verb::put) {
    auto parsed = parse_json(request.body());
    if (parsed && parsed->is_object() && !parsed->as_object().contains("name")) parsed->as_object()["name"] = name;
    Result<eventing::SourceSpec> spec =
        parsed ? eventing::parse_source(*parsed) : Result<eventing::SourceSpec>(parsed.error());
    if (spec && spec->name != name) {
      spec = make_error(std::string(eventing::kInvalidSource),
                        fmt::format("the body names source '{}' but the path '{}'", spec->name, name), 422);
    }
    Result<bool> created = co_await put_valid(*sources_, std::move(spec));
    audit_.record(caller.principal, "source.put", name, created ? Status{} : Status(created.error()));
    if (!created) co_return co_await write_error(client, created.error(), version, keep_alive);
    co_return co_await write_json(client, *created ? 201 : 200, source_json(*sources_->get(name)), version,
                                  keep_alive);
  }
  if (request.method() == http::verb::delete_) {
    Status deleted = co_await sources_->remove(name);
    audit_.record(caller.principal, "source.delete", name, deleted);
    if (!deleted) co_return co_await write_error(client, deleted.error(), version, keep_alive);
    json::object out{{"deleted", name}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  co_return co_await write_error(client, method_not_allowed(request, "GET, PUT or DELETE"), version, keep_alive);
}

asio::awaitable<bool> EventsApi::evaluate(Request& request, ClientStream& client) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (request.method() != http::verb::post) {
    co_return co_await write_error(client, method_not_allowed(request, "POST {\"filters\": [...], \"event\": {...}}"),
                                   version, keep_alive);
  }
  auto parsed = parse_json(request.body());
  if (!parsed) co_return co_await write_error(client, parsed.error(), version, keep_alive);
  const json::object* body = parsed->if_object();
  const json::value* filters_json = body ? body->if_contains("filters") : nullptr;
  const json::value* event_json = body ? body->if_contains("event") : nullptr;
  if (!filters_json || !event_json) {
    co_return co_await write_error(client,
                                   make_error("invalid_request",
                                              "the body must be {\"filters\": [...], "
                                              "\"event\": {a CloudEvent in JSON}}",
                                              400),
                                   version, keep_alive);
  }
  auto filters = eventing::parse_filters(*filters_json);
  if (!filters) co_return co_await write_error(client, filters.error(), version, keep_alive);
  auto event = eventing::parse_json_event(json::serialize(*event_json));
  if (!event) co_return co_await write_error(client, event.error(), version, keep_alive);
  auto verdict = eventing::evaluate(*filters, *event);
  json::object out{{"matches", verdict.matches}, {"reason", verdict.reason}};
  co_return co_await write_json(client, 200, out, version, keep_alive);
}

asio::awaitable<bool> EventsApi::invocations(Request& request, std::string_view rest, std::string_view query,
                                             ClientStream& client, const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (async_ == nullptr) {
    co_return co_await write_error(client, make_error("not_found", "asynchronous invocation is not available", 404),
                                   version, keep_alive);
  }
  if (request.method() != http::verb::get) {
    co_return co_await write_error(client, method_not_allowed(request, "GET"), version, keep_alive);
  }
  if (rest.empty() || rest == "/") {
    auto params = internal::parse_query(query);
    const std::string function = params["function"];
    if (auto allowed = caller.may(Permission::read_functions, function); !allowed) {
      co_return co_await write_error(client, allowed.error(), version, keep_alive);
    }
    auto records = async_->list(function, 100);
    if (!records) co_return co_await write_error(client, records.error(), version, keep_alive);
    json::array items;
    for (auto& record : *records) {
      const json::value* owner = record.if_contains("function");
      if (owner && owner->is_string() && !caller.principal.allows_function(owner->as_string())) continue;
      record.erase("result");  // the list is an overview; GET .../ID has the answer
      items.push_back(std::move(record));
    }
    json::object out{{"invocations", std::move(items)}};
    co_return co_await write_json(client, 200, out, version, keep_alive);
  }
  auto record = async_->get(rest.substr(1));
  if (!record) co_return co_await write_error(client, record.error(), version, keep_alive);
  const json::value* owner = record->if_contains("function");
  const std::string function = owner && owner->is_string() ? std::string(owner->as_string()) : std::string();
  if (auto allowed = caller.may(Permission::read_functions, function); !allowed) {
    co_return co_await write_error(client, allowed.error(), version, keep_alive);
  }
  co_return co_await write_json(client, 200, *record, version, keep_alive);
}

}  // namespace fnd::gateway
