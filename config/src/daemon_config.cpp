#include "config/daemon_config.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include "yaml_json.hpp"
#include "core/units.hpp"

namespace fnd::config {

namespace json = boost::json;

namespace {

Error config_error(std::string_view path, std::string_view key, std::string_view problem) {
  return make_error("invalid_config", fmt::format("{}: key '{}': {}", path, key, problem), 400);
}

std::string scalar_text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

using Setter = Status (*)(DaemonConfig&, const json::value&);

template <typename Field>
Status set_string(Field& field, const json::value& v) {
  if (v.is_structured()) return make_error("invalid_config", "expected a single value");
  field = scalar_text(v);
  return {};
}

Status set_bytes(uint64_t& field, const json::value& v) {
  auto b = parse_bytes(scalar_text(v));
  if (!b) return b.error();
  field = *b;
  return {};
}

Status set_duration(std::chrono::milliseconds& field, const json::value& v) {
  auto d = parse_duration(scalar_text(v));
  if (!d) return d.error();
  field = *d;
  return {};
}

Status set_count(uint32_t& field, const json::value& v, uint32_t max = 64) {
  std::string text = scalar_text(v);
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) {
    return make_error("invalid_config", fmt::format("'{}' is not a count from 0 to {}", text, max));
  }
  field = value;
  return {};
}

struct Key {
  std::string_view path;
  Setter set;
};

// Every key the config file accepts; packaging/fnd.yaml documents each with its default.
const Key kKeys[] = {
    {"listen", [](DaemonConfig& c, const json::value& v) { return set_string(c.listen, v); }},
    {"state_dir", [](DaemonConfig& c, const json::value& v) { return set_string(c.state_dir, v); }},
    {"log_level", [](DaemonConfig& c, const json::value& v) { return set_string(c.log_level, v); }},
    {"runtime.oci_runtime", [](DaemonConfig& c, const json::value& v) { return set_string(c.runtime.oci_runtime, v); }},
    {"runtime.runtimes_dir", [](DaemonConfig& c, const json::value& v) { return set_string(c.runtime.runtimes_dir, v); }},
    {"runtime.python", [](DaemonConfig& c, const json::value& v) { return set_string(c.runtime.python, v); }},
    {"runtime.node", [](DaemonConfig& c, const json::value& v) { return set_string(c.runtime.node, v); }},
    {"runtime.start_timeout", [](DaemonConfig& c, const json::value& v) { return set_duration(c.runtime.start_timeout, v); }},
    {"runtime.stop_timeout", [](DaemonConfig& c, const json::value& v) { return set_duration(c.runtime.stop_timeout, v); }},
    {"limits.max_request_body", [](DaemonConfig& c, const json::value& v) { return set_bytes(c.limits.max_request_body, v); }},
    {"limits.max_code_archive", [](DaemonConfig& c, const json::value& v) { return set_bytes(c.limits.max_code_archive, v); }},
    {"limits.max_code_unpacked", [](DaemonConfig& c, const json::value& v) { return set_bytes(c.limits.max_code_unpacked, v); }},
    {"limits.max_scale", [](DaemonConfig& c, const json::value& v) { return set_count(c.limits.max_scale, v, 10000); }},
    {"limits.max_connections", [](DaemonConfig& c, const json::value& v) { return set_count(c.limits.max_connections, v, 1u << 24); }},
    {"limits.header_timeout", [](DaemonConfig& c, const json::value& v) { return set_duration(c.limits.header_timeout, v); }},
    {"logs.max_bytes_per_function", [](DaemonConfig& c, const json::value& v) { return set_bytes(c.log_bytes_per_function, v); }},
    {"scheduler.memory_budget", [](DaemonConfig& c, const json::value& v) { return set_bytes(c.memory_budget, v); }},
    {"scheduler.stem_cells.python3", [](DaemonConfig& c, const json::value& v) { return set_count(c.stem_cells.python3, v); }},
    {"scheduler.stem_cells.shell", [](DaemonConfig& c, const json::value& v) { return set_count(c.stem_cells.shell, v); }},
    {"scheduler.stem_cells.node", [](DaemonConfig& c, const json::value& v) { return set_count(c.stem_cells.node, v); }},
    {"scheduler.stem_cells.idle_memory", [](DaemonConfig& c, const json::value& v) { return set_bytes(c.stem_cells.idle_memory, v); }},
    {"scheduler.precreated_max", [](DaemonConfig& c, const json::value& v) { return set_count(c.precreated_max, v); }},
    {"shutdown.drain_timeout", [](DaemonConfig& c, const json::value& v) { return set_duration(c.drain_timeout, v); }},
};

Status apply_tree(DaemonConfig& config, const json::value& node, const std::string& prefix, const std::string& file) {
  for (const auto& [k, v] : node.as_object()) {
    std::string key = prefix.empty() ? std::string(k) : prefix + "." + std::string(k);
    if (v.is_null()) continue;
    if (v.is_object()) {
      Status st = apply_tree(config, v, key, file);
      if (!st) return st;
      continue;
    }
    auto it = std::find_if(std::begin(kKeys), std::end(kKeys), [&](const Key& known) { return known.path == key; });
    if (it == std::end(kKeys)) return config_error(file, key, "unknown key (packaging/fnd.yaml lists every key)");
    Status st = it->set(config, v);
    if (!st) return config_error(file, key, st.error().message);
  }
  return {};
}

}  // namespace

Status apply_config_file(DaemonConfig& config, const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_errno_error("config_unreadable", fmt::format("cannot read config file {}", path), errno);
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find_first_not_of(" \t\r\n") == std::string::npos) return {};
  auto tree = internal::yaml_to_json(text.str());
  if (!tree) return make_error("invalid_config", fmt::format("{}: {}", path, tree.error().message));
  return apply_tree(config, *tree, "", path);
}

Status apply_environment(DaemonConfig& config) {
  const std::pair<const char*, std::string*> kVars[] = {
      {"FND_LISTEN", &config.listen},
      {"FND_STATE_DIR", &config.state_dir},
      {"FND_LOG_LEVEL", &config.log_level},
      {"FND_OCI_RUNTIME", &config.runtime.oci_runtime},
      {"FND_RUNTIMES_DIR", &config.runtime.runtimes_dir},
  };
  for (auto [name, field] : kVars) {
    if (const char* value = std::getenv(name); value && *value) *field = value;
  }
  return {};
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  auto colon = text.rfind(':');
  auto bad = [&] {
    return make_error("invalid_listen", fmt::format("invalid listen address '{}': use HOST:PORT, e.g. 127.0.0.1:8080", text), 400);
  };
  if (colon == std::string_view::npos || colon == 0) return bad();
  ListenAddress out;
  out.host = std::string(text.substr(0, colon));
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') out.host = out.host.substr(1, out.host.size() - 2);
  auto port_text = text.substr(colon + 1);
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), out.port);
  if (ec != std::errc() || p != port_text.data() + port_text.size()) return bad();
  return out;
}

}  // namespace fnd::config
