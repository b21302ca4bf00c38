// fnctl event, broker and trigger: publish CloudEvents, declare brokers, and wire events to
// functions or URLs with filters and a delivery policy (trigger test says why an event would or
// would not match).
#include <fmt/format.h>
#include <openssl/rand.h>

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "core/base64.hpp"
#include "core/json.hpp"
#include "fnctl/client.hpp"
#include "fnctl/input.hpp"
#include "listing.hpp"

namespace fnd::fnctl {

namespace json = boost::json;

namespace {

// Prints a JSON answer whole (-o json) or the line `text` (tables otherwise).
int print_done(const Result<JsonAnswer>& answer, const GlobalOptions& globals, const std::string& text) {
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
  } else {
    fmt::print("{}\n", text);
  }
  return kExitOk;
}

std::optional<std::pair<std::string, std::string>> split_pair(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) return std::nullopt;
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

std::string random_id() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    return std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  std::string out;
  for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

// --- event publish --------------------------------------------------------------------------

struct PublishOptions {
  std::string broker = "default";
  std::string type;
  std::string source = "/fnctl";
  std::string id;
  std::string data;
  std::string data_file;
  std::string content_type = "application/json";
  std::vector<std::string> extensions;  // NAME=VALUE
};

int run_publish(const PublishOptions& options, const GlobalOptions& globals) {
  std::string body = options.data;
  if (!options.data_file.empty()) {
    auto content = read_file(options.data_file);
    if (!content) return report_error(content.error());
    body = std::move(*content);
  }
  HttpRequest request;
  request.method = "POST";
  request.path = "/events/" + url_encode(options.broker);
  request.headers = {"ce-specversion: 1.0", "ce-id: " + (options.id.empty() ? random_id() : options.id),
                     "ce-source: " + options.source, "ce-type: " + options.type,
                     "Content-Type: " + options.content_type};
  for (const auto& extension : options.extensions) {
    auto kv = split_pair(extension);
    if (!kv || kv->second.find_first_of("\r\n") != std::string::npos) {
      return report_error(make_error("usage", fmt::format("--ext '{}' is not NAME=VALUE", extension)));
    }
    request.headers.push_back(fmt::format("ce-{}: {}", kv->first, kv->second));
  }
  request.body = body;
  request.has_body = true;
  request.timeout = std::chrono::seconds(30);
  auto response = ApiClient(globals.endpoint()).send(request);
  if (!response) return report_error(response.error());
  if (response->status >= 400) return report_error(error_from_answer(*response, "POST", request.path));
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", response->body);
    return kExitOk;
  }
  auto answer = parse_json(response->body);
  const json::object* object = answer ? answer->if_object() : nullptr;
  const bool duplicate = object && object->contains("duplicates") && json_text(*object, "duplicates") != "0";
  fmt::print("event accepted by broker {}{}\n", options.broker,
             duplicate ? " (a duplicate of one it already had: not stored again)" : "");
  return kExitOk;
}

// --- broker -----------------------------------------------------------------------------------

int run_broker_list(const GlobalOptions& globals) {
  return print_list(
      ApiClient(globals.endpoint()).get("/api/v1/brokers"), globals, "brokers",
      [](const json::array& items) {
        Table table({"NAME", "EVENTS", "TRIGGERS"});
        for (const auto& item : items) {
          const auto* broker = item.if_object();
          if (broker == nullptr) continue;
          table.add_row({json_text(*broker, "name"), json_text(*broker, "head"), joined(*broker, "triggers")});
        }
        return table;
      },
      "no brokers");
}

// --- trigger ----------------------------------------------------------------------------------

struct TriggerCreate {
  std::string name;
  std::string broker = "default";
  std::vector<std::string> exact;  // ATTRIBUTE=VALUE
  std::vector<std::string> sql;
  std::string to;
  std::string dead_letter;
  int retries = -1;
  std::string backoff;
  std::string timeout;
  bool ordered = false;
  std::string schedule;
  std::string time_zone;
};

Result<json::object> trigger_body(const TriggerCreate& options) {
  json::array filters;
  json::object exact;
  for (const auto& pair : options.exact) {
    auto kv = split_pair(pair);
    if (!kv) return make_error("usage", fmt::format("--filter '{}' is not ATTRIBUTE=VALUE", pair));
    exact[kv->first] = kv->second;
  }
  if (!exact.empty()) filters.push_back(json::object{{"exact", std::move(exact)}});
  for (const auto& expression : options.sql) filters.push_back(json::object{{"cesql", expression}});
  auto to_destination = [](const std::string& text) {
    // "billing" alone means the function billing; function:, url: and kafka: are passed on.
    if (text.find(':') == std::string::npos) return "function:" + text;
    return text;
  };
  json::object body{{"name", options.name},
                    {"broker", options.broker},
                    {"filters", std::move(filters)},
                    {"subscriber", to_destination(options.to)}};
  if (!options.dead_letter.empty()) body["deadLetter"] = to_destination(options.dead_letter);
  json::object delivery;
  if (options.retries >= 0) delivery["retries"] = options.retries;
  if (!options.backoff.empty()) delivery["backoff"] = options.backoff;
  if (!options.timeout.empty()) delivery["timeout"] = options.timeout;
  if (!delivery.empty()) body["delivery"] = std::move(delivery);
  if (options.ordered) body["ordering"] = "ordered";
  if (!options.schedule.empty()) {
    json::object schedule{{"cron", options.schedule}};
    if (!options.time_zone.empty()) schedule["timezone"] = options.time_zone;
    body["schedule"] = std::move(schedule);
  } else if (!options.time_zone.empty()) {
    return make_error("usage", "--tz goes with --schedule");
  }
  return body;
}

int run_trigger_create(const TriggerCreate& options, const GlobalOptions& globals) {
  auto body = trigger_body(options);
  if (!body) return report_error(body.error());
  auto answer = ApiClient(globals.endpoint()).put_json("/api/v1/triggers/" + url_encode(options.name), *body);
  return print_done(answer, globals,
                    fmt::format("trigger '{}' {}: broker {} -> {}", options.name,
                                answer && answer->status == 201 ? "created" : "updated", options.broker,
                                json_text(*body, "subscriber")));
}

std::string status_field(const json::object& trigger, std::string_view key) {
  const auto* status = trigger.if_contains("status");
  if (status == nullptr || !status->is_object()) return "";
  return json_text(status->get_object(), key);
}

int run_trigger_list(const GlobalOptions& globals) {
  return print_list(
      ApiClient(globals.endpoint()).get("/api/v1/triggers"), globals, "triggers",
      [](const json::array& items) {
        Table table({"NAME", "BROKER", "SUBSCRIBER", "DELIVERED", "RETRYING", "DEAD-LETTERED", "STATE"});
        for (const auto& item : items) {
          const auto* trigger = item.if_object();
          if (trigger == nullptr) continue;
          table.add_row({json_text(*trigger, "name"), json_text(*trigger, "broker"), json_text(*trigger, "subscriber"),
                         status_field(*trigger, "delivered"), status_field(*trigger, "retrying"),
                         status_field(*trigger, "deadLettered"), status_field(*trigger, "state")});
        }
        return table;
      },
      "no triggers yet; create one with: fnctl trigger create NAME --to function:NAME");
}

int run_trigger_describe(const std::string& name, const GlobalOptions& globals) {
  auto answer = ApiClient(globals.endpoint()).get("/api/v1/triggers/" + url_encode(name));
  if (!answer) return report_error(answer.error());
  // The spec and its delivery status are nested: JSON reads best here either way.
  fmt::print("{}", pretty_json(answer->body));
  return kExitOk;
}

int run_trigger_test(const std::string& name, const std::string& event_file, const GlobalOptions& globals) {
  ApiClient client(globals.endpoint());
  auto trigger = client.get("/api/v1/triggers/" + url_encode(name));
  if (!trigger) return report_error(trigger.error());
  auto text = read_file(event_file);
  if (!text) return report_error(text.error());
  auto event = parse_json(*text);
  if (!event)
    return report_error(make_error("usage", fmt::format("{} is not JSON: {}", event_file, event.error().message)));
  const auto* spec = trigger->body.if_object();
  const json::value* filters = spec ? spec->if_contains("filters") : nullptr;
  json::object body{{"filters", filters ? *filters : json::value(json::array{})}, {"event", *event}};
  auto verdict = client.post_json("/api/v1/filters/evaluate", body);
  if (!verdict) return report_error(verdict.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(verdict->body));
    return kExitOk;
  }
  const auto* object = verdict->body.if_object();
  const bool matches =
      object && object->contains("matches") && object->at("matches").is_bool() && object->at("matches").as_bool();
  fmt::print("{}: {}\n", matches ? "matches" : "does not match", object ? json_text(*object, "reason") : "");
  return matches ? kExitOk : kExitFailure;
}

int run_invocation_get(const std::string& id, const GlobalOptions& globals) {
  auto answer = ApiClient(globals.endpoint()).get("/api/v1/invocations/" + url_encode(id));
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  const auto* record = answer->body.if_object();
  if (record == nullptr) return report_error(make_error("invalid_answer", "fnd's answer is not an invocation"));
  fmt::print("id:        {}\nfunction:  {}\nstatus:    {}\nattempts:  {}\ncreated:   {}\n", json_text(*record, "id"),
             json_text(*record, "function"), json_text(*record, "status"), json_text(*record, "attempts"),
             json_text(*record, "createdAt"));
  if (record->contains("finishedAt")) fmt::print("finished:  {}\n", json_text(*record, "finishedAt"));
  if (record->contains("error")) fmt::print("error:     {}\n", json_text(*record, "error"));
  const auto* result = record->if_contains("result");
  if (result != nullptr && result->is_object()) {
    const auto& answer_json = result->get_object();
    fmt::print("answer:    HTTP {}{}\n", json_text(answer_json, "status"),
               json_text(answer_json, "truncated") == "true" ? " (body cut at 1 MiB)" : "");
    auto body = base64_decode(json_text(answer_json, "body"));
    if (body && !body->empty()) fmt::print("{}{}", *body, body->ends_with('\n') ? "" : "\n");
  }
  return kExitOk;
}

int run_invocation_list(const std::string& function, const GlobalOptions& globals) {
  std::string path = "/api/v1/invocations";
  if (!function.empty()) path += "?function=" + url_encode(function);
  return print_list(
      ApiClient(globals.endpoint()).get(path), globals, "invocations",
      [](const json::array& items) {
        Table table({"ID", "FUNCTION", "STATUS", "ATTEMPTS", "CREATED"});
        for (const auto& item : items) {
          const auto* record = item.if_object();
          if (record == nullptr) continue;
          table.add_row({json_text(*record, "id"), json_text(*record, "function"), json_text(*record, "status"),
                         json_text(*record, "attempts"), json_text(*record, "createdAt")});
        }
        return table;
      },
      "no invocations kept; queue one with: fnctl invoke NAME --async");
}

}  // namespace

Command add_invocation_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("invocation", "Asynchronous invocations (fnctl invoke --async): get, list");
  app->require_subcommand(1);
  auto id = std::make_shared<std::string>();
  auto function = std::make_shared<std::string>();
  CLI::App* get_app = app->add_subcommand("get", "An invocation's status, attempts, and answer or error");
  get_app->add_option("id", *id, "the invocation id fnctl invoke --async printed")->required();
  CLI::App* list_app = app->add_subcommand("list", "The newest invocations kept");
  list_app->add_option("--function", *function, "only this function's");
  return {app, [=, &globals] {
            if (get_app->parsed()) return run_invocation_get(*id, globals);
            return run_invocation_list(*function, globals);
          }};
}

Command add_event_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("event", "CloudEvents: publish one to a broker");
  app->require_subcommand(1);
  auto publish = std::make_shared<PublishOptions>();
  CLI::App* publish_app = app->add_subcommand("publish", "Publish a CloudEvent (binary mode); 202 once durable");
  publish_app->add_option("--broker", publish->broker, "the broker")->capture_default_str();
  publish_app->add_option("--type", publish->type, "the event's type, e.g. com.shop.order.created")->required();
  publish_app->add_option("--source", publish->source, "the event's source")->capture_default_str();
  publish_app->add_option("--id", publish->id, "the event's id (default: a random one)");
  publish_app->add_option("-d,--data", publish->data, "the data");
  publish_app->add_option("-f,--data-file", publish->data_file, "the data from a file");
  publish_app->add_option("--content-type", publish->content_type, "the data's media type")->capture_default_str();
  publish_app->add_option("--ext", publish->extensions, "an extension attribute NAME=VALUE (repeatable)");
  return {app, [publish, &globals] { return run_publish(*publish, globals); }};
}

Command add_broker_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("broker", "Brokers (durable streams of events): create, list, delete");
  app->require_subcommand(1);
  auto name = std::make_shared<std::string>();
  CLI::App* create_app = app->add_subcommand("create", "Create a broker (POST /events/NAME then accepts events)");
  create_app->add_option("name", *name, "the broker's name")->required();
  CLI::App* list_app = app->add_subcommand("list", "List brokers with their event counts and triggers");
  CLI::App* delete_app = app->add_subcommand("delete", "Delete a broker that no trigger follows");
  delete_app->add_option("name", *name, "the broker's name")->required();
  return {app, [=, &globals] {
            ApiClient client(globals.endpoint());
            if (create_app->parsed()) {
              return print_done(client.put_json("/api/v1/brokers/" + url_encode(*name), json::object{}), globals,
                                fmt::format("broker '{}' ready", *name));
            }
            if (list_app->parsed()) return run_broker_list(globals);
            return print_done(client.del("/api/v1/brokers/" + url_encode(*name)), globals,
                              fmt::format("broker '{}' deleted", *name));
          }};
}

Command add_trigger_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("trigger",
                                      "Triggers (broker -> filters -> subscriber): create, list, describe, "
                                      "test, delete");
  app->require_subcommand(1);
  auto create = std::make_shared<TriggerCreate>();
  auto name = std::make_shared<std::string>();
  auto event_file = std::make_shared<std::string>();
  CLI::App* create_app = app->add_subcommand("create", "Create or replace a trigger");
  create_app->add_option("name", create->name, "the trigger's name")->required();
  create_app->add_option("--broker", create->broker, "the broker it follows")->capture_default_str();
  create_app->add_option("--filter", create->exact, "ATTRIBUTE=VALUE the event must have exactly (repeatable)");
  create_app->add_option("--filter-sql", create->sql, "a CloudEvents SQL expression that must be true (repeatable)");
  create_app->add_option("--to", create->to, "where matching events go: function:NAME (or NAME), url:URL")->required();
  create_app->add_option("--dead-letter", create->dead_letter, "where events go that cannot be delivered");
  create_app->add_option("--retries", create->retries, "retries after the first attempt (default 3)")
      ->check(CLI::Range(0, 100));
  create_app->add_option("--backoff", create->backoff, "linear:DELAY or exponential:DELAY (default exponential:200ms)");
  create_app->add_option("--timeout", create->timeout, "per attempt (default 30s)");
  create_app->add_flag("--ordered", create->ordered, "one event at a time per partitionkey, in order");
  create_app->add_option(
      "--schedule", create->schedule,
      "fire on a cron schedule ('0 3 * * *'): a dev.fnd.cron event at each time, delivered like any other");
  create_app->add_option("--tz", create->time_zone, "the schedule's IANA time zone (default UTC), e.g. Europe/Berlin");
  CLI::App* list_app = app->add_subcommand("list", "List triggers and their delivery counts");
  CLI::App* describe_app = app->add_subcommand("describe", "A trigger's spec and delivery status");
  describe_app->add_option("name", *name, "the trigger's name")->required();
  CLI::App* test_app = app->add_subcommand("test", "Would this event match the trigger's filters, and why (not)");
  test_app->add_option("name", *name, "the trigger's name")->required();
  test_app->add_option("-f,--file", *event_file, "the event as JSON (structured mode)")->required();
  CLI::App* delete_app = app->add_subcommand("delete", "Delete a trigger");
  delete_app->add_option("name", *name, "the trigger's name")->required();
  return {app, [=, &globals] {
            if (create_app->parsed()) return run_trigger_create(*create, globals);
            if (list_app->parsed()) return run_trigger_list(globals);
            if (describe_app->parsed()) return run_trigger_describe(*name, globals);
            if (test_app->parsed()) return run_trigger_test(*name, *event_file, globals);
            return print_done(ApiClient(globals.endpoint()).del("/api/v1/triggers/" + url_encode(*name)), globals,
                              fmt::format("trigger '{}' deleted", *name));
          }};
}

}  // namespace fnd::fnctl
