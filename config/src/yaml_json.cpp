#include <boost/json.hpp>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/utf8.hpp"
#include "yaml_json.hpp"

namespace fnd::config::internal {

namespace {

// Aliases make a YAML document a graph: "b: [*a, *a]" repeated a few times expands to billions of
// values in a few hundred bytes. Specs and the daemon config are small; far more is an attack.
constexpr size_t kMaxValues = 100'000;

boost::json::value scalar_to_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return boost::json::string(s);  // quoted in the source: keep as text
  if (s == "true" || s == "yes") return true;
  if (s == "false" || s == "no") return false;
  if (s == "null" || s == "~") return nullptr;
  int64_t i = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
  if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return i;
  double d = 0;
  auto [pd, ecd] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ecd == std::errc() && pd == s.data() + s.size() && !s.empty()) return d;
  return boost::json::string(s);
}

// Text that is not UTF-8 would make a spec whose canonical JSON no JSON reader accepts.
struct NotUtf8 {
  YAML::Mark mark;
};

// nullopt once more than `budget` values were made; throws NotUtf8.
std::optional<boost::json::value> node_to_json(const YAML::Node& node, size_t& budget) {
  if (budget == 0) return std::nullopt;
  --budget;
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return boost::json::value(nullptr);
    case YAML::NodeType::Scalar:
      if (!is_valid_utf8(node.Scalar())) throw NotUtf8{node.Mark()};
      return scalar_to_json(node);
    case YAML::NodeType::Sequence: {
      boost::json::array a;
      for (const auto& item : node) {
        auto value = node_to_json(item, budget);
        if (!value) return std::nullopt;
        a.push_back(std::move(*value));
      }
      return boost::json::value(std::move(a));
    }
    case YAML::NodeType::Map: {
      boost::json::object o;
      for (const auto& kv : node) {
        auto value = node_to_json(kv.second, budget);
        if (!value) return std::nullopt;
        auto key = kv.first.as<std::string>();
        if (!is_valid_utf8(key)) throw NotUtf8{kv.first.Mark()};
        o[key] = std::move(*value);
      }
      return boost::json::value(std::move(o));
    }
  }
  return boost::json::value(nullptr);
}

}  // namespace

Result<boost::json::value> yaml_to_json(std::string_view yaml_text) {
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsMap()) return make_error("invalid_yaml", "expected a YAML map of fields at the top level", 400);
    size_t budget = kMaxValues;
    auto value = node_to_json(root, budget);
    if (!value) {
      return make_error("invalid_yaml", fmt::format("the YAML holds more than {} values once its aliases are "
                                                    "expanded; write it out without nested aliases", kMaxValues), 400);
    }
    return std::move(*value);
  } catch (const NotUtf8& e) {
    return make_error("invalid_yaml", fmt::format("the YAML is not valid UTF-8 at line {}, column {}",
                                                  e.mark.line + 1, e.mark.column + 1), 400);
  } catch (const YAML::Exception& e) {
    return make_error("invalid_yaml", fmt::format("invalid YAML at line {}, column {}: {}", e.mark.line + 1,
                                                  e.mark.column + 1, e.msg), 400);
  }
}

}  // namespace fnd::config::internal
