#include "config/option_binder.hpp"

#include <boost/json.hpp>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include "core/units.hpp"
#include "yaml_json.hpp"

namespace fnd::config {

namespace json = boost::json;

namespace {

Error config_error(std::string_view file, std::string_view key, std::string_view problem) {
  return make_error(std::string(kInvalidConfig), fmt::format("{}: key '{}': {}", file, key, problem), 400);
}

// A scalar as the text the binding parses ("30s", "2", "true"); YAML numbers come as JSON numbers.
Result<std::string> scalar_text(const json::value& v) {
  if (v.is_structured()) return make_error(std::string(kInvalidConfig), "expected a single value, not a list or a map");
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

}  // namespace

void OptionBinder::text(std::string key, std::string& field, std::string env) {
  bindings_.push_back({std::move(key), std::move(env), [&field](const std::string& text) -> Status {
                         field = text;
                         return {};
                       }});
}

void OptionBinder::bytes(std::string key, uint64_t& field) {
  bindings_.push_back({std::move(key), {}, [&field](const std::string& text) -> Status {
                         auto parsed = parse_bytes(text);
                         if (!parsed) return parsed.error();
                         field = *parsed;
                         return {};
                       }});
}

void OptionBinder::duration(std::string key, std::chrono::milliseconds& field) {
  bindings_.push_back({std::move(key), {}, [&field](const std::string& text) -> Status {
                         auto parsed = parse_duration(text);
                         if (!parsed) return parsed.error();
                         field = *parsed;
                         return {};
                       }});
}

void OptionBinder::count(std::string key, uint32_t& field, uint32_t max) {
  bindings_.push_back({std::move(key), {}, [&field, max](const std::string& text) -> Status {
                         uint32_t value = 0;
                         auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
                         if (ec != std::errc() || end != text.data() + text.size() || value > max) {
                           return make_error(std::string(kInvalidConfig), fmt::format("'{}' is not a count from 0 to {}", text, max));
                         }
                         field = value;
                         return {};
                       }});
}

void OptionBinder::flag(std::string key, bool& field, std::string env) {
  bindings_.push_back({std::move(key), std::move(env), [&field](const std::string& text) -> Status {
                         // YAML 1.1's spellings too: a config written "on" means on.
                         if (text == "true" || text == "on" || text == "yes") {
                           field = true;
                         } else if (text == "false" || text == "off" || text == "no") {
                           field = false;
                         } else {
                           return make_error(std::string(kInvalidConfig), fmt::format("'{}' is not true or false", text));
                         }
                         return {};
                       }});
}

const OptionBinder::Binding* OptionBinder::find(std::string_view key) const {
  for (const auto& binding : bindings_) {
    if (binding.key == key) return &binding;
  }
  return nullptr;
}

std::vector<std::string> OptionBinder::keys() const {
  std::vector<std::string> out;
  for (const auto& binding : bindings_) out.push_back(binding.key);
  return out;
}

Status OptionBinder::apply_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_errno_error("config_unreadable", fmt::format("cannot read config file {}", path), errno);
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find_first_not_of(" \t\r\n") == std::string::npos) return {};
  auto tree = internal::yaml_to_json(text.str());
  if (!tree) return make_error(std::string(kInvalidConfig), fmt::format("{}: {}", path, tree.error().message), 400);
  // Depth-first over the maps: a leaf's dotted path is its key.
  std::function<Status(const json::value&, const std::string&)> apply = [&](const json::value& node, const std::string& prefix) -> Status {
    for (const auto& [name, value] : node.as_object()) {
      std::string key = prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
      if (value.is_null()) continue;
      if (value.is_object()) {
        if (Status st = apply(value, key); !st) return st;
        continue;
      }
      const Binding* binding = find(key);
      if (!binding) return config_error(path, key, "unknown key (packaging/fnd.yaml lists every key)");
      auto scalar = scalar_text(value);
      if (!scalar) return config_error(path, key, scalar.error().message);
      if (Status st = binding->set(*scalar); !st) return config_error(path, key, st.error().message);
    }
    return {};
  };
  return apply(*tree, "");
}

Status OptionBinder::apply_environment() {
  for (const auto& binding : bindings_) {
    if (binding.env.empty()) continue;
    const char* value = std::getenv(binding.env.c_str());
    if (!value || !*value) continue;
    if (Status st = binding.set(value); !st) {
      return make_error(std::string(kInvalidConfig), fmt::format("environment {}: {}", binding.env, st.error().message), 400);
    }
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
