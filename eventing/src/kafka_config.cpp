#include "kafka_config.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.hpp"

namespace fnd::eventing::internal {
namespace {

constexpr size_t kMaxTopicNameLength = 249;

// librdkafka logs with syslog levels; its errors also reach the clients' error callbacks (and so
// their state), so its lines are warnings at most.
void log_line(const rd_kafka_t* handle, int level, const char* facility, const char* message) {
  auto spd_level = level <= 4 ? spdlog::level::warn : level <= 6 ? spdlog::level::info : spdlog::level::debug;
  spdlog::log(spd_level, "kafka {} {}: {}", rd_kafka_name(handle), facility, message);
}

Status set_property(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  std::array<char, 512> reason{};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), reason.data(), reason.size()) != RD_KAFKA_CONF_OK) {
    return settings_error("kafka property '" + name + "' was refused by librdkafka: " + reason.data());
  }
  return {};
}

Status set_all(rd_kafka_conf_t* conf, const KafkaProperties& properties) {
  for (const auto& [name, value] : properties) {
    if (auto set = set_property(conf, name, value); !set) return set;
  }
  return {};
}

bool is_topic_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

}  // namespace

Error settings_error(std::string message) {
  return make_error(std::string(kInvalidKafkaSettings), std::move(message), 400);
}

std::optional<std::string> topic_name_problem(std::string_view topic) {
  if (topic.empty()) return "a kafka topic name is empty";
  std::string quoted = "kafka topic '" + std::string(topic) + "'";
  if (topic.size() > kMaxTopicNameLength) return quoted + " is longer than 249 characters";
  if (topic == "." || topic == "..") return quoted + " is not allowed as a topic name";
  for (char c : topic) {
    if (!is_topic_char(c)) return quoted + " may only hold letters, digits, '.', '_' and '-'";
  }
  return std::nullopt;
}

std::string milliseconds_property(std::chrono::milliseconds duration) { return std::to_string(duration.count()); }

Result<RdKafkaConfPtr> make_conf(const KafkaSettings& settings, const KafkaProperties& defaults,
                                 const KafkaProperties& forced) {
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  const KafkaProperties common = {
      {"bootstrap.servers", settings.bootstrap_servers},
      {"client.id", settings.client_id},
      {"socket.timeout.ms", milliseconds_property(settings.socket_timeout)},
      {"reconnect.backoff.max.ms", milliseconds_property(settings.reconnect_backoff_max)},
      // A refused connection is in the client's state already; one log line per broker is enough.
      {"log.connection.close", "false"},
  };
  if (auto set = set_all(conf.get(), common); !set) return set.error();
  if (auto set = set_all(conf.get(), defaults); !set) return set.error();
  for (const auto& [name, value] : settings.properties) {
    if (auto set = set_property(conf.get(), name, value); !set) return set.error();
  }
  if (auto set = set_all(conf.get(), forced); !set) return set.error();
  rd_kafka_conf_set_log_cb(conf.get(), log_line);
  return conf;
}

Result<RdKafkaPtr> make_handle(rd_kafka_type_t type, RdKafkaConfPtr& conf) {
  std::array<char, 512> reason{};
  RdKafkaPtr handle(rd_kafka_new(type, conf.get(), reason.data(), reason.size()));
  if (!handle) return settings_error(std::string("librdkafka refused the kafka settings: ") + reason.data());
  static_cast<void>(conf.release());  // owned by the handle now
  return handle;
}

std::string error_text(rd_kafka_resp_err_t err) { return rd_kafka_err2str(err); }

}  // namespace fnd::eventing::internal
