// fnctl source: Kafka sources, which consume topics in a consumer group and publish their records
// into a broker (committing an offset only once its record is durable there).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "core/json.hpp"
#include "fnctl/client.hpp"
#include "listing.hpp"

namespace fnd::fnctl {

namespace json = boost::json;

namespace {

struct SourceCreate {
  std::string name;
  std::string bootstrap_servers;
  std::vector<std::string> topics;
  std::string broker = "default";
  std::string group;
};

std::string status_text(const json::object& source, std::string_view key) {
  const auto* status = source.if_contains("status");
  if (status == nullptr || !status->is_object()) return "";
  return json_text(status->get_object(), key);
}

int run_create(const SourceCreate& options, const GlobalOptions& globals) {
  json::array topics;
  for (const auto& topic : options.topics) topics.emplace_back(topic);
  json::object body{{"name", options.name},
                    {"bootstrapServers", options.bootstrap_servers},
                    {"topics", std::move(topics)},
                    {"broker", options.broker}};
  if (!options.group.empty()) body["consumerGroup"] = options.group;
  auto answer = ApiClient(globals.endpoint()).put_json("/api/v1/sources/" + url_encode(options.name), body);
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  const auto* source = answer->body.if_object();
  fmt::print("source '{}' {}: kafka {} topics {} -> broker {} (consumer group {})\n", options.name,
             answer->status == 201 ? "created" : "updated", options.bootstrap_servers, fmt::join(options.topics, ","),
             options.broker, source ? json_text(*source, "consumerGroup") : "");
  return kExitOk;
}

int run_list(const GlobalOptions& globals) {
  return print_list(
      ApiClient(globals.endpoint()).get("/api/v1/sources"), globals, "sources",
      [](const json::array& items) {
        Table table({"NAME", "KAFKA", "TOPICS", "BROKER", "STATE", "PUBLISHED", "LAST ERROR"});
        for (const auto& item : items) {
          const auto* source = item.if_object();
          if (source == nullptr) continue;
          std::string error = status_text(*source, "lastError");
          if (error.empty()) error = status_text(*source, "lastKafkaError");
          table.add_row({json_text(*source, "name"), json_text(*source, "bootstrapServers"), joined(*source, "topics"),
                         json_text(*source, "broker"), status_text(*source, "kafka"), status_text(*source, "published"),
                         error});
        }
        return table;
      },
      "no sources yet; create one with: fnctl source create NAME --kafka HOST:PORT --topic TOPIC");
}

int run_describe(const std::string& name, const GlobalOptions& globals) {
  auto answer = ApiClient(globals.endpoint()).get("/api/v1/sources/" + url_encode(name));
  if (!answer) return report_error(answer.error());
  // Partitions and their progress are nested: JSON reads best here either way.
  fmt::print("{}", pretty_json(answer->body));
  return kExitOk;
}

int run_delete(const std::string& name, const GlobalOptions& globals) {
  auto answer = ApiClient(globals.endpoint()).del("/api/v1/sources/" + url_encode(name));
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
  } else {
    fmt::print("source '{}' deleted (its consumer group keeps its committed offsets)\n", name);
  }
  return kExitOk;
}

}  // namespace

Command add_source_command(CLI::App& root, const GlobalOptions& globals) {
  CLI::App* app = root.add_subcommand("source", "Kafka sources (topics -> a broker): create, list, describe, delete");
  app->require_subcommand(1);
  auto create = std::make_shared<SourceCreate>();
  auto name = std::make_shared<std::string>();
  CLI::App* create_app = app->add_subcommand("create", "Create or replace a Kafka source");
  create_app->add_option("name", create->name, "the source's name")->required();
  create_app->add_option("--kafka", create->bootstrap_servers, "the Kafka cluster, HOST:PORT[,HOST:PORT]")->required();
  create_app->add_option("--topic", create->topics, "a topic to consume (repeat for more)")->required();
  create_app->add_option("--broker", create->broker, "the broker its events go to")->capture_default_str();
  create_app->add_option("--group", create->group, "the consumer group (default fnd-source-NAME)");
  CLI::App* list_app = app->add_subcommand("list", "List sources, their Kafka connection and counts");
  CLI::App* describe_app = app->add_subcommand("describe", "A source's spec, connection and partitions (lag)");
  describe_app->add_option("name", *name, "the source's name")->required();
  CLI::App* delete_app = app->add_subcommand("delete", "Delete a source (uncommitted records stay in Kafka)");
  delete_app->add_option("name", *name, "the source's name")->required();
  return {app, [=, &globals] {
            if (create_app->parsed()) return run_create(*create, globals);
            if (list_app->parsed()) return run_list(globals);
            if (describe_app->parsed()) return run_describe(*name, globals);
            return run_delete(*name, globals);
          }};
}

}  // namespace fnd::fnctl
